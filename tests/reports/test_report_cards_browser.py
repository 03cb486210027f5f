"""End to end in Debian's Chromium: a Spanish-speaking guardian finds the report cards of record on
a phone and reads one (issue [14] item 6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect

from marks.computing import COURSE, TARGET
from marks.models import CommentBankEntry
from mastery.models import ScaleLevel
from tests.factories import make_assessment, make_evidence, make_world
from tests.reports.report_card_support import TODAY, post, quarters
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def familia(transactional_db, settings, tmp_path):
    """A Spanish-speaking family; the child's Algebra 1 posted for Q1 (an override, comments)
    and Q2."""
    settings.MEDIA_ROOT = tmp_path / "media"
    w = make_world("boletin", students=3)
    child = w.student
    q1, q2 = quarters(w)
    with scopes_disabled():
        w.guardian.preferred_language = "es"
        w.guardian.save()
        child.preferred_language = "es"
        child.save()
        for value, label in (
            (1, "Inicial"),
            (2, "En desarrollo"),
            (3, "Competente"),
            (4, "Avanzado"),
        ):
            ScaleLevel.objects.filter(
                school=w.school, scale__kind="achievement", value=value
            ).update(label_es=label)
        CommentBankEntry.objects.create(
            school=w.school,
            code="G1",
            texts={
                "en": "{first_name} works steadily and asks good questions.",
                "es": "{first_name} trabaja con constancia y hace buenas preguntas.",
            },
        )
    test = make_assessment(w.school, w.course, w.targets[:2], on=TODAY - timedelta(days=40))
    make_evidence(w, child, w.targets[0], "3", assessment=test)
    make_evidence(w, child, w.targets[1], "2", assessment=test)
    post(
        w,
        q1,
        values={(child.id, TARGET, w.targets[1].id): "3"},
        comments={(child.id, COURSE, 0): "G1"},
    )
    later = make_assessment(w.school, w.course, w.targets[:1], on=TODAY - timedelta(days=3))
    make_evidence(w, child, w.targets[0], "4", assessment=later)
    post(w, q2)
    return w


def test_a_spanish_speaking_guardian_reads_the_report_cards_on_a_phone(
    page: Page, live_server, familia
):
    w = familia
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.guardian.email)
    page.get_by_role("link", name="Ver el progreso").click()
    page.get_by_role("link", name="Ver los boletines").click()
    expect(page.get_by_role("heading", name="Boletines de calificaciones")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Q2"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Q1"))).to_be_visible()
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "report-cards-list-es", 390)

    page.get_by_role("link", name=re.compile(r"Leerlo aquí.*Q2")).click()
    expect(
        page.get_by_role("heading", name="Boletín de calificaciones", exact=True)
    ).to_be_visible()
    body = page.locator("body")
    expect(body).to_contain_text("Calificaciones oficiales publicadas por los docentes")
    expect(body).to_contain_text("Fijada por el docente, no el valor calculado.")
    expect(body).to_contain_text("Student0 trabaja con constancia y hace buenas preguntas.")
    expect(page.get_by_role("columnheader", name="Q2")).to_be_visible()
    expect(page.locator("td.rc-cell--override")).to_contain_text("Competente")
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "report-card-es", 390)

    # The PDF is one tap away, in Spanish too.
    with page.expect_response(lambda r: "format=pdf" in r.url) as answer:
        page.evaluate("url => fetch(url)", page.url + "?format=pdf")
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "application/pdf"
