"""Owed feedback in Debian's Chromium: the grid's notice reads on a laptop and a phone, and a name
leads to the comment box of that student on the section's latest scoring page."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from django_scopes import scope
from playwright.sync_api import Page, expect

from gradebook.models import AssessmentFeedback
from tests.factories import make_world
from tests.site.test_browser import ARTIFACTS, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("browser", students=3)


def test_a_name_in_the_notice_opens_that_students_comment_box(page: Page, live_server, world):
    s0, s1, _s2 = world.students
    noon = datetime.combine(
        timezone.localdate() - timedelta(days=2), time(12), tzinfo=timezone.get_current_timezone()
    )
    with scope(school=world.school):
        AssessmentFeedback.objects.create(
            school=world.school,
            assessment=world.assessment,
            student=s0,
            text="Good start.",
            updated_by=world.teacher,
            updated_at=noon,
        )
    log_in(page, live_server, world.teacher.email)
    page.goto(f"{live_server.url}/s/{world.school.slug}/sections/{world.section.id}/")

    notice = page.locator(f"#feedback-owed-{world.section.id}")
    expect(notice).to_contain_text("Owed feedback (2)")
    expect(notice).not_to_contain_text(s0.display_name)
    shoot(page, "feedback-owed-grid", 1366)
    page.set_viewport_size({"width": 390, "height": 800})
    assert notice.evaluate("e => e.scrollWidth <= e.clientWidth")  # no sideways scroll
    notice.screenshot(path=str(ARTIFACTS / "feedback-owed-notice-390.png"))
    page.set_viewport_size({"width": 1366, "height": 900})

    notice.get_by_role("link", name=s1.display_name).click()
    expect(page).to_have_url(
        f"{live_server.url}/s/{world.school.slug}/sections/"
        f"{world.section.id}/assessments/{world.assessment.id}/score/#sr-{s1.id}"
    )
    comment = page.get_by_label(f"Comment to {s1.display_name}")
    expect(comment).to_be_visible()
    expect(comment).to_be_in_viewport()


def test_the_teachers_home_and_the_admins_page(page: Page, live_server, world):
    log_in(page, live_server, world.teacher.email)
    notice = page.locator(f"#feedback-owed-{world.section.id}")
    expect(notice).to_contain_text("Algebra 1 · Period 1: Owed feedback (3)")
    shoot(page, "feedback-owed-home", 1366)
    notice.get_by_role("link", name="no feedback in the last 14 days").click()
    expect(page.get_by_role("heading", name="Feedback cadence")).to_be_visible()
    expect(page.get_by_label("Feedback interval (days)")).to_have_count(0)  # teachers read it
    page.get_by_role("button", name="Log out").or_(page.get_by_role("link", name="Log out")).click()

    log_in(page, live_server, world.admin.email)
    page.goto(f"{live_server.url}/s/{world.school.slug}/feedback/")
    field = page.get_by_label("Feedback interval (days)")
    field.fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("from 1 to 60. Nothing was changed.")
    shoot(page, "feedback-settings-error", 1366)
    page.get_by_label("Feedback interval (days)").fill("7")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Feedback interval saved: 7 days.")).to_be_visible()
    expect(page.get_by_label("Feedback interval (days)")).to_have_value("7")
