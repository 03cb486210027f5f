"""The second tenant wall: PostgreSQL row-level security keyed on `school_id` (docs/design.md section 4).

django-scopes is the first wall: an ORM query on a tenant model outside a school scope raises.
This one lives in the database, so it also holds for raw SQL, a join that forgot its `school=`
filter, or a bug in the first wall. Every table with a `school_id` column gets ENABLE and FORCE
ROW LEVEL SECURITY (FORCE: the owner of the tables is bound too) and one policy: a row can be
seen and written only when its school is the transaction's `app.school_id`, or one of
`app.school_ids` (one district's schools), or when `app.all_schools` is 'on' (code that crosses
schools on purpose: `mastery.tenancy.all_schools`). With none set, nothing is visible and nothing
can be written: it fails closed.

Who opens the wall: the school middleware, `mastery.rest.SchoolViewSet` and
`mastery.tasks.SchoolTask` for their school (through `mastery.tenancy.enter_school`),
`mastery.tenancy.district_schools` for a district's own pages (that district's schools only), and
`mastery.tenancy.all_schools` for the few paths that cross schools. SQLite (the demo) has no
row-level security: there all of this does nothing.

How the wall is entered: per transaction, never per connection. The settings are transaction
settings (`set_config(..., true)`, PostgreSQL's SET LOCAL), so they end with the transaction that
set them, and a connection pooler in transaction mode (PgBouncer) may hand the server connection
to another client between two transactions without anything of one school reaching the other;
a distributed engine (Citus) carries them to its workers with the transaction. A `Wall` only
records, on the Django connection, what the code now expects to see (`current`); one mechanism,
`statement` (an execute wrapper every connection of our database backend has, mastery.postgres),
puts that into the server's transaction:

- A statement that starts a transaction (autocommit outside `atomic`, or the first statement of
  an outermost `atomic`) carries the settings with it: `SELECT set_config(...); <statement>`,
  one message and one round trip (client-side binding sends it as one simple query, which
  PostgreSQL runs as one transaction). Django stays in autocommit: services' `atomic` blocks are
  real transactions, `on_commit` work runs when they commit, a task's progress and FAILED marks
  and the mail outbox's "sent" marks commit in their own blocks, as before.
- A wall entered or left inside a transaction sends its settings there and then (SET LOCAL
  inside that transaction; a rollback to a savepoint is followed by sending them again).
- What cannot carry them (a COPY, a server-side cursor, executemany) is preceded by them in the
  same transaction (`in_transaction`); a streamed export reads inside one transaction
  (`read_in_one_transaction`), so its server-side cursor never outlives it.
- The Python-side expectation of a streamed response lasts until the response is closed
  (`close_with`): its rows are read after the view returned.

Schema statements (CREATE, ALTER, VACUUM, ...) go as they are: a policy binds rows, not DDL, and
some of them may not run inside a transaction block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property

import psycopg
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
# libpq's transaction states (psycopg's pq.TransactionStatus).
_IDLE, _ACTIVE, _IN_TRANSACTION, _IN_FAILED_TRANSACTION = 0, 1, 2, 3
# The statements that read or write rows, the only ones a policy binds; `(`: a combined query.
_ROWS = re.compile(r"\s*\(*\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|MERGE|VALUES|TABLE)\b", re.I)


_PREFIX_END = "; "  # between the settings and the statement they travel with


@dataclass(frozen=True)
class Opening:
    """What the wall lets a connection see: one school's rows, those of a few schools (one
    district's), every school's, or nothing."""

    school_id: int | None = None
    all_schools: bool = False
    school_ids: tuple[int, ...] = ()

    @cached_property
    def settings_sql(self) -> str:
        """The statement that sets this opening for the current transaction (made once per
        opening: it goes in front of most statements). Only integers and fixed words go into
        it, so it is built as text (it precedes statements whose own parameters the driver
        interpolates: no `%` may appear in it)."""
        school_id = "" if self.school_id is None else str(int(self.school_id))
        all_schools = "on" if self.all_schools else ""
        school_ids = (
            "{" + ",".join(str(int(i)) for i in self.school_ids) + "}" if self.school_ids else ""
        )
        return (
            f"SELECT set_config('app.school_id', '{school_id}', true),"
            f" set_config('app.all_schools', '{all_schools}', true),"
            f" set_config('app.school_ids', '{school_ids}', true)"
        )

    @cached_property
    def prefix(self) -> str:
        return self.settings_sql + _PREFIX_END


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
    """What the code running on this connection expects to see now."""
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
    _apply(connections[using], _start)


def _sent(connection) -> Opening | None:
    """The opening set in the server's current transaction, if one is open and it is known."""
    return getattr(connection, "_mastery_rls_sent", None)


def _status(connection) -> int:
    """libpq's transaction state of the connection (connected)."""
    return connection.connection.pgconn.transaction_status


def _settled(connection, opening: Opening) -> bool:
    """Whether the server's open transaction already has `opening`."""
    return _status(connection) == _IN_TRANSACTION and _sent(connection) == opening


def _apply(connection, opening: Opening) -> None:
    """The code now expects `opening`. Inside an open transaction the server is told at once
    (SET LOCAL); otherwise the next statement, which starts a transaction, carries it.

    - Inside a failed transaction the statement would fail; the rollback that must follow
      (to a savepoint: `statement` notices) is followed by the settings again.
    - The statement goes to the driver directly, as Django's own connection set-up does: it is
      the wall, not the page's work, so the query counts pinned in the tests stay the page's own.
    """
    if connection.vendor != "postgresql":
        return
    connection._mastery_rls = opening
    if connection.connection is None:
        return
    status = _status(connection)
    if status == _IN_TRANSACTION:
        if _sent(connection) != opening:
            _send(connection, opening)
    elif status != _ACTIVE:
        connection._mastery_rls_sent = None


def _send(connection, opening: Opening) -> None:
    """Set `opening` in the server's transaction (one is begun if the connection is not in
    autocommit and none is open). Any error closes the connection: it starts again closed."""
    try:
        with connection.wrap_database_errors, connection.connection.cursor() as cursor:
            cursor.execute(opening.settings_sql)
    except Exception:
        connection.close()
        raise
    connection._mastery_rls_sent = opening


def statement(execute, sql, params, many, context):
    """The execute wrapper of every connection (mastery.postgres): make the statement run in a
    transaction whose settings are the wall's current opening."""
    connection = context["connection"]
    status = _status(connection)
    opening = current(connection)
    if status == _IDLE:
        connection._mastery_rls_sent = None
    if (
        status == _IN_FAILED_TRANSACTION
        or _settled(connection, opening)
        or not isinstance(sql, str)
        or not _ROWS.match(sql)
    ):
        result = execute(sql, params, many, context)
    elif (
        many
        or isinstance(context["cursor"].cursor, psycopg.ServerCursor)
        or connection.features.uses_server_side_binding
    ):
        # Cannot be sent as one simple query with the settings: precede it, in a transaction.
        with in_transaction(using=connection.alias):
            result = execute(sql, params, many, context)
    else:
        result = execute(opening.prefix + sql, params, many, context)
        context["cursor"].cursor.nextset()  # the statement's own result, not set_config's
        connection._mastery_rls_sent = opening
    if isinstance(sql, str) and sql.startswith("ROLLBACK"):
        # Back to a savepoint: the settings are what they were then, perhaps not what the walls
        # now expect. The next statement sends them again.
        connection._mastery_rls_sent = None
    return result


def without_wall(sql: str) -> str:
    """The statement as the code wrote it (for the query log): without the settings `statement`
    put in front of it."""
    if sql.startswith("SELECT set_config('app.school_id'"):
        _, _, rest = sql.partition(_PREFIX_END)
        return rest
    return sql


@contextmanager
def in_transaction(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block in a transaction that has the wall's settings, for what reaches the driver
    without `statement` (a COPY) or cannot carry the settings (a server-side cursor's DECLARE,
    executemany): an `atomic` block whose settings are sent before the block's own statements.
    Inside a transaction already open it adds no savepoint (reads, and one statement's writes,
    need none: an error there fails the enclosing block, as it would without this one)."""
    with transaction.atomic(using=using, savepoint=False):
        connection = connections[using]
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            opening = current(connection)
            if not _settled(connection, opening):
                _send(connection, opening)
        yield


def read_in_one_transaction(
    chunks: Iterable[bytes], *, using: str = DEFAULT_DB_ALIAS
) -> Iterator[bytes]:
    """A streamed export's body read inside one transaction with the wall's settings: its
    server-side cursor or COPY lives in that transaction, never past it (a transaction pooler
    hands the connection to another client when it ends). The transaction opens when the first
    chunk is asked for, after the view returned, and ends with the last chunk or when the
    response is closed early."""
    if connections[using].vendor != "postgresql":  # SQLite (the demo): no cursor to keep
        yield from chunks
        return
    with in_transaction(using=using):
        yield from chunks


def close_with(response, stack: ExitStack):
    """Leave `stack` (the request's walls) now, or for a streamed response when it is closed:
    its body (the CSV export) is read from the database after the view returned, and must still
    see its school. Django and every WSGI server close responses."""
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
