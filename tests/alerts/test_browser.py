"""Alerts in Debian's Chromium: a Spanish-speaking parent chooses their alerts on a 390 px phone
by keyboard, and a school admin reads what was sent on a laptop; both pages free of serious
accessibility problems (axe-core) and never scrolling sideways on the phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from alerts.models import AlertSettings
from tests.alerts.test_alerts import run
from tests.factories import make_evidence, make_world
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("alertsbrowser", students=3)


def test_a_spanish_speaking_parent_chooses_alerts_on_a_phone(page: Page, live_server, world):
    world.guardian.preferred_language = "es"
    world.guardian.save(update_fields=["preferred_language"])
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, world.guardian.email)
    page.get_by_role("link", name="Alertas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alertas")
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    shoot(page, "alerts-preferences-es", 390)

    # By keyboard: the first choice, then the details box and the quiet hours.
    scores = page.get_by_label("Un puntaje nuevo", exact=True)
    scores.focus()
    scores.select_option(label="De inmediato")
    page.keyboard.press("Tab")
    page.get_by_label("Trabajo marcado como faltante o incompleto").select_option(label="Nunca")
    page.get_by_label("Mostrar puntajes y comentarios en el correo").check()
    page.get_by_label("Horas de silencio desde").fill("21:00")
    page.get_by_label("Horas de silencio hasta").fill("07:00")
    save = page.get_by_role("button", name="Guardar")
    save.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Se guardó la configuración de sus alertas.")
    saved = AlertSettings.objects.get(user=world.guardian)
    assert saved.frequencies["score"] == "immediate" and saved.frequencies["missing"] == "never"
    assert saved.details
    # What was saved is what the page shows again (Back or a new visit).
    page.goto(f"{live_server.url}/alerts/")
    expect(page.get_by_label("Un puntaje nuevo", exact=True)).to_have_value("immediate")
    expect(page.get_by_label("Horas de silencio desde")).to_have_value("21:00")
    assert errors == []


def test_a_school_admin_reads_what_was_sent(page: Page, live_server, world, settings):
    settings.SITE_URL = live_server.url
    make_evidence(world, world.student, world.targets[0], None, status="missing")
    run(world)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.admin.email)
    page.get_by_role("link", name="Alerts sent").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts sent")
    table = page.get_by_role("table")
    expect(table).to_contain_text(world.guardian.email)
    expect(table).to_contain_text("Sent")
    assert axe_problems(page) == []
    shoot(page, "alerts-sent", 1366)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No alert emails match.")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/s/{world.school.slug}/alerts/")
    shoot(page, "alerts-sent", 390)
    assert axe_problems(page) == []
