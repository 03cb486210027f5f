"""The section grid in Debian's Chromium: what the teacher sees is current, and readable.

Issue [10] items 3 (a change in the cell dialog redraws the grid behind it), 4 (Back never shows
a page from before a save) and 8 (a level's marker is never one of the course grades' letters).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.factories import make_assessment, make_evidence, make_world
from tests.site.test_browser import ARTIFACTS, axe_problems, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("browser", students=3)


def grid_url(live_server, world) -> str:
    return f"{live_server.url}/s/{world.school.slug}/sections/{world.section.id}/"


def column_summary(page: Page, target):
    return page.locator(f"#gd-{target.id} svg")


def test_a_change_in_the_cell_dialog_redraws_the_cell_the_grade_and_the_column(
    page: Page, live_server, world
):
    s1 = world.students[0]
    t1, t2 = world.targets[:2]
    later = make_assessment(
        world.school, world.course, [t1], on=world.assessment.assessed_on + timedelta(days=3)
    )
    # t1: 2 then 4 → decaying average 3.3 (Proficient); t2: 3. Course grade: mean 3.15 → A.
    make_evidence(world, s1, t1, "2")
    make_evidence(world, s1, t1, "4", assessment=later)
    make_evidence(world, s1, t2, "3")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, world.teacher.email)
    page.goto(grid_url(live_server, world))

    cell, grade = page.locator(f"#g-{s1.id}-{t1.id}"), page.locator(f"#gg-{s1.id}")
    expect(cell).to_contain_text("3.3")
    expect(grade.locator("summary")).to_have_text(re.compile(r"^A\s+3\.15$"))
    expect(column_summary(page, t1)).to_have_attribute("aria-label", re.compile("1 Proficient"))

    # Void the 4 in the dialog: the level falls to 2, and the grid behind says so at once.
    cell.get_by_role("link").click()
    dialog = page.locator("#cell-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("details.void summary").last.click()
    dialog.get_by_label("Why?").last.fill("Scored the wrong paper")
    dialog.get_by_role("button", name="Void this evidence").last.click()
    expect(dialog.locator("del").first).to_be_visible()
    expect(cell).to_contain_text("2")
    expect(cell).not_to_contain_text("3.3")
    expect(grade.locator("summary")).to_have_text(re.compile(r"^B\s+2\.5$"))
    summary = column_summary(page, t1)
    expect(summary).to_have_attribute("aria-label", re.compile("1 Developing"))
    expect(summary).to_have_attribute("aria-label", re.compile("0 Proficient"))
    shoot(page, "grid-dialog-void", 1366)
    # On a phone the evidence reads without scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 800})
    history = dialog.locator(".table-wrap").first
    assert history.evaluate("e => e.scrollWidth <= e.clientWidth")
    dialog.screenshot(path=str(ARTIFACTS / "grid-dialog-void-dialog-390.png"))
    page.set_viewport_size({"width": 1366, "height": 900})

    # A reassessment of 4 in the same dialog: back to 3.3, A, one Proficient.
    dialog.get_by_role("textbox", name="Score").fill("4")
    dialog.get_by_role("button", name="Record the reassessment").click()
    expect(dialog).to_contain_text("Reassessment recorded")
    expect(cell).to_contain_text("3.3")
    expect(grade.locator("summary")).to_have_text(re.compile(r"^A\s+3\.15$"))
    summary = column_summary(page, t1)
    expect(summary).to_have_attribute("aria-label", re.compile("1 Proficient"))
    expect(summary).to_have_attribute("aria-label", re.compile("0 Developing"))
    # The redrawn cell still opens its dialog, and the grid still has one cell per target.
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_have_count(1)
    expect(page.locator(f"#gd-{t1.id}")).to_have_count(1)
    expect(page.locator(f"#g-{s1.id}-{t1.id} a")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("3.3")
    assert not errors, errors  # no CSP refusal, no out-of-band cell without its target


def test_back_after_saving_shows_the_saved_score_and_comment(page: Page, live_server, world):
    s1 = world.students[0]
    t1 = world.targets[0]
    make_evidence(world, s1, t1, None, status="excused")
    log_in(page, live_server, world.teacher.email)
    scoring = (
        f"{live_server.url}/s/{world.school.slug}/sections/{world.section.id}"
        f"/assessments/{world.assessment.id}/score/"
    )
    page.goto(scoring)
    cell = page.get_by_label(f"{s1.display_name}, {t1.code}")
    expect(cell).to_have_value("EX")
    cell.fill("2")
    cell.press("Tab")
    expect(page.locator(f"#sc-{s1.id}-{t1.id}")).to_contain_text("Saved")
    comment = page.get_by_label(f"Comment to {s1.display_name}")
    comment.fill("Check the units on question 3.")
    comment.press("Tab")
    expect(page.locator(f"#sf-{s1.id}")).to_contain_text("Saved")

    # Away to the grid, then the browser's Back button.
    page.get_by_role("link", name=f"{world.course.name} · {world.section.name}").click()
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("2")
    page.go_back()
    expect(page).to_have_url(scoring)
    expect(page.get_by_label(f"{s1.display_name}, {t1.code}")).to_have_value("2")
    expect(page.get_by_label(f"Comment to {s1.display_name}")).to_have_value(
        "Check the units on question 3."
    )

    # The grid, left and come back to after a change in its dialog, is current too.
    page.go_forward()
    grid_cell = page.locator(f"#g-{s1.id}-{t1.id}")
    expect(grid_cell).to_contain_text("2")
    page.goto(scoring)
    page.get_by_label(f"{s1.display_name}, {t1.code}").fill("4")
    page.get_by_label(f"{s1.display_name}, {t1.code}").press("Tab")
    expect(page.locator(f"#sc-{s1.id}-{t1.id}")).to_contain_text("Saved")
    page.go_back()
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("4")


def test_a_level_marker_never_uses_a_course_grade_letter(page: Page, live_server, world):
    s1, s2 = world.students[:2]
    t1, t2 = world.targets[:2]
    later = make_assessment(
        world.school, world.course, [t1], on=world.assessment.assessed_on + timedelta(days=3)
    )
    # s1, t1: 2.5 then 1.5 → 1.85 (level 1, Beginning); t2: 4 → course grade B (mean 2.93).
    make_evidence(world, s1, t1, "2.5")
    make_evidence(world, s1, t1, "1.5", assessment=later)
    make_evidence(world, s1, t2, "4")
    # s2: every level of the scale somewhere, and a D course grade (mean 1.75).
    make_evidence(world, s2, t1, "2")
    make_evidence(world, s2, t2, "1.5")
    log_in(page, live_server, world.teacher.email)
    page.goto(grid_url(live_server, world))

    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("1.85")
    grades = page.locator(".grid__grade summary strong").all_inner_texts()
    letters = {c for text in grades for c in text if c.isalpha()}
    assert {"B", "D"} <= letters, grades

    # Every level marker a sighted reader sees: the chips, the legend, the column summaries
    # (the ring's number is drawn by CSS: read what the browser draws).
    drawn = "els => els.map(e => getComputedStyle(e, '::before').content.replaceAll('\"', ''))"
    rings = page.locator(".level__mark").evaluate_all(drawn)
    assert len(rings) > 10 and all(r.isdigit() for r in rings), rings
    markers = (
        page.locator(".grid__cell").all_inner_texts()
        + page.locator(".legend .level").all_inner_texts()
        + page.locator(".grid__dist").all_inner_texts()
        + rings
    )
    clashing = [m for m in markers if letters & set(m)]
    assert not clashing, (letters, clashing)
    # The level is still there without colour: each level has its own marker, the same in the
    # legend and in the chip, and a screen reader hears the label.
    legend = page.locator(".legend .level")
    expect(legend).to_have_count(4)
    marks = legend.locator(".level__mark").evaluate_all(drawn)
    assert len(set(marks)) == 4 and all(m.isdigit() for m in marks), marks
    chip = page.locator(f"#g-{s1.id}-{t1.id} a")
    assert chip.locator(".level__mark").evaluate_all(drawn) == [marks[0]]
    expect(chip).to_have_attribute("aria-label", re.compile("1.85 Beginning"))
    # Labels start with what is seen (WCAG 2.5.3): the chips, the course grades.
    assert axe_problems(page) == []
    shoot(page, "grid-levels", 1366)
    shoot(page, "grid-levels", 390)
    page.emulate_media(media="print")
    shoot(page, "grid-levels-print", 1366)


def test_back_through_the_grids_filters_shows_the_levels_as_they_are_now(
    page: Page, live_server, world
):
    s1 = world.students[0]
    t1 = world.targets[0]
    make_evidence(world, s1, t1, "3")
    log_in(page, live_server, world.teacher.email)
    page.goto(grid_url(live_server, world))
    # A filter changes the address (htmx pushes it): Back returns to the grid as first opened.
    page.get_by_label("Sort by").select_option("grade")
    expect(page).to_have_url(re.compile(r"sort=grade"))
    cell = page.locator(f"#g-{s1.id}-{t1.id}")
    cell.get_by_role("link").click()
    dialog = page.locator("#cell-dialog")
    dialog.locator("details.void summary").last.click()
    dialog.get_by_label("Why?").last.fill("Wrong student")
    dialog.get_by_role("button", name="Void this evidence").last.click()
    expect(cell).to_contain_text("–")
    dialog.get_by_role("button", name="Close").click()

    page.go_back()
    expect(page).to_have_url(grid_url(live_server, world))
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("–")
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).not_to_contain_text("3")
    # Nothing of the class is kept in the browser's storage (classroom laptops are shared).
    assert page.evaluate("Object.keys(window.localStorage)") == []


@pytest.fixture
def bfcache_page(playwright, browser_type_launch_args):
    """A page of a Chromium with its back/forward cache on (Playwright turns it off by default)."""
    browser = playwright.chromium.launch(
        **browser_type_launch_args, ignore_default_args=["--disable-back-forward-cache"]
    )
    yield browser.new_page()
    browser.close()


def strip_cache_control(route):
    response = route.fetch()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "cache-control"}
    route.fulfill(response=response, headers=headers)


@pytest.mark.parametrize("keeps_no_store_pages", [False, True])
def test_a_page_kept_in_the_back_forward_cache_comes_back_current(
    bfcache_page, live_server, world, keeps_no_store_pages
):
    page = bfcache_page
    if keeps_no_store_pages:
        # As a browser that keeps even no-store pages in its back/forward cache (Chrome is
        # trying it): the page itself must notice it was restored, and load again.
        page.route(re.compile(r"/sections/\d+/$"), strip_cache_control)
    s1 = world.students[0]
    t1 = world.targets[0]
    make_evidence(world, s1, t1, "3")
    log_in(page, live_server, world.teacher.email)
    page.goto(grid_url(live_server, world))
    page.evaluate("window.sameDocument = true")
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("3")
    # Away to the scoring page, where the 3 becomes a 1; then Back to the grid.
    page.goto(
        f"{live_server.url}/s/{world.school.slug}/sections/{world.section.id}"
        f"/assessments/{world.assessment.id}/score/"
    )
    page.get_by_label(f"{s1.display_name}, {t1.code}").fill("1")
    page.get_by_label(f"{s1.display_name}, {t1.code}").press("Tab")
    expect(page.locator(f"#sc-{s1.id}-{t1.id}")).to_contain_text("Saved")
    page.go_back(wait_until="commit")
    expect(page.locator(f"#g-{s1.id}-{t1.id}")).to_contain_text("1")
    page.wait_for_load_state()
    assert page.evaluate("window.sameDocument") is None
