"""How the suite reaches PostgreSQL (tests/conftest.py): created and migrated as the owner, run as
the app's role through PgBouncer in transaction mode when TEST_APP_DATABASE_URL says where."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

# The owner's connection settings (USER, PASSWORD, HOST, PORT), kept by tests/conftest.py when it
# switches the suite to the app's role.
OWNER: dict[str, object] = {}


def through_the_pooler() -> bool:
    return bool(os.environ.get("TEST_APP_DATABASE_URL")) and bool(OWNER)


def owner_connection() -> psycopg.Connection:
    """A connection of the tables' owner to the test database, straight to PostgreSQL."""
    settings = {**connection.settings_dict, **OWNER}
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    )


def end_app_sessions(role: str) -> None:
    """End the server sessions the pooler keeps for the app's role on the test database (the
    owner may: it is a member of that role). The pooler opens new ones when next asked."""
    with owner_connection() as owner:
        owner.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND usename = %s",
            [role],
        )


@contextmanager
def connected_as_owner() -> Iterator[None]:
    """Django's connection as the tables' owner, straight to PostgreSQL, for what only the owner
    does (schema changes, the benchmark's statistics). Outside any transaction: a transactional
    test's."""
    if not OWNER:
        yield
        return
    saved = {key: connection.settings_dict[key] for key in OWNER}
    connection.close()
    connection.settings_dict.update(OWNER)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def open_client_connections() -> int:
    """How many connections to the test database this run holds: through the pooler its clients
    (the pooler keeps its own server sessions open, as it should), else PostgreSQL's sessions."""
    if not through_the_pooler():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend'"
            )
            return cursor.fetchone()[0]
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="pgbouncer",
        autocommit=True,
    ) as admin:
        cursor = admin.execute("SHOW CLIENTS")
        database = [column.name for column in cursor.description or []].index("database")
        return sum(1 for row in cursor.fetchall() if row[database] == db["NAME"])


def end_server_session(pid: int) -> None:
    """End one server session the pooler keeps (one a test left a setting on), and wait until the
    pooler has dropped it: a session ended under it would otherwise fail the next client it is
    handed to."""
    with owner_connection() as owner:
        owner.execute("SELECT pg_terminate_backend(%s)", [pid])
    db = connection.settings_dict
    deadline = time.monotonic() + 10
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="pgbouncer",
        autocommit=True,
    ) as admin:
        while time.monotonic() < deadline:
            cursor = admin.execute("SHOW SERVERS")
            remote_pid = [column.name for column in cursor.description or []].index("remote_pid")
            if all(row[remote_pid] != pid for row in cursor.fetchall()):
                return
            time.sleep(0.05)
    raise AssertionError(f"the pooler still holds server session {pid}")
