"""The school admin's marks-of-record pages in Debian's Chromium: labelled, keyboard-usable, and
free of serious accessibility problems (axe-core)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect

from marks.models import CommentBankEntry
from tests.factories import make_world
from tests.marks.test_key import TODAY, periods
from tests.site.test_browser import axe_problems, log_in, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    return make_world("browser", students=3)


def test_an_admin_sets_a_window_reads_the_progress_and_adds_a_comment(
    page: Page, live_server, world
):
    q1, _ = periods(world)
    base = f"{live_server.url}/s/{world.school.slug}/marks"
    log_in(page, live_server, world.admin.email)

    page.goto(f"{base}/periods/")
    closes = TODAY + timedelta(days=3)
    page.get_by_label(f"Closes on ({world.term.name} Q1)").fill(closes.isoformat())
    page.get_by_label(f"Closes on ({world.term.name} Q1)").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Posting window of This year · Q1 saved.")
    assert axe_problems(page) == []
    shoot(page, "marks-admin-periods", 1280)

    page.get_by_role("link", name="Posting progress").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("posting progress")
    expect(page.get_by_role("row", name="Algebra 1 · Period 1")).to_contain_text("not posted")
    assert axe_problems(page) == []
    shoot(page, "marks-admin-progress", 1280)

    page.get_by_role("link", name="Comment bank").click()
    page.get_by_label("Code", exact=True).fill("M3")
    page.get_by_label("Text in English").fill("{first_name} explains their reasoning.")
    page.get_by_label("Text in Español").fill("{first_name} explica su razonamiento.")
    page.get_by_role("button", name="Add the comment").click()
    expect(page.get_by_role("status")).to_contain_text("Comment M3 saved.")
    expect(page.get_by_role("row", name="M3")).to_contain_text("explica su razonamiento")
    assert axe_problems(page) == []
    shoot(page, "marks-admin-comments", 1280)
    with scopes_disabled():
        assert (
            CommentBankEntry.objects.get(school=world.school)
            .texts["es"]
            .startswith("{first_name} explica")
        )
