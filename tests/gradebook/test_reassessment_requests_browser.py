"""End to end in Debian's Chromium: a student asks for a reassessment on a 390 px phone (in
Spanish), the teacher accepts it by keyboard from the home page, the student sees the day."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect

from gradebook.models import ReassessmentRequest
from tests.factories import make_assessment, make_evidence, make_world
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pupil_world(transactional_db, in_school):
    """The student has a summative attempt at 2 a week ago and a practice score since."""
    w = make_world("retake", students=3)
    today = timezone.localdate()
    child, target = w.student, w.targets[0]
    for days, kind, score in ((8, "summative", "2"), (2, "formative", "3")):
        made = make_assessment(
            w.school, w.course, [target], on=today - timedelta(days=days), kind=kind
        )
        make_evidence(w, child, target, score, assessment=made)
    with in_school(w):
        w.student_user.preferred_language = "es"
        w.student_user.save()
    return w


def test_a_student_asks_on_a_phone_and_the_teacher_accepts_by_keyboard(
    page: Page, live_server, pupil_world
):
    w = pupil_world
    target = w.targets[0]
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    expect(page.get_by_role("heading", name="Mi progreso")).to_be_visible()
    page.get_by_role("link", name="Pedir una nueva evaluación").first.click()

    # The rules, checked before anything is sent, in Spanish.
    expect(
        page.get_by_role("heading", name="Puede pedirla: se cumplen todas las reglas")
    ).to_be_visible()
    expect(page.locator(".rule-check")).to_contain_text("Práctica desde el intento: hecha el")
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "request-student-es", 390)
    page.get_by_label("Una nota para el docente (opcional): qué practicó").fill(
        "Rehice la hoja de práctica"
    )
    send = page.get_by_role("button", name="Enviar la solicitud")
    send.dblclick()  # the hurried double tap makes one request
    expect(page.get_by_text("Su solicitud fue enviada.")).to_be_visible()
    expect(page.locator(".requests")).to_contain_text("Esperando al docente")
    assert no_horizontal_scroll(page)
    shoot(page, "request-student-es-sent", 390)
    with scopes_disabled():
        assert ReassessmentRequest.objects.filter(school=w.school).count() == 1

    # The teacher, on a laptop: Tab to the request's day, type nothing, Enter accepts.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server, w.teacher.email)
    day_input = page.get_by_label(
        re.compile(f"{re.escape(w.student.display_name)}.*{re.escape(target.code)}")
    )
    expect(day_input).to_be_visible()
    day = timezone.localdate() + timedelta(days=2)
    day_input.focus()
    page.keyboard.type(day.strftime("%m%d%Y"))
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Accepted: {w.student.display_name} on {target.code}")).to_be_visible()
    assert axe_problems(page) == []
    shoot(page, "request-teacher-accepted", 1366)
    with scopes_disabled():
        made = ReassessmentRequest.objects.get(school=w.school)
    assert made.status == "scheduled" and made.scheduled_on == day

    # Back on the phone, the student sees the day.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    expect(page.locator(".requests")).to_contain_text("Programada")
    shoot(page, "request-student-es-scheduled", 390)
