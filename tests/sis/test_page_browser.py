"""The SIS page in Debian's Chromium as district IT uses it: at a laptop's 1366 px and a phone's
390 px, free of serious accessibility problems (axe-core), never scrolling sideways on the phone,
and a pull client made by keyboard alone, its secret shown once."""

from __future__ import annotations

import pytest
from django_scopes import scope
from playwright.sync_api import Page, expect

from sis import services
from sis.models import SisClient
from tests.factories import make_member
from tests.sis.conftest import make_bundle_school
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def school(transactional_db):
    """The hand-made school with Q1 posted, its files downloaded once and a push connection set
    up, so that every part of the page has something to show."""
    b = make_bundle_school()
    b.admin = make_member(b.school, "school_admin", "it@bundle.test", "Ida IT")
    with scope(school=b.school):
        services.files_export(user=b.admin, school=b.school, period=b.period, mode="delta")
        services.connection_save(
            user=b.admin,
            school=b.school,
            name="Campus",
            base_url="https://campus.example.test/ims/oneroster/gradebook/v1p2",
            token_url="https://campus.example.test/oauth/token",
            client_id="mastery-prod",
            secret="sis-issued-secret",
        )
    return b


def tab_to(page: Page, element_id: str, limit: int = 120) -> None:
    """Press Tab from where the focus is until the element has it, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is never reached by Tab")


def test_district_it_reads_the_page_on_a_laptop_and_a_phone(page: Page, live_server, school):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, school.admin.email)
    page.goto(f"{live_server.url}/s/{school.school.slug}/sis/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Grades to the SIS")
    row = page.locator(f"#period-{school.period.pk}")
    expect(row.get_by_role("heading", level=3)).to_contain_text("2026-27 Q1")
    expect(row).to_contain_text("4 marks posted. Files: last downloaded")
    expect(row).to_contain_text("by Ida IT")
    expect(
        row.get_by_role("button", name="Push to Campus the grades of 2026-27 Q1")
    ).to_be_visible()
    assert axe_problems(page) == []
    shoot(page, "sis-page", 1366)

    # A dry run of Q1 shows what a push would send, and sends nothing.
    row.get_by_role("button", name="Dry run of 2026-27 Q1").click()
    expect(
        page.get_by_role("heading", name="Dry run: what a push of Q1 would send now")
    ).to_be_visible()
    expect(page.locator("#dry-run")).to_contain_text("6 records to send")
    assert axe_problems(page) == []
    shoot(page, "sis-dry-run", 1366)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/s/{school.school.slug}/sis/")
    shoot(page, "sis-page", 390)
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    assert errors == []


@pytest.mark.parametrize("width", [1366, 390])
def test_a_pull_client_is_made_by_keyboard_alone_and_its_secret_shown_once(
    page: Page, live_server, school, width
):
    page.set_viewport_size({"width": width, "height": 844})
    log_in(page, live_server, school.admin.email)
    page.goto(f"{live_server.url}/s/{school.school.slug}/sis/")

    tab_to(page, "id_client-name")
    page.keyboard.type("Campus pull")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Make a client")).to_be_focused()
    page.keyboard.press("Enter")

    notice = page.get_by_role("heading", name="The secret of “Campus pull”")
    expect(notice).to_be_visible()
    made = SisClient.objects.get(name="Campus pull")
    secret_box = page.locator("#secret-h ~ dl code").nth(1)
    secret = secret_box.inner_text()
    assert len(secret) >= 40 and secret != made.application.client_secret
    expect(page.locator("#secret-h ~ dl")).to_contain_text(made.application.client_id)
    shoot(page, "sis-client-secret", width)
    assert axe_problems(page) == []
    assert width > 390 or no_horizontal_scroll(page)

    # Shown once: the page read again lists the client, without its secret.
    page.goto(f"{live_server.url}/s/{school.school.slug}/sis/")
    expect(page.get_by_role("row", name="Campus pull")).to_contain_text("this school")
    expect(page.locator("body")).not_to_contain_text(secret)
