"""The learning target's pages with its aligned standards (issue [13] item 2): the detail page
shows code, statement and framework; the edit form searches the visible frameworks and ticks."""

from __future__ import annotations

import pytest
from django_scopes import scope, scopes_disabled

from mastery.models import AuditEvent, FrameworkItem, Role, TargetAlignment
from mastery.standards.alignments import target_align
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from tests.factories import make_member
from tests.gradebook.pages import page, url
from tests.mastery.case.support import PACKAGE, framework_of

CASE = PACKAGE.parent

SNT1 = "e144c2e6-c0ea-11e7-95f7-5d664f4d8844"
SNT2 = "ea98ab46-c0ea-11e7-820f-a71b35976453"


def edit_url(w, target=None) -> str:
    target = target or w.targets[0]
    return url("target_edit", w, department_id=w.department.id, target_id=target.id)


def form_data(w, target=None, **overrides) -> dict:
    target = target or w.targets[0]
    data = {
        "competency": w.competency.id,
        "code": target.code,
        "statement": target.statement,
        "standard_code": "",
        "dok_level": "",
        **{f"d{v}": f"Level {v} of 1" for v in (1, 2, 3, 4)},
    }
    data.update(overrides)
    return data


def aligned(w, target=None) -> set[str]:
    with scopes_disabled():
        return {
            str(i)
            for i in TargetAlignment.objects.filter(
                school=w.school, target=target or w.targets[0]
            ).values_list("item__identifier", flat=True)
        }


def align(w, identifiers, target=None):
    with scope(school=w.school):
        target_align(
            school=w.school, target=target or w.targets[0], identifiers=identifiers, aligned_by=None
        )


def test_the_target_page_shows_the_aligned_standards_code_statement_and_framework(client, world_a):
    framework = framework_of(world_a)
    align(world_a, [SNT1])
    FrameworkItem.objects.filter(identifier=SNT1).update(is_retired=True)
    client.force_login(world_a.student_user)
    content = page(client.get(url("target_detail", world_a, target_id=world_a.targets[0].id)))
    assert "I can do thing 1." in content  # the target's own statement, beside the standard's
    assert "Aligned standards" in content
    assert "SNT.1" in content and "First Added Item" in content and framework.title in content
    assert "retired" in content
    other = page(client.get(url("target_detail", world_a, target_id=world_a.targets[1].id)))
    assert "Aligned standards" not in other


def test_a_teacher_searches_ticks_and_saves_standards_on_the_edit_form(client, world_a):
    w = world_a
    framework_of(w)
    align(w, [SNT1])
    client.force_login(w.teacher)
    content = page(client.get(edit_url(w)))
    assert 'type="search"' in content and 'name="q"' in content
    assert "Search standards (code or statement)" in content
    assert f'value="{SNT1}"' in content and "checked" in content  # the current one, ticked
    assert SNT2 not in content  # not searched for yet
    found = page(client.get(edit_url(w) + "?q=should+be+first"))
    assert f'value="{SNT2}"' in found and "Second added item, but should be first" in found
    response = client.post(edit_url(w) + "?q=should+be+first", form_data(w, case_items=[SNT2]))
    assert response.status_code == 302
    assert aligned(w) == {SNT2}
    with scopes_disabled():
        event = AuditEvent.objects.filter(school=w.school, object_type="target").latest("id")
    assert event.actor == w.teacher
    assert event.before == {"case_identifiers": [SNT1]}
    assert event.after == {"case_identifiers": [SNT2]}
    client.post(edit_url(w), form_data(w))  # nothing ticked: no standard
    assert aligned(w) == set()


def test_a_new_target_can_be_aligned_when_it_is_created(client, world_a):
    w = world_a
    framework_of(w)
    client.force_login(w.admin)
    create = url("target_create", w, department_id=w.department.id)
    response = client.post(
        create, form_data(w, code="ALPHA.N1", statement="I can compose.", case_items=[SNT1])
    )
    assert response.status_code == 302
    with scopes_disabled():
        target = w.targets[0].__class__.objects.get(school=w.school, code="ALPHA.N1")
    assert aligned(w, target) == {SNT1}


def test_an_unknown_or_foreign_identifier_is_shown_on_the_form_and_nothing_is_saved(
    client, world_a, world_b
):
    w = world_a
    framework_import(  # school A has a framework of its own (other identifiers)
        school=w.school,
        package=package_parse((CASE / "Utf8TestFramework.cfpackage.json").read_bytes()),
        source="test",
        imported_by=None,
    )
    framework_of(world_b)  # SNT1 exists, but only in school B's framework
    client.force_login(w.teacher)
    response = client.post(
        edit_url(w),
        form_data(w, statement="I can do thing 1, changed.", case_items=[SNT1, "bogus"]),
    )
    assert response.status_code == 422
    content = page(response)
    assert "bogus is not a standard of a framework this school uses" in content
    assert f"{SNT1} is not a standard of a framework this school uses" in content
    assert aligned(w) == set()
    with scopes_disabled():
        w.targets[0].refresh_from_db()
    assert w.targets[0].statement == "I can do thing 1."  # the whole save was refused


@pytest.mark.parametrize("role", ["counselor", "guardian", "student_user", "outsider_teacher"])
def test_roles_that_may_not_edit_targets_cannot_align_them(client, world_a, role):
    w = world_a
    framework_of(w)
    if role == "outsider_teacher":
        user = make_member(w.school, Role.TEACHER, "newbie@alpha.test", "Nina Newbie")
    else:
        user = getattr(w, role)
    client.force_login(user)
    assert client.get(edit_url(w) + "?q=SNT").status_code == 403
    assert client.post(edit_url(w), form_data(w, case_items=[SNT1])).status_code == 403
    assert aligned(w) == set()


def test_school_b_never_sees_school_as_target_or_its_alignments(client, world_a, world_b):
    framework_of(world_a)
    align(world_a, [SNT1])
    client.force_login(world_b.admin)
    a_target = world_a.targets[0]
    assert client.get(url("target_detail", world_b, target_id=a_target.id)).status_code == 404
    b_edit = url("target_edit", world_b, department_id=world_b.department.id, target_id=a_target.id)
    assert client.get(b_edit).status_code == 404
    assert client.post(b_edit, form_data(world_b, a_target, case_items=[])).status_code == 404
    assert aligned(world_a) == {SNT1}
    # School B's own edit form offers nothing of school A's framework.
    own = page(client.get(edit_url(world_b) + "?q=SNT"))
    assert SNT1 not in own and "Search standards" not in own  # B sees no framework at all
