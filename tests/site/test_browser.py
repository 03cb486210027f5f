"""End to end in Debian's Chromium (Playwright) against a live server: the teacher's day."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django_scopes import scope, scopes_disabled
from playwright.sync_api import Page, expect

from gradebook.models import Evidence, Mastery
from intervention.models import RosterEntry, SessionAttendance
from mastery.models import GradingPolicy
from tests.factories import PASSWORD, make_assessment, make_evidence, make_intervention, make_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def world(transactional_db):
    return make_world("browser", students=3)


def log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Staff land on their school, guardians on /family/, students on their own page.
    expect(page).to_have_url(re.compile(r"/(s/[\w-]+/(me/)?|family/)$"))


def shoot(page: Page, name: str, width: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)


def live_scores(world):
    with scope(school=world.school):
        return {
            (e.student_id, e.target_id): e.score if e.status == "scored" else e.status
            for e in Evidence.objects.filter(school=world.school, voided_at__isnull=True)
        }


def test_a_teacher_scores_with_the_keyboard_reassesses_and_voids(
    page: Page, live_server, world, in_school
):
    console_errors = []
    page.on(
        "console",
        lambda m: (
            console_errors.append(f"{m.text} @ {page.url} {m.location}")
            if m.type == "error"
            else None
        ),
    )
    s1, s2, s3 = world.students
    t1, t2 = world.targets[:2]
    log_in(page, live_server, world.teacher.email)

    # From the teacher's home to the scoring grid of the assessment that needs scoring.
    expect(page.get_by_role("heading", name="Needs scoring")).to_be_visible()
    page.get_by_role("link", name=world.assessment.title).first.click()
    expect(page.get_by_role("heading", name=world.assessment.title)).to_be_visible()

    # Student 1, target 1: type 3 and Tab to the next target; student 1, target 2: 4 and Enter moves down.
    first = page.get_by_label(f"{s1.display_name}, {t1.code}")
    first.click()
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    expect(page.get_by_label(f"{s1.display_name}, {t2.code}")).to_be_focused()
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    expect(page.get_by_label(f"{s2.display_name}, {t2.code}")).to_be_focused()
    page.keyboard.type("m")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_label(f"{s2.display_name}, {t1.code}")).to_be_focused()
    page.keyboard.type("2")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label(f"{s3.display_name}, {t1.code}")).to_be_focused()
    page.keyboard.type("2.5")
    page.keyboard.press("Enter")

    cell = page.locator(f"#sc-{s1.id}-{t1.id}")
    expect(cell).to_contain_text("Saved")
    expect(cell.locator(".cell-now")).to_contain_text("3")
    # The row's course grade updated without a reload: mean of 3 and 4 = 3.5 → A.
    expect(page.locator(f"#sg-{s1.id}")).to_contain_text("A")
    expect(page.locator(f"#sg-{s1.id}")).to_contain_text("3.5")
    expect(page.locator(f"#sc-{s2.id}-{t2.id} input")).to_have_value("M")
    expect(page.locator(f"#sc-{s3.id}-{t1.id}")).to_contain_text("Saved")
    assert live_scores(world) == {
        (s1.id, t1.id): Decimal("3.00"),
        (s1.id, t2.id): Decimal("4.00"),
        (s2.id, t2.id): "missing",
        (s2.id, t1.id): Decimal("2.00"),
        (s3.id, t1.id): Decimal("2.50"),
    }

    # Out of scale: the error shows in the cell, nothing is saved.
    bad = page.get_by_label(f"{s3.display_name}, {t2.code}")
    bad.click()
    page.keyboard.type("7")
    page.keyboard.press("Enter")
    expect(page.locator(f"#sc-{s3.id}-{t2.id}")).to_contain_text("7 is not on the scale")
    expect(page.locator(f"#sc-{s3.id}-{t2.id} input")).to_have_attribute("aria-invalid", "true")
    assert (s3.id, t2.id) not in live_scores(world)

    # Undo the last saved change (student 3's 2.5): the cell empties again.
    page.get_by_role("button", name=re.compile("Undo")).click()
    expect(page.locator(f"#sc-{s3.id}-{t1.id} input")).to_have_value("")
    assert (s3.id, t1.id) not in live_scores(world)
    # The stack keeps every step, even though the saves arrived concurrently: next is student 2's 2.
    expect(page.locator("#undo-slot")).to_contain_text(f"{s2.display_name}: 2")

    shoot(page, "scoring", 1280)
    shoot(page, "scoring", 820)

    # Cell detail of student 2 on target 1 (level 2): add a reassessment of 4, the level rises.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator(f"#sc-{s2.id}-{t1.id} a.cell-now").click()
    dialog = page.locator("#cell-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Decaying average (65% on the newest): 2")
    dialog.get_by_role("textbox", name="Score").fill("4")
    dialog.get_by_role("button", name="Record the reassessment").click()
    expect(dialog).to_contain_text("Reassessment recorded")
    expect(dialog).to_contain_text("2 → 3.3")
    with in_school(world):
        record = Mastery.objects.get(school=world.school, student=s2, target=t1)
    assert record.score == Decimal("3.30") and record.mastered

    # Void the reassessment with a reason: it stays in the history, struck through, level back to 2.
    dialog.locator("details.void summary").last.click()
    dialog.get_by_label("Why?").last.fill("Scored the wrong paper")
    dialog.get_by_role("button", name="Void this evidence").last.click()
    expect(dialog.locator("del").first).to_be_visible()
    expect(dialog).to_contain_text("Scored the wrong paper")
    with in_school(world):
        assert Mastery.objects.get(school=world.school, student=s2, target=t1).score == Decimal(
            "2.00"
        )
    shoot(page, "cell-detail", 1280)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # The section grid: the level is there, and clicking it explains itself.
    page.goto(f"{live_server.url}/s/{world.school.slug}/sections/{world.section.id}/")
    chip = page.locator(f"#g-{s1.id}-{t1.id} a")
    expect(chip).to_contain_text("3")
    chip.click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("3 is level 3 (Proficient)")
    dialog.get_by_role("button", name="Close").click()
    shoot(page, "grid", 1280)
    shoot(page, "grid", 820)
    # The refused "7" answered 422 (the browser logs every 4xx); nothing else may appear.
    unexpected = [e for e in console_errors if "status of 422" not in e]
    assert not unexpected, unexpected


def test_a_school_admin_previews_then_applies_a_policy_change(
    page: Page, live_server, world, in_school
):
    with in_school(world):
        for score, days in (("1", 20), ("4", 10)):
            earlier = make_assessment(
                world.school,
                world.course,
                world.targets[:1],
                on=world.assessment.assessed_on - timedelta(days=days),
            )
            make_evidence(world, world.student, world.targets[0], score, assessment=earlier)
    log_in(page, live_server, world.admin.email)
    page.get_by_role("link", name="Grading policy").click()
    expect(page.get_by_role("heading", name="The rule in plain words")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Each new score counts 65%")
    page.get_by_label("How evidence becomes a level").select_option("highest")
    page.get_by_role("button", name="Preview the effect").click()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("level (1 student, 1 target)")
    expect(page.locator("body")).to_contain_text("Highest score.")  # the new rule in words
    with in_school(world):
        assert (
            GradingPolicy.objects.filter(school=world.school).count() == 1
        )  # a preview saves nothing
    shoot(page, "policy-preview", 1280)
    page.get_by_label("Why this change").fill("Count the best evidence")
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_role("button", name="Yes, save and recompute").click()
    expect(page.locator("#policy-run")).to_contain_text("Levels recomputed")
    with in_school(world):
        current = GradingPolicy.objects.get(
            school=world.school, is_current=True, course__isnull=True
        )
        record = Mastery.objects.get(
            school=world.school, student=world.student, target=world.targets[0]
        )
    assert (
        current.version == 2
        and current.method == "highest"
        and current.note == "Count the best evidence"
    )
    assert record.score == Decimal(4) and record.policy_id == current.id


def test_a_counselor_moves_a_student_takes_attendance_and_downloads_the_roster(
    page: Page, live_server, world, in_school
):

    with in_school(world):
        for student, score in zip(world.students, ("1", "2", "2.5"), strict=True):
            make_evidence(world, student, world.targets[0], score)
    cycle = make_intervention(world)
    s1 = world.students[1]
    log_in(page, live_server, world.counselor.email)
    page.get_by_role("link", name="Intervention", exact=True).click()
    page.get_by_role("link", name="Wednesday roster").click()
    expect(page.get_by_role("heading", name=re.compile("Wednesday roster"))).to_be_visible()
    row = page.locator("tr", has_text=s1.sortable_name)
    expect(row).to_contain_text("2 Developing")
    shoot(page, "roster", 1280)

    # Move student 1 to the wait list: the roster redraws, the entry is locked.
    row.get_by_role("link", name=re.compile("Move")).click()
    row.get_by_label(re.compile("Move .* to")).select_option(label="Wait list")
    row.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".message--success")).to_contain_text("moved to the wait list")
    expect(page.get_by_role("heading", name="Wait list")).to_be_visible()
    with in_school(world):
        moved = RosterEntry.objects.get(school=world.school, cycle=cycle, student=s1, weekday=2)
    assert moved.group_id is None and moved.locked

    # Attendance for the group's first session, on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Attendance").first.click()
    s0 = world.students[0]
    page.get_by_role("group", name=s0.sortable_name).get_by_label("Absent").check()
    expect(page.locator("#sheet")).to_contain_text("Saved")
    shoot(page, "attendance", 390)
    with scopes_disabled():
        taken = SessionAttendance.objects.get(
            entry__student=s0, entry__cycle=cycle, entry__weekday=2
        )
    assert taken.status == "absent" and taken.session_date == cycle.session_dates(2)[0]

    # The CSV download.
    page.go_back()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/s/{world.school.slug}/intervention/cycles/{cycle.id}/days/2/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert s0.sortable_name in content and "Wait list" in content


AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"


def axe_problems(page: Page) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the page."""
    page.evaluate(
        AXE.read_text()
    )  # evaluated through DevTools: the page's CSP rightly blocks injected tags
    violations = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_family_portal_is_accessible_and_fits_a_phone_in_spanish(
    page: Page, live_server, world, in_school
):
    with in_school(world):
        make_evidence(world, world.student, world.targets[0], "2", feedback="Buen comienzo.")
        world.guardian.preferred_language = "es"
        world.guardian.save()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, world.guardian.email)
    expect(page).to_have_url(re.compile("/family/$"))
    expect(page.get_by_role("heading", name="Mis hijos")).to_be_visible()
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    page.get_by_role("link", name="Ver el progreso").click()
    expect(page.get_by_role("heading", name=world.student.display_name)).to_be_visible()
    expect(page.locator("body")).to_contain_text("Próximo paso, para llegar a")
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "portal-child", 390)
    page.get_by_role("link", name="Leerlo aquí").click()
    expect(page.get_by_role("heading", name="Informe de progreso")).to_be_visible()
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    # The language switch, remembered on the account.
    page.goto(f"{live_server.url}/family/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="My children")).to_be_visible()
    with in_school(world):
        world.guardian.refresh_from_db()
    assert world.guardian.preferred_language == "en"


def test_the_student_portal_and_the_login_page_are_accessible(page: Page, live_server, world):
    page.goto(f"{live_server.url}/accounts/login/")
    assert axe_problems(page) == []
    log_in(page, live_server, world.student_user.email)
    expect(page.get_by_role("heading", name="My progress")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    page.get_by_label("Learning target").select_option(index=1)
    page.get_by_role("textbox", name="My goal").fill("Ask for a retake after tutoring")
    page.get_by_role("button", name="Save my goal").click()
    expect(page.locator(".messages")).to_contain_text("Your goal is saved")
    assert axe_problems(page) == []
    shoot(page, "portal-student", 390)


def test_the_api_docs_render_under_our_csp(page: Page, live_server, world):
    """Swagger UI from self-hosted assets, under the strict CSP, with no console errors."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    log_in(page, live_server, world.admin.email)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Mastery gradebook API")
    expect(page.get_by_text("/api/v1/schools/{school_slug}/mastery/", exact=True)).to_be_visible()
    shoot(page, "api-docs", 1280)
    assert errors == []
    assert all(url.startswith(live_server.url) for url in requests), requests


def test_a_teacher_makes_an_api_token_and_sees_it_once(page: Page, live_server, world):
    log_in(page, live_server, world.teacher.email)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("New token for").fill("Nightly SIS sync")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("mgb_")
    expect(page.get_by_label("Token", exact=True)).to_be_focused()
    shoot(page, "api-tokens", 390)
    page.reload()
    expect(page.get_by_role("cell", name="Nightly SIS sync", exact=True)).to_be_visible()
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke Nightly SIS sync").click()
    expect(page.get_by_text("no longer opens the API")).to_be_visible()


def test_a_department_runs_its_data_dialogue_from_one_page(
    page: Page, live_server, world, in_school
):
    """A teacher opens the department dashboard from the nav, reads bars and tables (accessible,
    no console error, no off-site request), picks a target's students, downloads a figure's CSV."""
    with in_school(world):
        for student, value in zip(world.students, ("3", "2", "1"), strict=True):
            make_evidence(world, student, world.targets[0], value)
    console_errors, requests = [], []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    log_in(page, live_server, world.teacher.email)
    page.get_by_role("link", name="Data dialogue").first.click()
    page.get_by_role("link", name="Mathematics").click()
    expect(page.get_by_role("heading", name="Mathematics: data dialogue")).to_be_visible()
    figure = page.locator("#figure-levels-by-section")
    expect(figure.locator("svg.bars__bar").first).to_be_visible()
    # The table beside the bars: Period 1 on the first target, 1 proficient of 3 assessed.
    row = figure.get_by_role("row").filter(has_text="Period 1").first
    expect(row).to_contain_text("33")
    assert axe_problems(page) == []
    # One click from the per-target counts to the first target's students: Student1 (2), Student2 (1).
    page.locator("#figure-not-yet-by-target").get_by_role(
        "link", name=world.targets[0].code
    ).click()
    listing = page.locator("#figure-not-yet-proficient")
    expect(listing).to_contain_text("Student1")
    expect(listing).to_contain_text("Student2")
    with page.expect_download() as download:
        page.locator("#figure-change").get_by_role("link", name=re.compile("Download CSV")).click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("Target,Students")
    shoot(page, "dashboard-department", 1280)
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_horizontal_scroll(page)
    assert console_errors == []
    assert all(url.startswith(live_server.url) for url in requests), requests
