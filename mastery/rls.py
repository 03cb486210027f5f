"""The second tenant wall: PostgreSQL row-level security keyed on `school_id` (docs/design.md section 4).

django-scopes is the first wall: an ORM query on a tenant model outside a school scope raises.
This one lives in the database, so it also holds for raw SQL, a join that forgot its `school=`
filter, or a bug in the first wall. Every table with a `school_id` column gets ENABLE and FORCE
ROW LEVEL SECURITY (FORCE: the owner of the tables is bound too) and one policy: a row can be
seen and written only when its school is the connection's `app.school_id`, or when
`app.all_schools` is 'on' (code that crosses schools on purpose: `mastery.tenancy.all_schools`).
With neither set, nothing is visible and nothing can be written: it fails closed.

Who opens the wall: the school middleware, `mastery.rest.SchoolViewSet` and
`mastery.tasks.SchoolTask` for their school (through `mastery.tenancy.enter_school`),
`mastery.tenancy.district_schools` for a district's own pages (that district's schools only), and
`mastery.tenancy.all_schools` for the few paths that cross schools. SQLite (the demo) has no
row-level security: there all of this does nothing.

Why the settings live on the connection (`set_config(..., false)`) and not in a transaction
(`set_config(..., true)`): Django runs in autocommit, and a request or a task is many short
transactions. Wrapping each whole request or task in one transaction would turn every service's
atomic block into a savepoint, hold `on_commit` work (Celery enqueues) until the response, hide a
task's progress (RecomputeRun RUNNING) and roll back its FAILED mark when it raises, and still
miss a streamed CSV export, whose rows are read after the view returned. So a `Wall` sets the
connection's settings when it is entered and puts the previous ones back when it is left (for a
streamed response: when the response is closed, see `close_with`). Walls nest like the
transactions around them, so a rolled-back transaction can only undo a change that its own
rollback also makes stale (see `_apply`). The price: a connection must not be shared between
clients in the middle of a request, so no PgBouncer in transaction-pooling mode in front of the
app (session pooling is fine).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

POLICY = "school_isolation"
# Stored as the policy's comment: a policy with another comment (an older condition) is replaced.
POLICY_VERSION = "mastery.rls v2"
# Sub-selects: evaluated once per query, not once per row; `nullif`: a reset setting is ''.
# Three openings: one school (`app.school_id`), the schools of one district (`app.school_ids`, an
# array literal such as '{3,4,9}'), every school (`app.all_schools`). Each condition reads only
# settings, never another table (a distributed engine cannot run a sub-select on its tables).
CONDITION = (
    "school_id = (SELECT nullif(current_setting('app.school_id', true), '')::bigint)"
    " OR school_id = ANY (CAST((SELECT nullif(current_setting('app.school_ids', true), ''))"
    " AS bigint[]))"
    " OR (SELECT current_setting('app.all_schools', true)) = 'on'"
)
_IN_FAILED_TRANSACTION = 3  # libpq's PQTRANS_INERROR (psycopg's TransactionStatus.INERROR)


@dataclass(frozen=True)
class Opening:
    """What the wall lets a connection see: one school's rows, those of a few schools (one
    district's), every school's, or nothing."""

    school_id: int | None = None
    all_schools: bool = False
    school_ids: tuple[int, ...] = ()


CLOSED = Opening()
# What a connection sees before any wall is entered on it: nothing, unless `connections_start`
# says otherwise (the test suite does, tests/conftest.py).
_start = CLOSED


class Wall:
    """`with Wall(school_id=...)` / `Wall(all_schools=True)` / `Wall()` (closed): the connection
    sees that until the block ends, then what it saw before.

    `let_through()` changes the opening inside the block without another level of nesting (the
    school middleware first looks up the membership across schools, then enters the school).
    """

    def __init__(
        self,
        *,
        school_id: int | None = None,
        all_schools: bool = False,
        school_ids: tuple[int, ...] = (),
        using: str = DEFAULT_DB_ALIAS,
    ):
        self.opening = Opening(
            school_id=school_id,
            all_schools=all_schools,
            school_ids=tuple(sorted(int(i) for i in school_ids)),
        )
        self.using = using

    def __enter__(self) -> Wall:
        connection = connections[self.using]
        self.previous = current(connection)
        _apply(connection, self.opening)
        return self

    def let_through(self, *, school_id: int | None = None, all_schools: bool = False) -> None:
        self.opening = Opening(school_id=school_id, all_schools=all_schools)
        _apply(connections[self.using], self.opening)

    def __exit__(self, *exc_info) -> None:
        _apply(connections[self.using], self.previous)


def current(connection) -> Opening:
    return getattr(connection, "_mastery_rls", _start)


def connections_start(opening: Opening) -> None:
    """What every connection of this process sees before a wall is entered on it. Production
    keeps CLOSED; the test suite, which builds and checks rows across schools like the admin,
    opens every school (its requests and tasks still enter theirs)."""
    global _start
    _start = opening


def reset(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Put the connection back to the start whatever it is believed to see: for a wall that was
    never left (the test suite: a streamed response a test never reads is never closed)."""
    _apply(connections[using], _start, force=True)


def _apply(connection, opening: Opening, *, force: bool = False) -> None:
    """Bring the connection's settings to `opening` (one statement, and none if already there).

    The statement goes to the driver directly, as Django's own connection set-up does: it is the
    wall, not the page's work, so the query counts pinned in the tests stay the page's own.
    - Not connected yet: nothing to send; `connection_opened` sets a new connection.
    - Inside a failed transaction: the statement would fail, and the rollback that must follow
      brings the settings back to what they were when that transaction (or savepoint) began,
      which, walls nesting inside it, is what the outer walls expect again.
    - Any error: the connection is closed (a new one starts closed, then gets `opening`).
    """
    if connection.vendor != "postgresql":
        return
    if current(connection) == opening and not force:
        return
    connection._mastery_rls = opening
    raw = connection.connection
    if raw is None or raw.info.transaction_status == _IN_FAILED_TRANSACTION:
        return
    try:
        with connection.wrap_database_errors, raw.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('app.school_id', %s, false),"
                " set_config('app.all_schools', %s, false),"
                " set_config('app.school_ids', %s, false)",
                [
                    "" if opening.school_id is None else str(int(opening.school_id)),
                    "on" if opening.all_schools else "",
                    "{" + ",".join(str(i) for i in opening.school_ids) + "}"
                    if opening.school_ids
                    else "",
                ],
            )
    except Exception:
        connection.close()
        raise


def connection_opened(sender, connection, **kwargs) -> None:
    """`connection_created`: a new session has no settings; give it the wall's current opening
    (e.g. the connection was closed and reopened inside a task)."""
    if connection.vendor != "postgresql":
        return
    opening = current(connection)
    connection._mastery_rls = CLOSED
    _apply(connection, opening)


def close_with(response, stack: ExitStack):
    """Leave `stack` (the request's walls) now, or for a streamed response when it is closed:
    its body (the CSV export's server-side cursor) is read from the database after the view
    returned, and must still see its school. Django and every WSGI server close responses."""
    # A file (a report PDF, a zip) is read from disk, not the database: keep the server's sendfile.
    # An async body (ASGI, which we do not serve) would be read in another context: closed.
    if (
        not getattr(response, "streaming", False)
        or getattr(response, "file_to_stream", None)
        or getattr(response, "is_async", False)
    ):
        stack.close()
        return response
    response.streaming_content = _ClosingContent(response.streaming_content, stack)
    return response


class _ClosingContent:
    def __init__(self, content, stack: ExitStack):
        self._content = iter(content)
        self._stack = stack

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._content)

    def close(self) -> None:
        try:
            close = getattr(self._content, "close", None)
            if close is not None:
                close()
        finally:
            self._stack.close()


# --- Installing the wall (after every migrate) ----------------------------------------------------


def tenant_tables() -> list[str]:
    """Every table with a `school_id` column: the TenantModel tables, and any other that carries
    the school (a model added later is covered without a hand-listed migration)."""

    tables = set()
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.swapped:
            continue
        if any(field.column == "school_id" for field in meta.local_concrete_fields):
            tables.add(meta.db_table)
    return sorted(tables)


def install(*, using: str = DEFAULT_DB_ALIAS, app_role: str = "", stdout=None) -> list[str]:
    """ENABLE and FORCE row-level security with the policy on every tenant table that lacks it
    (idempotent: tables already done are left alone, so a migrate takes no lock on them), and,
    when `app_role` names the application's role, grant it what it needs. PostgreSQL only.

    Returns the tables it changed.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    changed = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " obj_description(p.oid, 'pg_policy')"
            " FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = %s"
            " WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
            " AND c.relname = ANY(%s) ORDER BY c.relname",
            [POLICY, tenant_tables()],
        )
        for table, enabled, forced, version in cursor.fetchall():
            if enabled and forced and version == POLICY_VERSION:
                continue
            name = quote(table)
            cursor.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {POLICY} ON {name}")
            cursor.execute(
                f"CREATE POLICY {POLICY} ON {name} USING ({CONDITION}) WITH CHECK ({CONDITION})"
            )
            cursor.execute(f"COMMENT ON POLICY {POLICY} ON {name} IS '{POLICY_VERSION}'")
            changed.append(table)
        if app_role:
            grant(app_role, using=using)
    if stdout is not None and changed:
        stdout.write(f"Row-level security on {len(changed)} tenant tables.\n")
    return changed


def grant(role: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """The application's role reads and writes every table (row-level security decides which
    rows) and owns none; default privileges cover tables that later migrations create."""
    connection = connections[using]
    role = connection.ops.quote_name(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        for statement in (
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
            f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ):
            cursor.execute(statement)


def after_migrate(sender, using=DEFAULT_DB_ALIAS, verbosity=1, stdout=None, **kwargs) -> None:
    """`post_migrate` (sent once for the mastery app, after every app has migrated)."""

    install(
        using=using,
        app_role=getattr(settings, "APP_DB_ROLE", ""),
        stdout=stdout if verbosity else None,
    )
