"""The second wall: PostgreSQL row-level security on every tenant table (mastery.rls).

Proved the way the issue asks: `SET LOCAL ROLE mastery_app` (a role that owns nothing and bypasses
nothing, as production connects), then raw SQL with no school filter at all.
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager

import pytest
from celery import shared_task
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import Student
from gradebook.services.grid import evidence_fill
from mastery import rls
from mastery.middleware import SchoolScopeMiddleware
from mastery.models import Department, District, DistrictMembership, School
from mastery.services import api_token_create
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools, district_schools, enter_school
from tests import database
from tests.factories import make_user

APP_ROLE = "mastery_app"
# Tables where both schools have rows once `filled` has run.
SAMPLED = [
    "mastery_membership",
    "gradebook_student",
    "gradebook_enrollment",
    "gradebook_evidence",
    "gradebook_mastery",
    "mastery_learningtarget",
]


@pytest.fixture(scope="session")
def app_role(django_db_setup, django_db_blocker) -> str:
    """The role production connects as, granted exactly what `manage.py migrate` grants it.

    .ci/services creates it and grants it to `mastery` (which may not create roles); a suite run
    as a role that may, creates it here."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        if cursor.fetchone() is None:
            try:
                cursor.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS")
                cursor.execute(f"GRANT {APP_ROLE} TO CURRENT_USER")
            except DatabaseError as exc:
                pytest.fail(
                    f"No role {APP_ROLE} and no right to create it: run .ci/services ({exc})"
                )
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, pg_has_role(current_user, %s, 'MEMBER')"
            " FROM pg_roles WHERE rolname = %s",
            [APP_ROLE, APP_ROLE],
        )
        assert cursor.fetchone() == (False, False, True)
        rls.grant(APP_ROLE)
    return APP_ROLE


@contextmanager
def as_app(role: str):
    """Run the block as the app's role (inside the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def count(table: str, where: str = "", params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} {where}", list(params))
        return cursor.fetchone()[0]


def setting(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0]


@pytest.fixture
def filled(world_a, world_b, in_school):
    """Both schools have evidence and mastery records."""
    for w in (world_a, world_b):
        with in_school(w):
            evidence_fill(
                school=w.school,
                filled_by=w.teacher,
                section=w.section,
                assessment=w.assessment,
                text="3",
            )
    per_school = {
        table: {
            w.school.id: count(table, "WHERE school_id = %s", [w.school.id])
            for w in (world_a, world_b)
        }
        for table in SAMPLED
    }
    for table, counts in per_school.items():
        assert all(counts.values()), (table, counts)
    return per_school


# --- The tables ----------------------------------------------------------------------------------


def test_every_tenant_table_has_row_level_security_forced_with_the_policy(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, p.polname,"
            " pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)"
            " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'school_id'"
            " AND NOT a.attisdropped"
            " LEFT JOIN pg_policy p ON p.polrelid = c.oid"
            " WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
        )
        rows = cursor.fetchall()
    tables = {row[0] for row in rows}
    assert tables == set(rls.tenant_tables())
    assert {"mastery_membership", "gradebook_student", "gradebook_evidence"} <= tables
    assert len(rows) == len(tables), "one policy per table"
    for table, enabled, forced, policy, using, check in rows:
        assert (enabled, forced, policy) == (True, True, rls.POLICY), table
        assert "app.school_id" in using and "app.all_schools" in using, table
        assert check == using, table


@pytest.mark.django_db(transaction=True)
def test_installing_again_changes_nothing_and_repairs_a_table_left_unforced():
    with database.connected_as_owner():  # as `migrate` does: the owner alters its tables
        assert rls.install() == []
        try:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE gradebook_habit NO FORCE ROW LEVEL SECURITY")
                cursor.execute("DROP POLICY school_isolation ON gradebook_student")
            assert rls.install() == ["gradebook_habit", "gradebook_student"]
        finally:
            rls.install()  # committed: the tests after this one need the wall whole
        assert rls.install() == []


# --- The app's role in one school ----------------------------------------------------------------


def test_the_app_role_sees_only_its_school_even_without_a_school_filter(
    app_role, world_a, world_b, filled
):
    a, b = world_a.school.id, world_b.school.id
    with as_app(app_role), rls.Wall(school_id=a):
        for table, counts in filled.items():
            assert count(table) == counts[a], table
            assert count(table, "WHERE school_id = %s", [b]) == 0, table
        # The ORM too, a first wall down: scopes disabled, no filter.
        with scopes_disabled():
            assert set(Student.objects.values_list("school_id", flat=True)) == {a}


def test_the_app_role_cannot_write_another_schools_rows(app_role, world_a, world_b, filled):
    b = world_b.school.id
    with as_app(app_role), enter_school(world_a.school):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Department.objects.create(school=world_b.school, name="Smuggled", code="SMUG")
        with (
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):  # moving one of its own rows to the other school
            cursor.execute(
                "UPDATE gradebook_student SET school_id = %s WHERE id = %s",
                [b, world_a.student.id],
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE gradebook_student SET first_name = 'X' WHERE school_id = %s", [b]
            )
            assert cursor.rowcount == 0
            cursor.execute("DELETE FROM gradebook_evidence WHERE school_id = %s", [b])
            assert cursor.rowcount == 0
        # Its own school's rows it writes as usual.
        Department.objects.create(school=world_a.school, name="Arts", code="ARTS")
    assert (
        count("gradebook_evidence", "WHERE school_id = %s", [b]) == filled["gradebook_evidence"][b]
    )


def test_without_a_school_nothing_is_visible_nor_writable(app_role, world_a, world_b, filled):
    with as_app(app_role), rls.Wall():
        assert setting("app.school_id") == "" and setting("app.all_schools") == ""
        for table in SAMPLED:
            assert count(table) == 0, table
        with (
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
            scopes_disabled(),
        ):
            Department.objects.create(school=world_a.school, name="Nowhere", code="NOWH")


def test_all_schools_sees_both_schools(app_role, world_a, world_b, filled):
    with as_app(app_role), all_schools():
        for table, counts in filled.items():
            assert count(table) == sum(counts.values()), table


@pytest.fixture
def two_districts(world_a, world_b):
    """School A in one district, school B in another, and a district with no school."""
    made = []
    for slug, w in (("east", world_a), ("west", world_b), ("empty", None)):
        district = District.objects.create(name=f"{slug.title()} District", slug=slug)
        if w is not None:
            School.objects.filter(pk=w.school.pk).update(district=district)
        made.append(district)
    return made


def test_a_district_scope_sees_its_own_schools_only(app_role, two_districts, world_a, filled):
    east, west, empty = two_districts
    with as_app(app_role), district_schools(east) as ids:
        assert ids == [world_a.school.id]
        assert setting("app.school_ids") == f"{{{world_a.school.id}}}"
        for table, counts in filled.items():
            # Even a query without any school filter reads the district's rows only.
            assert count(table) == counts[world_a.school.id], table
    with as_app(app_role), district_schools(west):
        for table in filled:
            assert count(table, "WHERE school_id = %s", [world_a.school.id]) == 0, table
    with as_app(app_role), district_schools(empty):
        for table in filled:
            assert count(table) == 0, table  # a district without schools sees nothing


def test_a_district_scope_cannot_write_into_another_district(app_role, two_districts, world_b):
    east, _, _ = two_districts
    with (
        as_app(app_role),
        district_schools(east),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
    ):
        Department.objects.create(school=world_b.school, name="Elsewhere", code="ELSE")


def test_the_district_page_works_as_the_app_role_and_reads_its_district_only(
    app_role, client, two_districts, world_a, world_b, filled
):
    east, west, _ = two_districts
    dana = make_user("dana@east.test", "Dana District")
    DistrictMembership.objects.create(district=east, user=dana)
    client.force_login(dana)
    with as_app(app_role), rls.Wall():
        mine = client.get(reverse("district_dashboard", args=[east.slug]))
        theirs = client.get(reverse("district_dashboard", args=[west.slug]))
    assert mine.status_code == 200
    assert world_a.school.name in mine.content.decode()
    assert world_b.school.name not in mine.content.decode()
    assert theirs.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_owner_is_bound_too(world_a, world_b, filled):
    """FORCE: the tables' owner (the role migrations connect as) is no exception."""
    with database.owner_connection() as owner:
        assert owner.execute(
            "SELECT current_user = tableowner FROM pg_tables WHERE tablename = %s",
            ["gradebook_student"],
        ).fetchone()[0]
        assert owner.execute("SELECT count(*) FROM gradebook_student").fetchone()[0] == 0
        with owner.transaction():
            owner.execute("SELECT set_config('app.school_id', %s, true)", [str(world_b.school.id)])
            students = owner.execute("SELECT count(*) FROM gradebook_student").fetchone()[0]
        assert students == filled["gradebook_student"][world_b.school.id]


def test_a_failed_transaction_inside_a_wall_leaves_the_outer_school(world_a, world_b):
    a, b = str(world_a.school.id), str(world_b.school.id)
    with rls.Wall(school_id=world_a.school.id):
        with (
            pytest.raises(DatabaseError),
            transaction.atomic(),
            rls.Wall(school_id=world_b.school.id),
            connection.cursor() as cursor,
        ):
            assert setting("app.school_id") == b
            cursor.execute("SELECT 1 / 0")
        assert setting("app.school_id") == a
        assert rls.current(connection) == rls.Opening(school_id=world_a.school.id)
    assert setting("app.all_schools") == "on"  # the suite's own opening (tests/conftest.py)


# --- Requests and tasks ----------------------------------------------------------------------------


def test_a_request_through_the_middleware_sees_only_its_school_when_a_query_forgets_it(
    app_role, world_a, world_b, filled
):
    def forgetful_view(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(DISTINCT school_id) FROM gradebook_student")
            students, schools = cursor.fetchone()
        return HttpResponse(f"{students} {schools}")

    request = RequestFactory().get(reverse("school_home", args=[world_a.school.slug]))
    request.user = world_a.teacher
    with as_app(app_role):
        response = SchoolScopeMiddleware(forgetful_view)(request)
        assert setting("app.all_schools") == "on"  # the wall is back as it was
    students = filled["gradebook_student"][world_a.school.id]
    assert response.content.decode() == f"{students} 1"


def test_real_pages_work_as_the_app_role(app_role, client, world_a, world_b, filled):
    client.force_login(world_a.counselor)
    with as_app(app_role):
        page = client.get(reverse("school_home", args=[world_a.school.slug]))
        home = client.get(reverse("home"))
        other = client.get(reverse("school_home", args=[world_b.school.slug]))
    assert page.status_code == 200
    assert home.url == reverse("school_home", args=[world_a.school.slug])  # their one school
    assert other.status_code == 404


def test_a_streamed_export_reads_its_school_after_the_view_returned(
    app_role, client, world_a, world_b, filled
):
    client.force_login(world_a.counselor)
    url = reverse("gradebook:mastery_export", kwargs={"school_slug": world_a.school.slug})
    with as_app(app_role), rls.Wall():  # closed around the request, as in production
        response = client.get(url)
        assert response.streaming
        # Between the view's return and the end of the body the school's wall stays open...
        assert setting("app.school_id") == str(world_a.school.id)
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode()[1:])))
        # ...and closes with the response.
        assert setting("app.school_id") == ""
    assert len(rows) - 1 == filled["gradebook_mastery"][world_a.school.id]


def test_the_api_sees_only_its_school_as_the_app_role(app_role, client, world_a, world_b, filled):
    with all_schools():
        _, raw = api_token_create(school=world_a.school, user=world_a.admin, name="rls")
    base = f"/api/v1/schools/{world_a.school.slug}/mastery/"
    with as_app(app_role), rls.Wall():
        listed = client.get(base, HTTP_AUTHORIZATION=f"Bearer {raw}")
        exported = client.get(base + "export.csv/", HTTP_AUTHORIZATION=f"Bearer {raw}")
        body = b"".join(exported.streaming_content).decode()
    assert listed.status_code == 200
    assert listed.json()["count"] == filled["gradebook_mastery"][world_a.school.id]
    assert len(body.strip().splitlines()) - 1 == filled["gradebook_mastery"][world_a.school.id]


@shared_task(base=SchoolTask, bind=True, name="tests.rls_probe")
def rls_probe(self, *, school_id: int) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.school_id', true), count(*) FROM gradebook_student"
        )
        return list(cursor.fetchone())


def test_a_school_task_runs_behind_its_schools_wall(app_role, world_a, world_b, filled):
    with as_app(app_role), rls.Wall():
        result = rls_probe.apply(kwargs={"school_id": world_b.school.id}).get()
        assert setting("app.school_id") == ""  # and left as it found it
    assert result == [str(world_b.school.id), filled["gradebook_student"][world_b.school.id]]


# --- Migrations --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migrate_connects_as_the_owner_from_migrate_database_url(settings):
    before = dict(connection.settings_dict)
    owner = {**before, **database.OWNER}  # the suite runs as the app's role through the pooler
    host, port = owner["HOST"] or "127.0.0.1", owner["PORT"] or 5432
    settings.MIGRATE_DATABASE_URL = f"postgres://no_such_owner:x@{host}:{port}/nowhere"
    with pytest.raises(DatabaseError, match="no_such_owner"):
        call_command("migrate", verbosity=0)
    assert connection.settings_dict == before
    settings.MIGRATE_DATABASE_URL = (
        f"postgres://{owner['USER']}:{owner['PASSWORD']}@{host}:{port}/nowhere"
    )
    call_command("migrate", verbosity=0)  # nothing to apply; the post-migrate step runs
    assert connection.settings_dict == before
    settings.MIGRATE_DATABASE_URL = ""
    assert rls.install() == []
