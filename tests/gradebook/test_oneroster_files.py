"""OneRoster files: bad files refused with their reasons, dry runs and input formats
(`manage.py import_oneroster`), and the upload page (fixtures: see tests/gradebook/test_oneroster.py)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import Course, Guardianship, RosterSource, Section, Student
from gradebook.oneroster.package import read_path
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.service import oneroster_import
from mastery.models import District, School, User
from tests.factories import make_world
from tests.gradebook.oneroster import (
    BASE_CREATED,
    FIXTURES,
    created,
    files,
    package_copy,
    rewrite,
    run,
    snapshot,
    text,
    zipped,
)

# --- Helpers ---------------------------------------------------------------------------------------


def problems(report) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.message) for p in report.errors]


# --- Bad files -------------------------------------------------------------------------------------


def test_every_bad_row_is_reported_with_its_file_and_line_and_nothing_is_written(db):
    before = snapshot()
    report = run("bad_rows")
    assert problems(report) == [
        ("academicSessions.csv", 9, "endDate “2027-13-01” is not a date (YYYY-MM-DD)."),
        ("academicSessions.csv", 10, "endDate is not after startDate."),
        ("courses.csv", 7, "Duplicate sourcedId “crs-alg1” (also on line 2)."),
        ("courses.csv", 8, "title is empty."),
        (
            "classes.csv",
            8,
            "The class refers to an unknown course “crs-geo” (not in courses.csv nor imported "
            "before).",
        ),
        (
            "classes.csv",
            9,
            "termSourcedIds “as-fall-2025” is not a session of academicSessions.csv nor imported "
            "before.",
        ),
        ("users.csv", 19, "enabledUser “yes” is not true or false."),
        ("users.csv", 20, "A teacher, counselor or administrator needs an email to log in."),
        (
            "roles.csv",
            20,
            "Unknown role “janitor” (expected one of: administrator, aide, counselor, "
            "districtAdministrator, guardian, parent, principal, proctor, relative, "
            "siteAdministrator, student, systemAdministrator, teacher).",
        ),
        (
            "roles.csv",
            21,
            "userSourcedId “u-ghost” is not a user of users.csv nor imported before.",
        ),
        ("enrollments.csv", 23, "Duplicate sourcedId “e-1001-alg1p1” (also on line 9)."),
        (
            "enrollments.csv",
            24,
            "classSourcedId “cls-nope” is not a class of classes.csv nor imported before.",
        ),
        (
            "enrollments.csv",
            25,
            "userSourcedId “s-9999” is not a user of users.csv nor imported before.",
        ),
        ("enrollments.csv", 26, "beginDate “2026-09-31” is not a date (YYYY-MM-DD)."),
    ]
    assert snapshot() == before


def test_a_bad_export_after_a_good_one_changes_nothing(db):
    run("base")
    before = snapshot()
    assert not run("bad_rows").ok
    assert snapshot() == before


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda p: rewrite(p / "manifest.csv", "oneroster.version,1.2", "oneroster.version,1.1"),
            (
                "manifest.csv",
                3,
                "oneroster.version is “1.1”; this import reads OneRoster 1.2 CSV "
                "(oneroster.version 1.2).",
            ),
        ),
        (
            lambda p: (p / "manifest.csv").unlink(),
            ("manifest.csv", 0, "The package has no manifest.csv; it is required."),
        ),
        (
            lambda p: (p / "users.csv").unlink(),
            ("users.csv", 0, "Missing required file: manifest.csv says file.users is bulk."),
        ),
        (
            lambda p: rewrite(p / "manifest.csv", "file.courses,bulk", "file.courses,full"),
            ("manifest.csv", 8, "file.courses is “full”; it must be bulk, delta or absent."),
        ),
        (
            lambda p: rewrite(p / "users.csv", ",givenName,", ",firstName,"),
            ("users.csv", 1, "Missing required column: givenName."),
        ),
        (
            lambda p: rewrite(p / "orgs.csv", "sourcedId,", "SourcedId,"),
            (
                "orgs.csv",
                1,
                "Missing required column: sourcedId (“SourcedId” should be spelled “sourcedId”).",
            ),
        ),
        (
            lambda p: (p / "classes.csv").write_text(
                (p / "classes.csv").read_text() + 'cls-x,,,"Unclosed title,,crs-alg1\n'
            ),
            ("classes.csv", 8, "Malformed CSV: unexpected end of data."),
        ),
        (
            lambda p: (p / "courses.csv").write_bytes(
                (p / "courses.csv").read_text().replace("Biology", "Biología").encode("latin-1")
            ),
            ("courses.csv", 0, "The file is not UTF-8 text."),
        ),
        (
            lambda p: rewrite(
                p / "roles.csv",
                "r-chen,,,t-chen,primary,teacher,,,org-lhs,",
                "r-chen,,,t-chen,primary,teacher,org-lhs",
            ),
            ("roles.csv", 3, "The row has 7 cells; the header has 10 columns."),
        ),
    ],
    ids=[
        "wrong-version",
        "no-manifest",
        "missing-file",
        "bad-mode",
        "missing-column",
        "column-case",
        "malformed",
        "not-utf8",
        "short-row",
    ],
)
def test_a_broken_package_is_refused_with_a_clear_problem(db, tmp_path, damage, expected):
    package = package_copy(tmp_path)
    damage(package)
    before = snapshot()
    report = run(read_path(package))
    assert expected in problems(report)
    assert snapshot() == before


def test_a_delta_needs_status_and_date_last_modified(db, tmp_path):
    package = package_copy(tmp_path, "update")
    rewrite(package / "classes.csv", "active,2026-10-20T14:05:00Z", ",yesterday")
    report = run(read_path(package))
    assert problems(report) == [
        (
            "classes.csv",
            2,
            "status is empty (a delta file needs active or tobedeleted); "
            "dateLastModified “yesterday” is not an ISO 8601 date-time.",
        )
    ]


# --- Dry run and input formats ---------------------------------------------------------------------


def test_a_dry_run_reports_the_same_changes_and_writes_nothing(db):
    before = snapshot()
    report = run("base", dry_run=True)
    assert report.ok and report.dry_run
    assert created(report) == BASE_CREATED
    assert snapshot() == before
    assert not School.objects.filter(slug="lakeside-high").exists()

    run("base")
    before = snapshot()
    report = run("tobedeleted", dry_run=True)
    assert report.withdrawn == 8
    assert snapshot() == before


def test_a_zip_and_a_directory_import_the_same(db, tmp_path):
    package = package_copy(tmp_path)
    (package / "demographics.csv").write_text("sourcedId,status\n")  # not read
    data = zipped(package, folder="lakeside-export/")
    with zipfile.ZipFile(io.BytesIO(data), "a") as archive:
        archive.writestr("__MACOSX/lakeside-export/._users.csv", b"\x00\x05junk")
    (tmp_path / "export.zip").write_bytes(data)
    from_zip = run(read_path(tmp_path / "export.zip"), dry_run=True)
    from_directory = run(read_path(package), dry_run=True)
    assert from_zip.ok and created(from_zip) == created(from_directory) == BASE_CREATED


def test_the_command_imports_a_zip_or_a_directory_and_fails_on_bad_rows(db, tmp_path):
    (tmp_path / "base.zip").write_bytes(zipped(FIXTURES / "base"))
    out = io.StringIO()
    call_command("import_oneroster", str(tmp_path / "base.zip"), "--dry-run", stdout=out)
    assert "Dry run: nothing was written. 93 created, 0 updated, 0 withdrawn or removed." in (
        out.getvalue()
    )
    assert not School.objects.filter(slug="lakeside-high").exists()

    out = io.StringIO()
    call_command("import_oneroster", str(FIXTURES / "base"), stdout=out)
    assert "Imported. 93 created" in out.getvalue()
    assert "students: 7 created, 0 updated" in out.getvalue()
    with scopes_disabled():
        assert Student.objects.count() == 7

    err = io.StringIO()
    with pytest.raises(CommandError, match="14 problems; nothing was imported"):
        call_command("import_oneroster", str(FIXTURES / "bad_rows"), stderr=err)
    assert "classes.csv:8: The class refers to an unknown course “crs-geo”" in err.getvalue()

    with pytest.raises(CommandError, match="neither a directory nor a zip file"):
        call_command("import_oneroster", str(tmp_path / "nowhere"))


def test_the_command_imports_one_school_inside_its_scope(db):
    out = io.StringIO()
    world = make_world("hillcrest-middle")
    call_command(
        "import_oneroster", str(FIXTURES / "base"), "--school", "hillcrest-middle", stdout=out
    )
    assert "students: 2 created" in out.getvalue()
    assert not School.objects.filter(slug="lakeside-high").exists()
    with scopes_disabled():
        assert set(RosterSource.objects.values_list("school_id", flat=True)) == {world.school.id}


# --- The upload page -------------------------------------------------------------------------------


def page(world) -> str:
    return reverse("gradebook:oneroster_import", kwargs={"school_slug": world.school.slug})


def upload(client, world, *uploads, dry_run: bool = False):
    data = {"files": list(uploads)}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(page(world), data)


def zip_upload(name: str = "base") -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{name}.zip", zipped(FIXTURES / name), "application/zip")


def test_a_school_admin_imports_their_school_and_nothing_of_the_other(client, high, middle):
    other_before = snapshot(middle.school)
    client.force_login(high.admin)
    assert client.get(page(high)).status_code == 200
    response = upload(client, high, zip_upload())
    assert response.status_code == 200, text(response)
    assert "The roster was imported." in text(response)

    with scopes_disabled():
        school = high.school
        assert set(
            Student.objects.filter(
                school=school, local_id__in=["1001", "1002", "1003", "1004", "1005"]
            ).values_list("local_id", flat=True)
        ) == {"1001", "1002", "1003", "1004", "1005"}
        # The Algebra 1 made by hand is the export's ALG1, not a second course.
        assert Course.objects.filter(school=school, code="ALG1").count() == 1
        assert Course.objects.get(school=school, code="ALG1").id == high.course.id
        assert Section.objects.filter(school=school, course=high.course).count() == 4
        # Nothing of Hillcrest's: no students, staff, logins or mappings.
        assert not User.objects.filter(email="ngozi.okafor@lakeside.example").exists()
        assert not User.objects.filter(email="finn.obrien@students.lakeside.example").exists()
        assert set(RosterSource.objects.values_list("school_id", flat=True)) == {school.id}
        assert not School.objects.filter(slug="hillcrest").exists()
    assert snapshot(middle.school) == other_before
    assert "Rows not imported" in text(response)
    with scopes_disabled():
        report = oneroster_import(files=files("base"), school=high.school, dry_run=True)
    assert report.not_imported[("classes.csv", OTHER_SCHOOL)] == 1
    assert report.not_imported[("enrollments.csv", OTHER_SCHOOL)] == 3
    assert report.not_imported[("users.csv", OTHER_SCHOOL)] == 4  # Okafor, two students, Kim
    assert report.skipped_other_schools == 1 + 1 + 1 + 3 + 3 + 4  # orgs, courses, classes, roles…


def test_each_school_admin_imports_only_their_own_school(client, high, middle):
    client.force_login(middle.admin)
    response = upload(client, middle, zip_upload())
    assert response.status_code == 200
    with scopes_disabled():
        assert (
            Student.objects.filter(school=middle.school, local_id__in=["2001", "2002"]).count() == 2
        )
        assert not Student.objects.filter(local_id="1001").exists()
        assert (
            Guardianship.objects.filter(
                school=middle.school, guardian__email="minjun.kim@example.com"
            ).count()
            == 1
        )
        assert not RosterSource.objects.filter(school=high.school).exists()


def test_the_upload_page_is_for_school_admins_only(client, high, middle, outsider):
    for user, status in (
        (high.teacher, 403),
        (high.counselor, 403),
        (high.guardian, 403),
        (middle.admin, 404),  # another school's admin: the school does not exist for them
        (outsider, 404),
    ):
        client.force_login(user)
        assert client.get(page(high)).status_code == status, user
        assert upload(client, high, zip_upload()).status_code == status, user
    with scopes_disabled():
        assert not RosterSource.objects.exists()


def test_the_upload_page_refuses_files_of_the_wrong_type_or_size(client, high):
    client.force_login(high.admin)
    cases = [
        (
            SimpleUploadedFile("roster.xlsx", b"PK\x03\x04", "application/vnd.ms-excel"),
            "“roster.xlsx” is not a .zip or .csv file.",
        ),
        (
            SimpleUploadedFile("roster.zip", b"not a zip at all", "application/zip"),
            "The file is not a zip archive.",
        ),
        (
            SimpleUploadedFile("users.csv", b"x" * (20 * 1024 * 1024 + 1), "text/csv"),
            "The upload is larger than 20 MB.",
        ),
        (
            SimpleUploadedFile("notes.csv", b"a,b\n", "text/csv"),
            "None of these files belongs to a OneRoster package",
        ),
    ]
    for uploaded, message in cases:
        response = upload(client, high, uploaded)
        assert response.status_code == 422
        assert message in text(response)
    response = client.post(page(high), {})
    assert response.status_code == 422
    assert "This field is required." in text(response)
    with scopes_disabled():
        assert not RosterSource.objects.exists()


def test_the_upload_page_lists_every_problem_with_422_and_imports_nothing(client, high):
    client.force_login(high.admin)
    before = snapshot(high.school)
    response = upload(client, high, zip_upload("bad_rows"))
    assert response.status_code == 422
    page_text = text(response)
    assert "problems; nothing was imported" in page_text
    row = (
        r"<tr><td[^>]*>enrollments\.csv</td><td[^>]*>25</td><td[^>]*>userSourcedId “s-9999” is "
        r"not a user of users\.csv nor imported before\.</td></tr>"
    )
    assert re.search(row, page_text)
    assert snapshot(high.school) == before


def test_the_upload_page_takes_the_csv_files_chosen_together(client, high):
    client.force_login(high.admin)
    uploads = [
        SimpleUploadedFile(path.name, path.read_bytes(), "text/csv")
        for path in sorted((FIXTURES / "base").iterdir())
    ]
    response = upload(client, high, *uploads, dry_run=True)
    assert response.status_code == 200
    assert "The files are valid. Nothing was written" in text(response)
    with scopes_disabled():
        assert not RosterSource.objects.exists()
        assert not Student.objects.filter(local_id="1001").exists()


def test_the_upload_page_says_when_no_org_of_the_files_is_this_school(client, world_a):
    client.force_login(world_a.admin)
    response = upload(client, world_a, zip_upload())
    assert response.status_code == 422
    assert (
        "No school org in orgs.csv is School ALPHA: give it the identifier “alpha” or the name "
        "“School ALPHA”." in text(response)
    )


def test_another_districts_school_or_district_with_the_same_slug_is_never_taken_over(db):
    # Two districts on one site: the other one already has a "lakeside-usd" district (another
    # name) and a "lakeside-high" school. The import must make its own, not rename and fill theirs.
    with scopes_disabled():
        theirs = District.objects.create(name="Lakeside County Schools", slug="lakeside-usd")
        their_school = School.objects.create(
            name="Their High", slug="lakeside-high", district=theirs
        )
    report = run("base")
    assert report.ok, report.errors
    with scopes_disabled():
        theirs.refresh_from_db()
        their_school.refresh_from_db()
        assert (theirs.name, their_school.name, their_school.district_id) == (
            "Lakeside County Schools",
            "Their High",
            theirs.id,
        )
        assert not Student.objects.filter(school=their_school).exists()
        ours = School.objects.get(name="Lakeside High School")
        assert ours.slug == "lakeside-high-2" and ours.district.slug == "lakeside-usd-2"
        assert ours.district.name == "Lakeside Unified School District"
