"""End to end in Debian's Chromium: a Spanish-speaking student on a 390 px phone rates themselves
and reflects (a hurried double tap, then Back and send again: one rating), the teacher answers on
a laptop, the student reads the answer. Axe finds nothing serious at either width.

The Spanish words of the new strings come with the lead's translation merge (devtools'
table): the test reads them in Spanish."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect

from gradebook.models import SelfAssessment
from tests.factories import make_world
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REFLECTION = "Ya resuelvo las ecuaciones de dos pasos, pero me confundo con los negativos."


@pytest.fixture
def pupil_world(transactional_db, in_school):
    w = make_world("selfrate", students=3)
    with in_school(w):
        w.student_user.preferred_language = "es"
        w.student_user.save()
    return w


def ratings(w) -> list[SelfAssessment]:
    with scopes_disabled():
        return list(SelfAssessment.objects.filter(school=w.school))


def test_a_spanish_student_rates_and_reflects_on_a_phone_and_reads_the_answer(
    page: Page, live_server, pupil_world
):
    w = pupil_world
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    expect(page.get_by_role("heading", name="Mi progreso")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_role("link", name="Evaluarme").first.click()

    expect(page.get_by_role("heading", name="Evaluarme")).to_be_visible()
    expect(page.get_by_text("No cambia tu nivel.")).to_be_visible()
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "self-assessment-student-es", 390)

    # The rubric's levels as choices, each a full-width tap target; then the reflection.
    page.locator("label.rating-choice", has=page.locator("input[value='3']")).click()
    page.get_by_label("Mi reflexión (opcional)", exact=False).fill(REFLECTION)
    save = page.get_by_role("button", name="Guardar mi autoevaluación")
    save.dblclick()  # the hurried double tap records one rating
    expect(page.get_by_text("Tu autoevaluación se guardó.", exact=False)).to_be_visible()
    expect(page.locator(".ratings")).to_contain_text(REFLECTION)
    assert len(ratings(w)) == 1

    # Back to the filled form and send it again: the same form, still one rating.
    page.go_back()
    if page.get_by_role("button", name="Guardar mi autoevaluación").is_visible():
        page.get_by_role("button", name="Guardar mi autoevaluación").click()
    assert len(ratings(w)) == 1
    assert no_horizontal_scroll(page)
    (rating,) = ratings(w)
    assert (str(rating.score), rating.reflection) == ("3.00", REFLECTION)

    # The teacher, on a laptop, answers from the cell.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server, w.teacher.email)
    page.goto(
        f"{live_server.url}/s/{w.school.slug}/sections/{w.section.id}/students/"
        f"{w.student.id}/targets/{w.targets[0].id}/"
    )
    ratings_section = page.locator(".self-ratings")
    expect(ratings_section).to_contain_text(REFLECTION)
    ratings_section.get_by_text("Answer", exact=True).click()
    ratings_section.get_by_label("Your answer to the student").fill("¡Bien! Repasa los negativos.")
    ratings_section.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_text("Your answer is saved")).to_be_visible()
    assert axe_problems(page) == []
    shoot(page, "self-assessment-cell", 1366)

    # Back on the phone, the student reads the answer on their page.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    expect(page.locator(".own-rating").first).to_contain_text("¡Bien! Repasa los negativos.")
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "self-assessment-portal-es", 390)
