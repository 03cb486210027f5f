"""A OneRoster schoolYear session makes a school year; next year's import fits the rollover
whether it comes before or after it."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import SchoolYear, Term
from gradebook.oneroster.package import read_path
from mastery.models import Role, School
from tests.factories import make_member
from tests.gradebook.oneroster import package_copy, run
from years.services import NextYear, plan_fingerprint, rollover_plan, rollover_start

NEXT_YEAR_SESSIONS = (
    "as-2027,,,2027-2028,schoolYear,2027-08-16,2028-06-09,,2028\n"
    "as-fall27,,,Fall 2027,semester,2027-08-16,2027-12-17,as-2027,2028\n"
)


def next_year_package(tmp_path, *, year_line: str = NEXT_YEAR_SESSIONS) -> dict[str, bytes]:
    """The base export with next year's sessions added (the SIS's export in the summer)."""
    folder = package_copy(tmp_path)
    sessions = folder / "academicSessions.csv"
    sessions.write_text(sessions.read_text() + year_line)
    return read_path(folder)


def years_of(slug: str) -> dict[str, tuple[date, date, bool]]:
    with scopes_disabled():
        return {
            y.name: (y.starts_on, y.ends_on, y.closed_at is not None)
            for y in SchoolYear.objects.filter(school__slug=slug)
        }


def lakeside() -> School:
    return School.objects.get(slug="lakeside-high")


def roll_over_lakeside(capture, next_year: NextYear):
    school = lakeside()
    admin = make_member(school, Role.SCHOOL_ADMIN, "principal@lakeside.test")
    with scope(school=school):
        year = SchoolYear.objects.get(school=school, name="2026-2027")
        plan = rollover_plan(school=school, year=year, next_year=next_year, promote=False)
        with capture(execute=True):
            rollover = rollover_start(
                school=school,
                year=year,
                next_year=next_year,
                retained=[],
                top_grade=12,
                promote=False,
                confirmed=plan_fingerprint(plan),
                requested_by=admin,
            )
        rollover.refresh_from_db()
    return plan, rollover, admin


def test_a_school_year_session_makes_a_school_year_in_each_school_once(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = run("base")
    assert first.ok and first.tally("school years").created == 2
    expected = {"2026-2027": (date(2026, 8, 17), date(2027, 6, 11), False)}
    assert years_of("lakeside-high") == years_of("hillcrest-middle") == expected
    # The year has begun (the import's today is 2026-11-20): each school's levels are recomputed.
    queued = [cb.__qualname__ for cb in callbacks]
    assert queued.count("import_school_years.<locals>.<lambda>") == 2
    # It is still a term too, as before.
    with scopes_disabled():
        assert Term.objects.filter(school=lakeside(), name="2026-2027").exists()
    with django_capture_on_commit_callbacks() as callbacks:
        again = run("base")
    assert again.tally("school years").created == again.tally("school years").updated == 0
    assert again.tally("school years").unchanged == 2
    assert years_of("lakeside-high") == expected
    assert "import_school_years.<locals>.<lambda>" not in [cb.__qualname__ for cb in callbacks]


def test_a_dry_run_makes_no_school_year(db):
    report = run("base", dry_run=True)
    assert report.ok and report.tally("school years").created == 2
    with scopes_disabled():
        assert not SchoolYear.objects.exists()


def test_next_years_import_after_the_rollover_takes_the_sis_dates(
    db, tmp_path, django_capture_on_commit_callbacks
):
    run("base")
    _, rollover, _ = roll_over_lakeside(
        django_capture_on_commit_callbacks,
        NextYear("2027-2028", date(2027, 8, 20), date(2028, 6, 10)),
    )
    assert rollover.status == "done", rollover.error
    report = run(next_year_package(tmp_path))
    assert report.ok, report.errors
    assert years_of("lakeside-high") == {
        "2026-2027": (date(2026, 8, 17), date(2027, 6, 11), True),  # closed: left as it is
        "2027-2028": (date(2027, 8, 16), date(2028, 6, 9), False),  # the SIS's dates
    }
    assert years_of("hillcrest-middle")["2027-2028"] == (date(2027, 8, 16), date(2028, 6, 9), False)
    tally = report.tally("school years")
    assert (tally.created, tally.updated, tally.unchanged) == (1, 1, 2)


def test_next_years_import_before_the_rollover_is_the_year_the_rollover_opens(
    db, tmp_path, client, django_capture_on_commit_callbacks
):
    run("base")
    run(next_year_package(tmp_path))
    with scopes_disabled():
        made = SchoolYear.objects.get(school=lakeside(), name="2027-2028")
    admin = make_member(lakeside(), Role.SCHOOL_ADMIN, "head@lakeside.test")
    client.force_login(admin)
    form = client.get(reverse("years:home", args=["lakeside-high"])).content.decode()
    assert 'value="2027-08-16"' in form and 'value="2027-2028"' in form  # suggested as it is
    plan, rollover, _ = roll_over_lakeside(
        django_capture_on_commit_callbacks,
        NextYear("2027-2028", date(2027, 8, 16), date(2028, 6, 9)),
    )
    assert plan["next_year"]["id"] == made.id
    assert rollover.status == "done" and rollover.next_year_id == made.id
    assert rollover.summary["next_year_created"] is False
    with scopes_disabled():
        assert SchoolYear.objects.filter(school=lakeside()).count() == 2
        # Next year's term is not the closing year's: it stays open.
        assert Term.objects.get(school=lakeside(), name="Fall 2027").closed_at is None
        assert Term.objects.get(school=lakeside(), name="Fall 2026").closed_at is not None


def test_an_import_never_changes_a_closed_year(db, tmp_path, django_capture_on_commit_callbacks):
    run("base")
    roll_over_lakeside(
        django_capture_on_commit_callbacks,
        NextYear("2027-2028", date(2027, 8, 16), date(2028, 6, 9)),
    )
    folder = package_copy(tmp_path)
    sessions = folder / "academicSessions.csv"
    sessions.write_text(sessions.read_text().replace("2027-06-11,,2027", "2027-06-18,,2027", 1))
    report = run(read_path(folder))
    assert report.ok
    assert any("2026-2027 is closed: kept as it was closed" in w.message for w in report.warnings)
    assert years_of("lakeside-high")["2026-2027"] == (date(2026, 8, 17), date(2027, 6, 11), True)


def test_a_school_year_overlapping_another_is_a_warning_and_stays_a_term(db):
    run("base")
    with scopes_disabled():
        SchoolYear.objects.filter(school=lakeside()).delete()
        SchoolYear.objects.create(
            school=lakeside(),
            name="Our own year",
            starts_on=date(2026, 9, 1),
            ends_on=date(2027, 5, 30),
        )
    report = run("base")
    assert report.ok
    assert any("overlaps Our own year" in w.message for w in report.warnings)
    assert set(years_of("lakeside-high")) == {"Our own year"}


@pytest.mark.parametrize("title", ["x" * 41])
def test_a_school_year_title_too_long_for_a_year_is_a_term_only(db, tmp_path, title):
    folder = package_copy(tmp_path)
    sessions = folder / "academicSessions.csv"
    sessions.write_text(
        sessions.read_text().replace(",2026-2027,schoolYear", f",{title},schoolYear")
    )
    report = run(read_path(folder))
    assert report.ok and any("over 40 characters" in w.message for w in report.warnings)
    assert years_of("lakeside-high") == {}
