"""The teacher's scoring page in Debian's Chromium, used the way a teacher uses it in class: scores
typed as fast as they type and the page left at once, a failed save, undo, a long comment, and a
whole class on one screen (issue 10, items 1, 2, 11 and 12)."""

from __future__ import annotations

import random
import re
import time

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from gradebook.models import AssessmentFeedback, Evidence, SectionTeacher
from tests.factories import make_world
from tests.site.test_browser import ARTIFACTS, live_scores, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def scoring_url(live_server, world, section=None) -> str:
    path = reverse(
        "gradebook:score",
        args=[world.school.slug, (section or world.section).id, world.assessment.id],
    )
    return f"{live_server.url}{path}"


def rows_in_page_order(page: Page, world) -> list:
    """The section's students in the order the grid lists them."""
    ids = page.locator("#score-grid tbody tr").evaluate_all("rows => rows.map(r => r.id)")
    by_id = {f"sr-{s.id}": s for s in world.students}
    return [by_id[i] for i in ids]


def wait_for_scores(world, count: int, seconds: float = 8) -> dict:
    """The live scores once `count` exist, or whatever is there after `seconds`."""
    deadline = time.monotonic() + seconds
    scores = live_scores(world)
    while len(scores) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        scores = live_scores(world)
    return scores


# --- Item 1: nothing typed is lost ----------------------------------------------------------------


@pytest.fixture
def big_class(transactional_db):
    return make_world("scoring", students=38)


def test_a_column_typed_fast_and_left_at_once_is_saved_whole(page: Page, live_server, big_class):
    w = big_class
    target = w.targets[0]
    dialogs = []

    def stay(dialog):
        # A teacher asked "Leave site?" stays, so the page can finish saving.
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    students = rows_in_page_order(page, w)
    assert len(students) == 38
    # A classroom's Wi-Fi: every request takes a quarter of a second to come back.
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 250, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.get_by_label(f"{students[0].display_name}, {target.code}").click()
    rng = random.Random(10)
    typed = {}
    for i, student in enumerate(students):
        value = str(1 + i % 4)
        typed[(student.id, target.id)] = value
        page.keyboard.type(value, delay=rng.randint(40, 90))
        page.wait_for_timeout(rng.randint(40, 90))
        page.keyboard.press("Enter")
        page.wait_for_timeout(rng.randint(40, 90))
    # Straight to the class from the breadcrumb, right after the last Enter.
    page.locator(".crumbs a").first.click()

    # The page finishes its saves, then goes where the teacher clicked, without asking.
    expect(page).to_have_url(re.compile(rf"/sections/{w.section.id}/$"), timeout=20_000)
    scores = wait_for_scores(w, 38)
    assert {k: str(int(v)) for k, v in scores.items()} == typed, (
        f"{len(scores)} of 38 saved; dialogs: {dialogs}"
    )
    assert dialogs == []


def test_a_failed_save_stays_visibly_failed_until_retried(page: Page, live_server, big_class):
    w = big_class
    s, target = w.students[0], w.targets[0]
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))

    # The server refuses this one save (a dropped connection, a restart).
    page.route("**/cell/", lambda route: route.fulfill(status=502, body="Bad gateway"))
    page.get_by_label(f"{s.display_name}, {target.code}").click()
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    cell = page.locator(f"#sc-{s.id}-{target.id}")
    expect(cell).to_contain_text("Not saved")
    expect(cell.locator("input")).to_have_value("3")
    state = page.locator("#save-state")
    expect(state).to_contain_text("1 not saved")
    assert live_scores(w) == {}

    # Leaving now would lose it: the browser asks, and the teacher stays.
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    page.locator(".crumbs a").first.click()
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    expect(page).to_have_url(scoring_url(live_server, w))

    # The connection is back: Retry saves it and the page says so.
    page.unroute("**/cell/")
    state.get_by_role("button", name="Retry").click()
    expect(state).to_have_text(re.compile("All saved"))
    expect(cell).to_contain_text("Saved")
    expect(cell).not_to_contain_text("Not saved")
    assert {k: int(v) for k, v in live_scores(w).items()} == {(s.id, target.id): 3}
    shoot(page, "scoring-saved", 1366)


def test_closing_the_page_while_saves_travel_asks_first(page: Page, live_server, big_class):
    w = big_class
    target = w.targets[0]
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    students = rows_in_page_order(page, w)
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.get_by_label(f"{students[0].display_name}, {target.code}").click()
    for value in "234":
        page.keyboard.type(value)
        page.keyboard.press("Enter")
    state = page.locator("#save-state")
    expect(state).to_contain_text(re.compile(r"Saving [1-3]…"))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    # Reload, the address bar, closing the tab: the browser asks first; the teacher stays.
    page.evaluate("window.location.assign('/')")
    page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"]
    expect(state).to_have_text("All saved", timeout=20_000)
    expected = {(s.id, target.id): int(v) for s, v in zip(students, "234", strict=False)}
    assert {k: int(v) for k, v in live_scores(w).items()} == expected


def test_a_cell_corrected_while_its_first_save_travels_keeps_the_correction(
    page: Page, live_server, big_class
):
    w = big_class
    target = w.targets[0]
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    first, second = rows_in_page_order(page, w)[:2]
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 800, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    cell = page.get_by_label(f"{first.display_name}, {target.code}")
    cell.click()
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    # A typo: straight back up, 3 instead, and on down, before the 2 has even arrived.
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    expect(page.locator("#save-state")).to_have_text("All saved", timeout=20_000)
    expect(cell).to_have_value("3")
    assert {k: int(v) for k, v in live_scores(w).items()} == {
        (first.id, target.id): 3,
        (second.id, target.id): 4,
    }


# --- Item 2: undo acts on this section's grid only ------------------------------------------------


@pytest.fixture
def two_periods(transactional_db, in_school):
    w = make_world("undo", students=3)
    with in_school(w):
        # The same teacher teaches Period 1 and Period 2 of the course; the assessment is common.
        SectionTeacher.objects.create(school=w.school, section=w.other_section, teacher=w.teacher)
    return w


def test_undo_offers_only_this_sections_changes_and_names_them(
    page: Page, live_server, two_periods
):
    w = two_periods
    t = w.targets[0]
    p1, p2 = w.students[0], w.other_students[0]
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    page.get_by_label(f"{p1.display_name}, {t.code}").click()
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    expect(page.locator(f"#sc-{p1.id}-{t.id}")).to_contain_text("Saved")

    page.goto(scoring_url(live_server, w, section=w.other_section))
    undo = page.locator("#undo-slot")
    expect(undo).to_contain_text("Nothing to undo")
    expect(undo.get_by_role("button")).to_be_disabled()

    page.get_by_label(f"{p2.display_name}, {t.code}").click()
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    expect(page.locator(f"#sc-{p2.id}-{t.id}")).to_contain_text("Saved")
    # The label says what will be undone: who, which target, which value.
    button = undo.get_by_role("button")
    expect(button).to_contain_text(p2.display_name)
    expect(button).to_contain_text(t.code)
    expect(button).to_contain_text("4")
    button.click()
    expect(page.locator(f"#sc-{p2.id}-{t.id} input")).to_have_value("")
    expect(undo).to_contain_text("Nothing to undo")
    # Period 1's score is untouched.
    assert {k: int(v) for k, v in live_scores(w).items()} == {(p1.id, t.id): 2}


# --- Item 11: a long comment says its limit and is refused, not cut -------------------------------


def test_a_comment_over_the_limit_is_refused_whole_not_cut(
    page: Page, live_server, two_periods, in_school
):
    w = two_periods
    s = w.students[0]
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    box = page.get_by_label(f"Comment to {s.display_name}")
    box.focus()
    # 4,100 characters: most pasted in, the last ones typed past the limit.
    page.keyboard.insert_text("word " * 798)
    page.keyboard.type("x" * 110)
    assert len(box.input_value()) == 4100  # nothing was cut while typing
    counter = page.locator(f"#sf-{s.id}-count")
    expect(counter).to_contain_text("4,100")
    expect(counter).to_contain_text("4,000")
    expect(box).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Tab")
    cell = page.locator(f"#sf-{s.id}")
    expect(cell).to_contain_text("Not saved")
    expect(cell).not_to_contain_text("✓ Saved")
    expect(page.locator("#save-state")).to_contain_text("1 not saved")
    with in_school(w):
        assert not AssessmentFeedback.objects.filter(school=w.school).exists()
    assert len(box.input_value()) == 4100
    shoot(page, "scoring-long-comment", 1366)


# --- Item 12: a class on one screen, the first cell ready, the comment one key away ----------------


@pytest.fixture
def class_of_30(transactional_db):
    return make_world("rows", students=30)


def test_twenty_students_fit_on_a_laptop_screen(page: Page, live_server, class_of_30):
    w = class_of_30
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    visible = page.locator("#score-grid tbody tr").evaluate_all(
        "rows => rows.filter(r => { const b = r.getBoundingClientRect();"
        " return b.top >= 0 && b.bottom <= window.innerHeight; }).length"
    )
    page.screenshot(path=str(ARTIFACTS / "scoring-class-1366x768.png"))
    assert visible >= 20, f"{visible} rows visible"
    shoot(page, "scoring-class", 1366)
    shoot(page, "scoring-class", 390)


def test_the_first_cell_has_focus_when_the_page_opens(page: Page, live_server, class_of_30):
    w = class_of_30
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    first = rows_in_page_order(page, w)[0]
    name = page.evaluate("document.activeElement.name")
    assert name == f"c-{first.id}-{w.targets[0].id}"
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.locator(f"#sc-{first.id}-{w.targets[0].id}")).to_contain_text("Saved")
    assert errors == []  # a Content-Security-Policy refusal, a script error


def test_the_comment_box_is_one_key_away(page: Page, live_server, class_of_30, in_school):
    w = class_of_30
    log_in(page, live_server, w.teacher.email)
    page.goto(scoring_url(live_server, w))
    student = rows_in_page_order(page, w)[0]
    box = page.get_by_label(f"Comment to {student.display_name}")
    closed = box.bounding_box()["height"]
    page.get_by_label(f"{student.display_name}, {w.targets[1].code}").focus()
    page.keyboard.press("End")
    expect(box).to_be_focused()
    assert box.bounding_box()["height"] > 2 * closed  # open to write in
    page.keyboard.type("Show your steps.")
    shoot(page, "scoring-comment-open", 1366)
    shoot(page, "scoring-comment-open", 390)
    page.keyboard.press("Escape")  # back to the scores, the comment saved
    expect(page.get_by_label(f"{student.display_name}, {w.targets[1].code}")).to_be_focused()
    expect(page.locator(f"#sf-{student.id}")).to_contain_text("Saved")
    with in_school(w):
        assert AssessmentFeedback.objects.get(school=w.school, student=student).text == (
            "Show your steps."
        )
        assert not Evidence.objects.filter(school=w.school).exists()
