"""End to end in Debian's Chromium: the counselor's and the admin's flows (issue 10, items 9, 10, 12)."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta

import pytest
from django_scopes import scope, scopes_disabled
from playwright.sync_api import Page, expect

from gradebook.models import Student
from intervention.models import (
    InterventionCycle,
    InterventionGroup,
    RosterEntry,
    SessionAttendance,
)
from mastery.models import District, DistrictMembership, GradingPolicy, Membership, Role, School
from reports.models import GuardianInvitation
from reports.services import batches as reports_services
from tests.factories import (
    PASSWORD,
    make_assessment,
    make_evidence,
    make_member,
    make_student,
    make_user,
    make_world,
)
from tests.site.test_browser import ARTIFACTS, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("counsel", students=3)


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def long_roster(world, *, groups: int = 16, per_group: int = 20) -> InterventionCycle:
    """A Wednesday with `groups` re-teaching groups of `per_group` students each, every group full
    (capacity = per_group), as a big school's roster looks in the fourth week of term."""
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    with scope(school=world.school):
        cycle = InterventionCycle.objects.create(
            school=world.school,
            number=1,
            starts_on=monday,
            ends_on=monday + timedelta(days=27),
            status=InterventionCycle.Status.OPEN,
        )
        target = world.targets[0]
        n = 0
        for g in range(groups):
            teacher = make_member(
                world.school, Role.TEACHER, f"t{g}@{world.school.slug}.test", f"Teacher {g:02d}"
            )
            group = InterventionGroup.objects.create(
                school=world.school,
                cycle=cycle,
                target=target,
                weekday=2,
                teacher=teacher,
                room=f"R{g:02d}",
                capacity=per_group,
            )
            for _ in range(per_group):
                n += 1
                student = make_student(
                    world.school, f"L{n:04d}", first=f"Kid{n:04d}", last=f"Family{n:04d}"
                )
                RosterEntry.objects.create(
                    school=world.school,
                    cycle=cycle,
                    group=group,
                    student=student,
                    weekday=2,
                    target=target,
                    reason="Below proficient",
                )
    return cycle


def roster_url(live_server, world, cycle) -> str:
    return f"{live_server.url}/s/{world.school.slug}/intervention/cycles/{cycle.id}/days/2/"


def test_a_move_far_down_a_long_roster_keeps_the_counselors_place(page: Page, live_server, world):
    """Item 9: moving a student near the bottom of a 320-student roster leaves the page where it
    was, with the outcome announced next to the entry; a refused move (full group) says so there."""
    errors = watch_console(page)
    cycle = long_roster(world)
    with scopes_disabled():
        groups = list(InterventionGroup.objects.filter(school=world.school, cycle=cycle))
        # A seat in the first group, so one move succeeds; every other group stays full.
        freed = RosterEntry.objects.filter(school=world.school, group=groups[0]).first()
        freed.group = None
        freed.save()
        mover = (
            RosterEntry.objects.filter(school=world.school, group=groups[-2])
            .select_related("student")
            .order_by("student__last_name")
            .last()
        )
        refused = (
            RosterEntry.objects.filter(school=world.school, group=groups[-1])
            .select_related("student")
            .order_by("student__last_name")
            .last()
        )
    log_in(page, live_server, world.counselor.email)
    page.set_viewport_size({"width": 1366, "height": 768})
    response = page.goto(roster_url(live_server, world, cycle))
    assert len(response.body()) < 300_000, f"the roster page weighs {len(response.body())} bytes"
    page.screenshot(path=str(ARTIFACTS / "roster-top-1366.png"))

    # The groups can be reached without scrolling past the others.
    page.get_by_role("navigation", name="Groups").get_by_role(
        "link", name=re.compile("Teacher 14")
    ).click()
    row = page.locator(f"#e-{mover.id}")
    row.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 5000
    row.get_by_role("link", name=re.compile("Move")).click()
    row.get_by_label(re.compile("Move .* to")).select_option(
        label=f"{world.targets[0].code} · Teacher 00 · R00"
    )
    row.get_by_role("button", name="Move", exact=True).click()
    notice = page.locator(f"#moved-{mover.id}")
    expect(notice.get_by_role("status")).to_contain_text(f"{mover.student.display_name} moved to")
    expect(notice).to_be_in_viewport()
    assert abs(page.evaluate("window.scrollY") - before) < 100
    with scopes_disabled():
        mover.refresh_from_db()
    assert mover.group_id == groups[0].id and mover.locked
    page.screenshot(path=str(ARTIFACTS / "roster-moved-1366.png"))
    expect(page.locator(f"#nc-{groups[0].id}")).to_contain_text("20/20")  # the counts follow
    expect(page.locator(f"#gc-{groups[-2].id}")).to_contain_text("19/20")

    # A refused move: the group is full, said next to the entry, nothing changes.
    row = page.locator(f"#e-{refused.id}")
    row.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    row.get_by_role("link", name=re.compile("Move")).click()
    row.get_by_label(re.compile("Move .* to")).select_option(
        label=f"{world.targets[0].code} · Teacher 00 · R00"
    )
    row.get_by_role("button", name="Move", exact=True).click()
    alert = page.locator(f"#e-{refused.id}").get_by_role("alert")
    expect(alert).to_contain_text("That group is full (20 of 20)")
    expect(alert).to_be_in_viewport()
    assert abs(page.evaluate("window.scrollY") - before) < 100
    with scopes_disabled():
        refused.refresh_from_db()
    assert refused.group_id == groups[-1].id and not refused.locked
    page.screenshot(path=str(ARTIFACTS / "roster-refused-move-1366.png"))  # the viewport, as seen
    # The refused move answered 422 (the browser logs every 4xx); nothing else may appear.
    assert [e for e in errors if "status of 422" not in e] == []


def test_the_roster_and_attendance_fit_a_phone(page: Page, live_server, world, in_school):
    """Item 12: at 390 px neither the roster's table nor the attendance sheet scrolls sideways."""
    cycle = long_roster(world, groups=2, per_group=3)
    with in_school(world):
        group = InterventionGroup.objects.filter(school=world.school, cycle=cycle).first()
    log_in(page, live_server, world.counselor.email)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(roster_url(live_server, world, cycle))
    expect(page.get_by_role("heading", name=re.compile("Wednesday roster"))).to_be_visible()
    shoot(page, "roster-phone", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{live_server.url}/s/{world.school.slug}/intervention/groups/{group.id}/attendance/")
    expect(page.get_by_role("heading", name=re.compile("Attendance"))).to_be_visible()
    shoot(page, "attendance-phone", 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_policy_change_needs_a_reason_and_a_confirmation_with_the_previews_numbers(
    page: Page, live_server, world, in_school
):
    """Item 10: the form shows the chosen method's fields; a save without a reason is refused and
    changes nothing; the save is confirmed with the preview's numbers; the result says the same."""
    errors = watch_console(page)
    with in_school(world):
        for score, days in (("1", 20), ("4", 10)):
            earlier = make_assessment(
                world.school,
                world.course,
                world.targets[:1],
                on=world.assessment.assessed_on - timedelta(days=days),
            )
            make_evidence(world, world.student, world.targets[0], score, assessment=earlier)
            make_evidence(world, world.students[1], world.targets[0], "3", assessment=earlier)
    log_in(page, live_server, world.admin.email)
    page.get_by_role("link", name="Grading policy").click()
    method = page.get_by_label("How evidence becomes a level")
    weight = page.get_by_label("Weight on the newest score (%)")
    expect(weight).to_be_visible()  # the decaying average's weight
    expect(page.get_by_label("Times mastery must be shown")).to_be_hidden()
    method.select_option("latest")
    expect(weight).to_be_hidden()
    method.select_option("n_times")
    expect(page.get_by_label("Times mastery must be shown")).to_be_visible()
    method.select_option("highest")
    expect(weight).to_be_hidden()

    # Saving without a reason: refused beside the field, nothing saved.
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why the policy changes")
    expect(page.get_by_label(re.compile("Why this change"))).to_be_visible()
    expect(page.get_by_role("button", name="Yes, save and recompute")).to_have_count(0)
    with in_school(world):
        assert GradingPolicy.objects.filter(school=world.school).count() == 1

    page.get_by_role("button", name="Preview the effect").click()
    headline = page.locator(".preview__headline").inner_text()
    predicted = re.search(r"(\d+) of (\d+) results? changes? level", headline)
    assert predicted, headline

    page.get_by_label(re.compile("Why this change")).fill("Count the best evidence")
    page.get_by_role("button", name="Save as a new version").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text("Save this policy for the whole school?")
    expect(confirm).to_contain_text(headline)
    expect(confirm).to_be_in_viewport()
    shoot(page, "policy-confirm", 1366)
    shoot(page, "policy-confirm", 390)
    with in_school(world):
        assert GradingPolicy.objects.filter(school=world.school).count() == 1
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_role("button", name="Yes, save and recompute").click()
    run = page.locator("#policy-run")
    expect(run).to_contain_text(
        f"Levels recomputed: {predicted.group(1)} of {predicted.group(2)} results changed level."
    )
    with in_school(world):
        current = GradingPolicy.objects.get(
            school=world.school, is_current=True, course__isnull=True
        )
    assert current.version == 2 and current.note == "Count the best evidence"
    # The refused save answered 422 (the browser logs every 4xx); nothing else may appear.
    assert [e for e in errors if "status of 422" not in e] == []


def test_attendance_starts_not_taken_yet_and_presumes_no_one_present(
    page: Page, live_server, world
):
    """Item 12: a session no one has marked says "Not taken yet" for each student; marking one
    leaves the others not taken (nobody is presumed present)."""
    cycle = long_roster(world, groups=1, per_group=3)
    with scopes_disabled():
        group = InterventionGroup.objects.get(school=world.school, cycle=cycle)
        first, *others = (
            RosterEntry.objects.filter(school=world.school, group=group)
            .select_related("student")
            .order_by("student__last_name")
        )
    log_in(page, live_server, world.counselor.email)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/s/{world.school.slug}/intervention/groups/{group.id}/attendance/")
    sheet = page.locator("#sheet")
    expect(sheet.locator("#taken")).to_contain_text("Not taken yet")
    for entry in (first, *others):
        row = page.get_by_role("group", name=re.compile(entry.student.sortable_name))
        expect(row).to_contain_text("Not taken yet")
        expect(row.locator("input:checked")).to_have_count(0)
    page.get_by_role("group", name=re.compile(first.student.sortable_name)).get_by_label(
        "Present"
    ).check()
    expect(sheet).to_contain_text("Saved")
    expect(sheet.locator("#taken")).to_contain_text("1 of 3 marked")
    expect(
        page.get_by_role("group", name=re.compile(first.student.sortable_name))
    ).not_to_contain_text("Not taken yet")
    for entry in others:
        expect(
            page.get_by_role("group", name=re.compile(entry.student.sortable_name))
        ).to_contain_text("Not taken yet")
    shoot(page, "attendance-not-taken", 390)
    with scopes_disabled():
        marks = list(
            SessionAttendance.objects.filter(school=world.school).values_list("entry_id", "status")
        )
    assert marks == [(first.id, "present")]


def sign_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def district_of(world) -> District:
    with scope(school=world.school):
        district = District.objects.create(name="North", slug="north")
        world.school.district = district
        world.school.save(update_fields=["district"])
    return district


def test_a_district_admin_lands_on_the_district_dashboard(page: Page, live_server, world):
    """Item 12: a district admin (and nothing else) landed on `/`, a list of schools."""
    district = district_of(world)
    chief = make_user("chief@north.test", "Chief District")
    with scopes_disabled():
        DistrictMembership.objects.create(district=district, user=chief)
    sign_in(page, live_server, chief.email)
    expect(page).to_have_url(re.compile(r"/d/north/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("North")


def test_roles_read_as_words_on_the_home_page(page: Page, live_server, world, in_school):
    """Item 12: "Districtadmin" and "Schooladmin" as role labels."""
    district = district_of(world)
    with in_school(world):
        DistrictMembership.objects.create(district=district, user=world.admin)
        other = School.objects.create(name="School OMEGA", slug="omega")
        Membership.objects.create(school=other, user=world.admin, role=Role.TEACHER)
    sign_in(page, live_server, world.admin.email)
    expect(page.get_by_role("heading", name="Your schools")).to_be_visible()
    card = page.locator(".card", has=page.get_by_role("link", name=world.school.name))
    expect(card).to_contain_text("School admin")
    expect(card).to_contain_text("District admin")
    expect(page.locator("body")).not_to_contain_text("Districtadmin")
    expect(page.locator("body")).not_to_contain_text("Schooladmin")


def test_the_invitation_form_finds_two_children_among_300_by_typing(page: Page, live_server, world):
    """Item 12: the child picker was a 300-name multi-select; now a filter finds a child by name
    or student number, Enter picks the one found, and the chosen children stay named and checked."""
    with scopes_disabled():
        for n in range(300):
            make_student(world.school, f"N{n:04d}", first=f"Kid{n:04d}", last=f"Núñez{n:04d}")
    errors = watch_console(page)
    log_in(page, live_server, world.counselor.email)
    page.goto(f"{live_server.url}/s/{world.school.slug}/families/")
    find = page.get_by_role("searchbox", name="Find a child by name or student number")
    find.fill("nunez0123")  # without the accent, in lower case
    picker = page.locator("[data-child-picker]")
    expect(picker.locator("input[type=checkbox]:visible")).to_have_count(1)
    find.press("Enter")  # picks the one found; the form is not sent
    expect(find).to_have_value("")
    expect(picker).to_contain_text("Chosen: Núñez0123, Kid0123 (N0123)")
    find.fill("N0042")
    page.get_by_label("Núñez0042, Kid0042 (N0042)").check()
    find.fill("")
    expect(picker.locator("input:checked")).to_have_count(2)
    shoot(page, "families-picker", 390)
    page.get_by_label("Guardian's name").fill("Rosa Núñez")
    page.get_by_label("Guardian's email").fill("rosa@example.test")
    page.get_by_role("button", name="Create the invitation").click()
    expect(page.get_by_role("heading", name=re.compile("Invitation ready"))).to_be_visible()
    with scopes_disabled():
        invitation = GuardianInvitation.objects.get(school=world.school)
        chosen = set(
            Student.objects.filter(pk__in=invitation.students).values_list("local_id", flat=True)
        )
    assert chosen == {"N0123", "N0042"}
    assert errors == []


def test_in_the_demo_a_report_batch_shows_its_progress_instead_of_blocking(
    page: Page, live_server, world, settings, monkeypatch
):
    """Item 12: with eager tasks (the demo) the batch rendered inside the request that started it:
    the page answered after every PDF was drawn. Now the batch page opens at once and fills in."""
    settings.DEBUG = True  # the demo: DEBUG and eager tasks, no worker
    gate = threading.Event()
    original = reports_services.report_pdf_file

    def held(**kwargs):
        gate.wait(timeout=60)  # the PDFs wait until the test has seen the page
        return original(**kwargs)

    monkeypatch.setattr(reports_services, "report_pdf_file", held)
    log_in(page, live_server, world.teacher.email)
    page.goto(f"{live_server.url}/s/{world.school.slug}/reports/")
    page.get_by_label("Reports for").select_option(index=0)
    page.get_by_role("button", name="Start").click()
    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("0 of 3 reports ready", timeout=10_000)
    gate.set()
    expect(progress).to_contain_text("3 of 3 reports ready", timeout=60_000)
    expect(progress.get_by_role("link", name="Download the zip")).to_be_visible()
