"""Standards in the REST API (issue [13] item 5): frameworks and their items read only, as the
school sees them; targets created and edited with `case_identifiers`; targets filtered by the
standard they are aligned to.

North has schools alpha and its sister north2; beta has no district (its framework is its own);
gamma is South's. alpha imports the generated framework (North's) and SequenceNumberFramework.
"""

from __future__ import annotations

import json

import pytest
from django_scopes import scope, scopes_disabled

from devtools.case_package import case_package
from mastery.models import (
    AuditEvent,
    District,
    DistrictMembership,
    Framework,
    FrameworkItem,
    LearningTarget,
    Role,
    TargetAlignment,
)
from mastery.standards.alignments import target_align
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from tests.factories import make_member, make_user, make_world
from tests.mastery.case.support import PACKAGE, framework_of
from tests.site.test_api import api, assert_error, token_for, url

SNT1 = "e144c2e6-c0ea-11e7-95f7-5d664f4d8844"
SNT2 = "ea98ab46-c0ea-11e7-820f-a71b35976453"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
UTF8_ITEM = "00000000-0000-0000-0000-000000000001"  # Utf8TestFramework's only item


def imported(world, package: dict | bytes) -> Framework:
    data = package if isinstance(package, bytes) else json.dumps(package).encode()
    with scope(school=world.school):
        result = framework_import(
            school=world.school, package=package_parse(data), source="test", imported_by=None
        )
    with scopes_disabled():
        return Framework.objects.get(pk=result.framework_id)


def item(framework: Framework, code: str) -> FrameworkItem:
    with scopes_disabled():
        return FrameworkItem.objects.get(framework=framework, human_coding_scheme=code)


@pytest.fixture
def north(db):
    alpha, sister, beta, gamma = (make_world(s) for s in ("alpha", "north2", "beta", "gamma"))
    with scopes_disabled():
        north = District.objects.create(name="North", slug="north")
        south = District.objects.create(name="South", slug="south")
        for w, district in ((alpha, north), (sister, north), (gamma, south)):
            w.school.district = district
            w.school.save(update_fields=["district"])
    return {
        "alpha": alpha,
        "sister": sister,
        "beta": beta,
        "gamma": gamma,
        "generated": imported(alpha, case_package(40)),
        "snt": framework_of(alpha),
        "beta_own": imported(
            beta, (PACKAGE.parent / "Utf8TestFramework.cfpackage.json").read_bytes()
        ),
        "south": imported(gamma, case_package(12, version="south")),
    }


def targets_url(w, pk=None) -> str:
    return url(w, "targets", pk)


def body_for(w, target=None, **fields) -> dict:
    target = target or w.targets[0]
    return {
        "competency": w.competency.id,
        "code": target.code,
        "statement": target.statement,
        **fields,
    }


def aligned(w, target) -> list[str]:
    with scopes_disabled():
        return sorted(
            str(i)
            for i in TargetAlignment.objects.filter(school=w.school, target=target).values_list(
                "item__identifier", flat=True
            )
        )


# --- Frameworks and items, read only ---------------------------------------------------------------


def test_a_school_lists_its_districts_frameworks_and_never_another_schools(north):
    alpha, sister, beta = north["alpha"], north["sister"], north["beta"]
    listed = api(token_for(alpha)).get(url(alpha, "frameworks")).json()
    assert [(f["title"], f["owner"]) for f in listed["results"]] == [
        ("Generated State Standards", "district"),
        ("Sequence Number Test", "district"),
    ]
    generated = north["generated"]
    one = api(token_for(alpha)).get(url(alpha, "frameworks", generated.id)).json()
    assert (one["identifier"], one["item_count"]) == (str(generated.identifier), 40)
    # The sister school of the district sees the district's framework.
    assert api(token_for(sister)).get(url(sister, "frameworks", generated.id)).status_code == 200
    # beta's own framework, and South's, are nobody else's: 404 like a missing one.
    for other in (north["beta_own"], north["south"]):
        assert_error(api(token_for(alpha)).get(url(alpha, "frameworks", other.id)), 404)
        assert_error(api(token_for(alpha)).get(url(alpha, "frameworks", other.id, "items")), 404)
    assert [
        f["title"] for f in api(token_for(beta)).get(url(beta, "frameworks")).json()["results"]
    ] == ["UTF8 𝑑 Test"]
    assert_error(api(token_for(beta)).get(url(beta, "frameworks", generated.id)), 404)
    # Read only: frameworks come from CASE packages.
    assert api(token_for(alpha)).post(url(alpha, "frameworks"), {}).status_code == 405
    deleted = api(token_for(alpha)).delete(url(alpha, "frameworks", generated.id))
    assert deleted.status_code == 405


def test_a_frameworks_items_by_parent_search_and_identifier(north):
    alpha, generated = north["alpha"], north["generated"]
    items = url(alpha, "frameworks", generated.id, "items")
    client = api(token_for(alpha))
    every = client.get(items, {"page_size": 1000}).json()
    assert every["count"] == 40
    top = client.get(items, {"parent": "none"}).json()["results"]
    assert [(i["code"], i["depth"], i["child_count"]) for i in top] == [("G1", 1, 1)]
    domain = client.get(items, {"parent": top[0]["identifier"]}).json()["results"]
    assert [(i["code"], i["child_count"]) for i in domain] == [("1.D1", 4)]
    clusters = client.get(items, {"parent": domain[0]["identifier"]}).json()["results"]
    assert [(i["code"], i["child_count"]) for i in clusters] == [
        ("1.D1.C1", 10),
        ("1.D1.C2", 10),
        ("1.D1.C3", 10),
        ("1.D1.C4", 4),
    ]
    found = client.get(items, {"q": "1.d1.c4."}).json()["results"]
    assert [i["code"] for i in found] == [f"1.D1.C4.{n}" for n in (1, 2, 3, 4)]
    standard = item(generated, "1.D1.C2.7")
    by_id = client.get(items, {"identifier": str(standard.identifier).upper()}).json()["results"]
    assert [(i["code"], i["full_statement"]) for i in by_id] == [
        ("1.D1.C2.7", standard.full_statement)
    ]
    for bad in (
        {"parent": "G1"},
        {"identifier": "nope"},
        {"is_retired": "maybe"},
        {"q": "1.D\x00"},
    ):
        body = assert_error(client.get(items, bad), 400)
        assert set(body["errors"]) == set(bad)


def test_teachers_read_frameworks_and_families_have_no_api(north):
    alpha = north["alpha"]
    assert api(token_for(alpha, alpha.teacher)).get(url(alpha, "frameworks")).status_code == 200
    assert api(token_for(alpha, alpha.counselor)).get(url(alpha, "frameworks")).status_code == 200


# --- Targets written with their standards ----------------------------------------------------------


def test_an_admin_creates_a_target_aligned_by_case_identifier(north):
    alpha = north["alpha"]
    created = api(token_for(alpha)).post(
        targets_url(alpha),
        {
            "competency": alpha.competency.id,
            "code": "ALG.N1",
            "statement": "I can count.",
            "standard_code": "typed",
            "descriptors": {"3": "I can count to ten."},
            "case_identifiers": [SNT1, SNT2.upper()],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert sorted(i["identifier"] for i in body["case_items"]) == sorted([SNT1, SNT2])
    assert {i["code"]: i["statement"] for i in body["case_items"]} == {
        "SNT.1": "First Added Item",
        "SNT.2": "Second added item, but should be first",
    }
    assert [(d["level_value"], d["text"]) for d in body["descriptors"]] == [
        (3, "I can count to ten.")
    ]
    with scopes_disabled():
        target = LearningTarget.objects.get(school=alpha.school, code="ALG.N1")
        audit = (
            AuditEvent.objects.filter(school=alpha.school, object_id=target.id)
            .order_by("id")
            .last()
        )
    assert audit.after == {"case_identifiers": sorted([SNT1, SNT2])}
    assert audit.actor == alpha.admin and audit.source == "api"
    # The same POST again: refused by its code, nothing new.
    again = api(token_for(alpha)).post(
        targets_url(alpha),
        {"competency": alpha.competency.id, "code": "ALG.N1", "statement": "I can count."},
        content_type="application/json",
    )
    assert "code" in assert_error(again, 400)["errors"]
    with scopes_disabled():
        assert LearningTarget.objects.filter(school=alpha.school, code="ALG.N1").count() == 1


def test_a_patch_replaces_the_standards_and_leaves_out_means_unchanged(north):
    alpha = north["alpha"]
    target = alpha.targets[0]
    client = api(token_for(alpha, alpha.teacher))  # a teacher of the department
    patched = client.patch(
        targets_url(alpha, target.id), {"case_identifiers": [SNT1]}, content_type="application/json"
    )
    assert patched.status_code == 200, patched.content
    assert [i["code"] for i in patched.json()["case_items"]] == ["SNT.1"]
    client.patch(
        targets_url(alpha, target.id), {"case_identifiers": [SNT2]}, content_type="application/json"
    )
    assert aligned(alpha, target) == [SNT2]
    renamed = client.patch(
        targets_url(alpha, target.id),
        {"statement": "I can factor."},
        content_type="application/json",
    )
    assert renamed.json()["statement"] == "I can factor."
    assert aligned(alpha, target) == [SNT2]  # left out: untouched
    client.patch(
        targets_url(alpha, target.id), {"case_identifiers": []}, content_type="application/json"
    )
    assert aligned(alpha, target) == []


def test_an_unknown_or_foreign_identifier_is_a_400_naming_it_and_nothing_changes(north):
    alpha = north["alpha"]
    target = alpha.targets[0]
    with scope(school=alpha.school):
        target_align(school=alpha.school, target=target, identifiers=[SNT1])
    before = target.statement
    client = api(token_for(alpha))
    for wrong in (UNKNOWN, UTF8_ITEM, "not-an-identifier"):  # UTF8_ITEM: beta's own framework
        refused = client.patch(
            targets_url(alpha, target.id),
            {"statement": "I can change.", "case_identifiers": [SNT2, wrong]},
            content_type="application/json",
        )
        body = assert_error(refused, 400)
        assert any(wrong in message for message in body["errors"]["case_identifiers"]), body
    created = client.post(
        targets_url(alpha),
        body_for(alpha, code="NEW.1", case_identifiers=[UNKNOWN]),
        content_type="application/json",
    )
    assert UNKNOWN in assert_error(created, 400)["errors"]["case_identifiers"][0]
    with scopes_disabled():
        target.refresh_from_db()
        assert not LearningTarget.objects.filter(school=alpha.school, code="NEW.1").exists()
    assert (target.statement, aligned(alpha, target)) == (before, [SNT1])


def test_a_retired_item_is_refused_for_a_new_alignment_and_kept_on_an_old_one(north):
    alpha = north["alpha"]
    first, second = alpha.targets[0], alpha.targets[1]
    with scope(school=alpha.school):
        target_align(school=alpha.school, target=first, identifiers=[SNT1])
    FrameworkItem.objects.filter(identifier=SNT1).update(is_retired=True)
    client = api(token_for(alpha))
    refused = client.patch(
        targets_url(alpha, second.id), {"case_identifiers": [SNT1]}, content_type="application/json"
    )
    assert "retired" in assert_error(refused, 400)["errors"]["case_identifiers"][0]
    kept = client.patch(
        targets_url(alpha, first.id),
        {"case_identifiers": [SNT1, SNT2]},
        content_type="application/json",
    )
    assert kept.status_code == 200
    assert {i["code"]: i["is_retired"] for i in kept.json()["case_items"]} == {
        "SNT.1": True,
        "SNT.2": False,
    }


@pytest.mark.parametrize("who", ["counselor", "outsider_teacher", "district"])
def test_who_may_not_write_targets(north, who):
    alpha = north["alpha"]
    target = alpha.targets[0]
    if who == "district":
        with scopes_disabled():
            user = make_user("chief@north.test", "Chief North")
            DistrictMembership.objects.create(district=alpha.school.district, user=user)
    elif who == "outsider_teacher":  # a teacher of no course of the department
        user = make_member(alpha.school, Role.TEACHER, "newbie@alpha.test", "Nina Newbie")
    else:
        user = getattr(alpha, who)
    client = api(token_for(alpha, user))
    assert client.get(targets_url(alpha, target.id)).status_code == 200  # reads
    refused = client.patch(
        targets_url(alpha, target.id), {"case_identifiers": [SNT1]}, content_type="application/json"
    )
    assert_error(refused, 403)
    created = client.post(
        targets_url(alpha), body_for(alpha, code="X.1"), content_type="application/json"
    )
    assert_error(created, 403)
    assert aligned(alpha, target) == []
    with scopes_disabled():
        assert not LearningTarget.objects.filter(school=alpha.school, code="X.1").exists()


def test_school_b_cannot_write_or_filter_school_a_targets(north):
    alpha, beta = north["alpha"], north["beta"]
    target = alpha.targets[0]
    client = api(token_for(beta))
    assert_error(
        client.patch(
            url(alpha, "targets", target.id),
            {"case_identifiers": [SNT1]},
            content_type="application/json",
        ),
        404,
    )
    assert_error(
        client.patch(
            url(beta, "targets", target.id),
            {"case_identifiers": [SNT1]},
            content_type="application/json",
        ),
        404,
    )
    assert aligned(alpha, target) == []


def test_targets_filter_by_case_identifier(north):
    alpha = north["alpha"]
    with scope(school=alpha.school):
        target_align(school=alpha.school, target=alpha.targets[1], identifiers=[SNT1, SNT2])
        target_align(school=alpha.school, target=alpha.targets[2], identifiers=[SNT2])
    client = api(token_for(alpha))
    one = client.get(targets_url(alpha), {"case_identifier": SNT1.upper()}).json()["results"]
    assert [t["code"] for t in one] == [alpha.targets[1].code]
    two = client.get(targets_url(alpha), {"case_identifier": SNT2}).json()["results"]
    assert [t["code"] for t in two] == [alpha.targets[1].code, alpha.targets[2].code]
    assert client.get(targets_url(alpha), {"case_identifier": UNKNOWN}).json()["results"] == []
    body = assert_error(client.get(targets_url(alpha), {"case_identifier": "SNT.1"}), 400)
    assert "SNT.1" in body["errors"]["case_identifier"][0]
