from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import dj_database_url
import pytest
from django.core.cache import cache
from django.db import connection, connections
from django_scopes import scope

from mastery import rls
from tests import database
from tests.factories import PASSWORD, World, make_user, make_world


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The suite runs as production does: as the app's role (it owns nothing and bypasses no
    row-level security) through PgBouncer in transaction mode, when TEST_APP_DATABASE_URL names
    that (`make test` does, .ci/services). The test database is created and migrated as
    DATABASE_URL's role, its owner, which then grants the app's role what `migrate` grants it
    in production, and TRUNCATE (transactional tests empty the tables between tests)."""
    app_url = os.environ.get("TEST_APP_DATABASE_URL", "")
    if not app_url:
        yield
        return
    app = dj_database_url.parse(app_url)
    keys = ("USER", "PASSWORD", "HOST", "PORT")  # who connects and where; the database stays
    with django_db_blocker.unblock():
        rls.grant(app["USER"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = connection.ops.quote_name(cursor.fetchone()[0])
            cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA {schema} TO {app['USER']}")
        database.OWNER.update({key: connection.settings_dict[key] for key in keys})
        connection.close()
        connection.settings_dict.update({key: app[key] for key in keys})
    yield
    with django_db_blocker.unblock():
        for each in connections.all(initialized_only=True):
            each.close()
        # PgBouncer keeps its server sessions to the test database open: end them, so that
        # the database can be dropped.
        database.end_app_sessions(app["USER"])
        connection.settings_dict.update(database.OWNER)
        database.OWNER.clear()


@pytest.fixture(scope="session", autouse=True)
def _suite_runs_on_postgresql(django_db_setup, django_db_blocker):
    """The suite runs on PostgreSQL (set-based SQL, locks, constraints); SQLite is only the demo."""
    with django_db_blocker.unblock():
        assert connection.vendor == "postgresql", (
            "Run the tests on PostgreSQL: `make test` starts it and sets DATABASE_URL."
        )


@pytest.fixture(scope="session", autouse=True)
def _tests_pass_the_rls_wall():
    """Row-level security (mastery.rls) binds the tables' owner too, whom the suite connects as.
    Test code builds and checks rows across schools, as the admin does, so every connection of
    the suite (threads' and the browser tests' too) passes the wall; each request and task still
    switches to its own school (tests/mastery/test_rls.py proves the wall as the app's role)."""
    rls.connections_start(rls.Opening(all_schools=True))
    rls.reset()
    yield


@pytest.fixture(autouse=True)
def _rls_wall_as_the_suite_left_it():
    # A streamed response that a test never reads is never closed, so the wall it holds open for
    # its school is never left (a server closes every response): back to the suite's opening.
    yield
    rls.reset()


_EVIDENCE_STORE = Path(tempfile.mkdtemp(prefix="evidence-store-"))
atexit.register(shutil.rmtree, _EVIDENCE_STORE, True)


@pytest.fixture(autouse=True)
def _fast_and_quiet(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        # Evidence files go to a store of the test run, never the checkout's media/ folder.
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": _EVIDENCE_STORE},
        },
    }
    # Every test starts with an empty cache: database ids repeat between tests (each rolls back),
    # so cached portal pages and login throttles must not outlive their test.
    cache.clear()


@pytest.fixture
def world_a(db) -> World:
    return make_world("alpha")


@pytest.fixture
def world_b(db) -> World:
    return make_world("beta")


@pytest.fixture
def outsider(db):
    """A logged-in user with no membership anywhere."""
    return make_user("outsider@example.test", "Olive Outsider")


@pytest.fixture
def in_school():
    """`with in_school(world):` runs service calls inside that school's scope, as the middleware does."""

    def enter(world: World):
        return scope(school=world.school)

    return enter


@pytest.fixture
def login(client):
    def do(user):
        client.force_login(user)
        return client

    return do


__all__ = ["PASSWORD"]


# --- Browser tests (Playwright driving Debian's Chromium) -------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # `playwright install` cannot download browsers here: use the system Chromium.
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session", autouse=True)
def _allow_sync_playwright_with_django():
    # Playwright's sync API runs an event loop in the test thread; Django's ORM refuses queries
    # from a thread with a running loop unless told the test knows what it is doing.

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
