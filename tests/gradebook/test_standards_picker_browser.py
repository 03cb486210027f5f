"""The target form's tree picker in Debian's Chromium: a teacher opens a framework, a grade and a
cluster with the keyboard (each level fetched by htmx as it opens), ticks a standard and saves;
axe finds nothing serious and a 390 px phone does not scroll sideways."""

from __future__ import annotations

import json

import pytest
from django_scopes import scope, scopes_disabled
from playwright.sync_api import Page, expect

from devtools.case_package import case_package
from mastery.models import FrameworkItem, TargetAlignment
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from tests.factories import make_world
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(transactional_db):
    w = make_world("browser", students=1)
    with scope(school=w.school):
        framework_import(
            school=w.school,
            package=package_parse(json.dumps(case_package(600)).encode()),
            source="test",
            imported_by=None,
        )
    return w


def settled(page: Page) -> None:
    """htmx makes a fetched level work (its own toggle fetches) when it settles, 20 ms after it
    appears; on a loaded machine a level opened before that shows its "Show them" link instead
    (the page without JavaScript), so the test waits as a person's eyes and hands do."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")


def test_a_teacher_opens_the_tree_with_the_keyboard_ticks_a_standard_and_saves(
    page: Page, live_server, world
):
    log_in(page, live_server, world.teacher.email)
    target = world.targets[0]
    page.goto(
        f"{live_server.url}/s/{world.school.slug}/departments/{world.department.id}"
        f"/targets/{target.id}/edit/"
    )
    tree = page.locator("#standards-tree")
    tree.get_by_text("Generated State Standards").focus()
    page.keyboard.press("Enter")
    expect(tree.get_by_text("5 standards under G2")).to_be_visible()  # fetched by htmx
    settled(page)
    tree.get_by_text("5 standards under G2").focus()
    page.keyboard.press("Enter")
    expect(tree.get_by_text("4 standards under 2.D3")).to_be_visible()
    settled(page)
    tree.get_by_text("4 standards under 2.D3").focus()
    page.keyboard.press("Enter")
    expect(tree.get_by_text("10 standards under 2.D3.C1")).to_be_visible()
    settled(page)
    tree.get_by_text("10 standards under 2.D3.C1").focus()
    page.keyboard.press("Enter")
    standard = tree.get_by_role("checkbox", name="2.D3.C1.4")
    expect(standard).to_be_visible()
    standard.focus()
    page.keyboard.press("Space")
    assert axe_problems(page) == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_horizontal_scroll(page)
    shoot(page, "standards-tree-picker", 390)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Saved {target.code}.")).to_be_visible()
    with scopes_disabled():
        assert list(
            TargetAlignment.objects.filter(target=target).values_list(
                "item__human_coding_scheme", flat=True
            )
        ) == ["2.D3.C1.4"]
        assert FrameworkItem.objects.filter(human_coding_scheme="2.D3.C1.4").count() == 1
