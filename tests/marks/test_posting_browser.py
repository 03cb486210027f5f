"""The posting grid in Debian's Chromium, by keyboard only, as a teacher closes a quarter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect

from marks.models import CommentBankEntry, PostedMark
from tests.factories import make_assessment, make_evidence, make_world
from tests.marks.test_key import TODAY, periods
from tests.site.test_browser import axe_problems, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("posting", students=3)


def test_a_teacher_posts_a_quarter_by_keyboard_overriding_with_a_reason(
    page: Page, live_server, world
):
    w = world
    q1, _ = periods(w)
    s0, s1 = w.students[0], w.students[1]
    t1 = w.targets[0]
    quiz = make_assessment(w.school, w.course, w.targets[:2], on=TODAY - timedelta(days=40))
    make_evidence(w, s0, t1, "3", assessment=quiz)
    make_evidence(w, s1, t1, "2", assessment=quiz)
    with scopes_disabled():
        CommentBankEntry.objects.create(
            school=w.school,
            code="G1",
            texts={"en": "{first_name} keeps growing.", "es": "{first_name} sigue creciendo."},
        )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server, w.teacher.email)
    page.goto(f"{live_server.url}/s/{w.school.slug}/marks/sections/{w.section.id}/?period={q1.id}")
    expect(page.get_by_role("heading", name="Marks of record: Q1")).to_be_visible()
    first = page.get_by_label(f"{s0.sortable_name}, {t1.code}", exact=True)
    expect(first).to_have_value("3")
    assert axe_problems(page) == []
    shoot(page, "marks-posting", 1366)

    # Down to the second student's mark on the same target, by Enter, and type over it.
    first.focus()
    page.keyboard.press("Enter")
    below = page.get_by_label(f"{s1.sortable_name}, {t1.code}", exact=True)
    expect(below).to_be_focused()
    page.keyboard.type("3")
    assert "is-override" in below.evaluate("e => e.closest('td').className")
    # Escape puts the computed value back; type the override again.
    page.keyboard.press("Escape")
    expect(below).to_have_value("2")
    page.keyboard.type("3")

    # Post without a reason: refused, nothing posted, what was typed still there.
    page.get_by_role("button", name="Post Q1 marks").click()
    expect(page.get_by_text("Nothing was posted")).to_be_visible()
    expect(page.get_by_label(f"{s1.sortable_name}, {t1.code}", exact=True)).to_have_value("3")
    with scopes_disabled():
        assert not PostedMark.objects.exists()

    # The reason, a comment from the bank by its code, and post (Enter in a text box submits).
    reason = page.get_by_label(f"Reason for changes, {s1.sortable_name}")
    reason.fill("Retook the quiz orally")
    comment = page.get_by_label(f"Comment, {s1.sortable_name} (type a bank code or your own words)")
    comment.fill("G1")
    comment.press("Enter")
    expect(page.get_by_text("Posted 12 marks, 1 overridden.")).to_be_visible()
    with scopes_disabled():
        mark = PostedMark.objects.get(student=s1, target=t1)
        grade = PostedMark.objects.get(student=s1, kind="course")
    assert (mark.computed_value, mark.value, mark.reason) == ("2", "3", "Retook the quiz orally")
    assert grade.comment["es"] == f"{s1.first_name} sigue creciendo."
    expect(page.locator(".mark-flag").first).to_contain_text("computed 2")
    shoot(page, "marks-posted", 1366)
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "marks-posted", 390)
    # The refused post answered 422 (Unprocessable Entity), which the console reports; nothing else.
    assert [e for e in errors if "status of 422" not in e] == []
