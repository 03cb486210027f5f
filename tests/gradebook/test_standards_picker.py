"""The target form's tree picker (issue [13] item 2): a framework's isChildOf tree browsed one level
at a time, with or without JavaScript, beside the search; a search that finds nothing says so.

alpha imports a generated framework of 5,000 items (a state framework's size): G1…G20 → domains
→ clusters → standards; the form must stay a page, not 5,000 checkboxes.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scope, scopes_disabled

from devtools.case_package import case_package
from mastery.models import Framework, FrameworkItem, Role
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from tests.factories import make_member
from tests.gradebook.pages import page, url
from tests.mastery.case.support import PACKAGE

# The tree's checkboxes (the "Aligned standards" list above has Django's own).
CHECKBOX = re.compile(
    r'<input type="checkbox" class="standards-tick" name="case_items" value="([0-9a-f-]+)"'
)


@pytest.fixture(scope="module")
def state_package() -> bytes:
    return json.dumps(case_package(5000)).encode()


def imported(w, data: bytes) -> Framework:
    with scope(school=w.school):
        result = framework_import(
            school=w.school, package=package_parse(data), source="test", imported_by=None
        )
    with scopes_disabled():
        return Framework.objects.get(pk=result.framework_id)


def item(framework, code: str) -> FrameworkItem:
    with scopes_disabled():
        return FrameworkItem.objects.get(framework=framework, human_coding_scheme=code)


def edit_url(w, target=None, **query) -> str:
    base = url(
        "target_edit", w, department_id=w.department.id, target_id=(target or w.targets[0]).id
    )
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def form_data(w, **overrides) -> dict:
    target = w.targets[0]
    return {
        "competency": w.competency.id,
        "code": target.code,
        "statement": target.statement,
        "standard_code": "",
        "dok_level": "",
        **{f"d{v}": f"Level {v} of 1" for v in (1, 2, 3, 4)},
        **overrides,
    }


@pytest.fixture
def state(world_a, state_package) -> Framework:
    return imported(world_a, state_package)


def test_the_form_lists_each_framework_closed_and_a_branch_opens_one_level(client, world_a, state):
    w = world_a
    client.force_login(w.teacher)
    with CaptureQueriesContext(connection) as closed_queries:
        closed = page(client.get(edit_url(w)))
    assert len(closed_queries) <= 12  # the form's own, the frameworks listed: no tree
    assert "Browse the frameworks" in closed and "Generated State Standards" in closed
    assert "(5000 standards)" in closed
    assert CHECKBOX.findall(closed) == []  # nothing of the tree is read until it is opened
    # Without JavaScript: the framework's link opens its top level (20 grades) in the page.
    top = page(client.get(edit_url(w, framework=state.id)))
    grades = [i.human_coding_scheme for i in FrameworkItem.objects.filter(framework=state, depth=1)]
    assert len(CHECKBOX.findall(top)) == len(grades) == 23  # 226 items a grade
    g1 = item(state, "G1")
    assert f"open={g1.identifier}" in top and "5 standards under G1" in top
    # With htmx: the same URL answers only that level, as a fragment.
    fragment = client.get(
        edit_url(w, framework=state.id, open=g1.identifier), HTTP_HX_REQUEST="true"
    )
    body = page(fragment)
    assert fragment.status_code == 200 and "<html" not in body and "<form" not in body
    assert CHECKBOX.findall(body) == [
        str(i.identifier)
        for i in FrameworkItem.objects.filter(
            framework=state, parent_identifier=g1.identifier
        ).order_by("position")
    ]
    assert "1.D1" in body and "4 standards under 1.D1" in body


def test_a_deep_branch_opens_with_its_path_without_javascript_in_few_queries(
    client, world_a, state
):
    w = world_a
    client.force_login(w.teacher)
    cluster = item(state, "3.D2.C4")
    with CaptureQueriesContext(connection) as closed:
        client.get(edit_url(w))
    closed_count = len(closed)
    with CaptureQueriesContext(connection) as queries:
        content = page(client.get(edit_url(w, framework=state.id, open=cluster.identifier)))
    # The opened item, its 2 ancestors, and 4 levels (top, G3's, 3.D2's, 3.D2.C4's): 7 more.
    assert len(queries) == closed_count + 7
    boxes = CHECKBOX.findall(content)
    # The path is open: the 23 grades, grade 3's 5 domains, 3.D2's 4 clusters, 3.D2.C4's 10
    # standards. Nothing else of 5,000 items.
    assert len(boxes) == 23 + 5 + 4 + 10
    assert str(item(state, "3.D2.C4.7").identifier) in boxes
    assert str(item(state, "3.D2.C3.7").identifier) not in boxes  # a closed sibling's child
    assert content.count("<details open") == 1 + 3  # the framework, G3, 3.D2, 3.D2.C4


def test_a_standard_ticked_in_the_tree_is_aligned_on_save(client, world_a, state):
    w = world_a
    client.force_login(w.teacher)
    standard = item(state, "1.D1.C2.3")
    response = client.post(
        edit_url(w, framework=state.id, open=item(state, "1.D1.C2").identifier),
        form_data(w, case_items=[str(standard.identifier)]),
    )
    assert response.status_code == 302
    with scopes_disabled():
        assert [a.item for a in w.targets[0].standard_alignments.all()] == [standard]
    # Back on the form, the tree shows it as aligned (its tick lives in "Aligned standards").
    again = page(
        client.get(edit_url(w, framework=state.id, open=item(state, "1.D1.C2").identifier))
    )
    assert str(standard.identifier) not in CHECKBOX.findall(again)
    assert "Aligned: untick it under “Aligned standards” to remove it." in again
    assert f'value="{standard.identifier}"' in again and "checked" in again


def test_a_refused_save_keeps_what_was_ticked_in_the_tree(client, world_a, state):
    w = world_a
    client.force_login(w.teacher)
    standard = item(state, "1.D1.C2.3")
    refused = client.post(
        edit_url(w, framework=state.id),
        form_data(w, statement="", case_items=[str(standard.identifier)]),
    )
    assert refused.status_code == 422
    content = page(refused)
    assert re.search(rf'value="{standard.identifier}"[^>]*checked', content)
    with scopes_disabled():
        assert not w.targets[0].standard_alignments.exists()


def test_a_search_that_finds_nothing_says_so(client, world_a, state):
    w = world_a
    client.force_login(w.teacher)
    content = page(client.get(edit_url(w, q="zebra")))
    assert "No standards match “zebra”." in content
    found = page(client.get(edit_url(w, q="3.D2.C4.10")))
    assert "No standards match" not in found
    assert "2 standards match “3.D2.C4.10”" in found  # and 13.D2.C4.10
    # A NUL pasted into the search (PostgreSQL text cannot hold one) is a search, not a 500.
    pasted = client.get(edit_url(w, q="zebra\x00"))
    assert pasted.status_code == 200
    assert "No standards match" in page(pasted)


def test_school_b_and_the_wrong_roles_never_browse_school_as_tree(client, world_a, world_b):
    a_framework = imported(world_a, PACKAGE.read_bytes())
    b_framework = imported(world_b, json.dumps(case_package(30)).encode())
    w = world_a
    client.force_login(w.teacher)
    # School B's framework is no branch of school A's form: 404 for htmx, a closed tree without.
    assert (
        client.get(edit_url(w, framework=b_framework.id), HTTP_HX_REQUEST="true").status_code == 404
    )
    assert "Generated State Standards" not in page(
        client.get(edit_url(w, framework=b_framework.id))
    )
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        client.get(
            edit_url(w, framework=a_framework.id, open=missing), HTTP_HX_REQUEST="true"
        ).status_code
        == 404
    )
    assert (
        client.get(
            edit_url(w, framework=a_framework.id, open="not-an-id"), HTTP_HX_REQUEST="true"
        ).status_code
        == 404
    )
    # School B's teacher: school A's form is not theirs (404), whatever the branch.
    client.force_login(world_b.teacher)
    assert (
        client.get(edit_url(w, framework=a_framework.id), HTTP_HX_REQUEST="true").status_code == 404
    )
    # A counselor, and a teacher of no course of the department: 403, like the form.
    for user in (
        w.counselor,
        make_member(w.school, Role.TEACHER, "newbie@alpha.test", "Nina Newbie"),
    ):
        client.force_login(user)
        branch = client.get(edit_url(w, framework=a_framework.id), HTTP_HX_REQUEST="true")
        assert branch.status_code == 403


def test_the_import_page_explains_the_case_identifiers_column(client, world_a):
    client.force_login(world_a.teacher)
    content = page(client.get(url("target_import", world_a, department_id=world_a.department.id)))
    assert "case_identifiers" in content and "CASE identifiers" in content


def test_a_hurried_teacher_opening_a_branch_twice_gets_the_same_level(client, world_a, state):
    w = world_a
    client.force_login(w.teacher)
    g2 = item(state, "G2")
    first, second = (
        page(
            client.get(edit_url(w, framework=state.id, open=g2.identifier), HTTP_HX_REQUEST="true")
        )
        for _ in range(2)
    )
    assert first == second and len(CHECKBOX.findall(first)) == 5
