"""Learning targets aligned to standards of a CASE framework (issue [13] item 2): the service,
its refusals, its audit, the model's keys and the CSV column."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django_scopes import scope, scopes_disabled

from mastery.models import (
    AuditEvent,
    District,
    FrameworkItem,
    LearningTarget,
    School,
    TargetAlignment,
)
from mastery.services import api_token_create, targets_import_csv
from mastery.standards.alignments import split_identifiers, target_align
from mastery.standards.selectors import alignment_search, target_alignments
from tests.mastery.case.support import framework_of

SNT1 = "e144c2e6-c0ea-11e7-95f7-5d664f4d8844"
SNT2 = "ea98ab46-c0ea-11e7-820f-a71b35976453"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

CSV_HEADER = (
    "competency,target code,statement,standard code,"
    "descriptor 1,descriptor 2,descriptor 3,descriptor 4,case_identifiers\n"
)


def align(world, target, identifiers, by=None):
    with scope(school=world.school):
        return target_align(
            school=world.school, target=target, identifiers=identifiers, aligned_by=by
        )


def aligned(world, target) -> list[str]:
    with scope(school=world.school):
        return [str(a.item.identifier) for a in target_alignments(world.school, target)]


def target_events(world, target):
    with scopes_disabled():
        return list(
            AuditEvent.objects.filter(
                school=world.school, object_type="target", object_id=target.id
            ).order_by("id")
        )


def import_csv(world, content: str, *, dry_run=False):
    with scope(school=world.school):
        return targets_import_csv(
            school=world.school,
            department=world.department,
            data=content.encode(),
            dry_run=dry_run,
        )


# --- The service ------------------------------------------------------------------------------------


def test_it_aligns_a_target_by_identifier_and_reads_code_statement_and_framework(world_a):
    framework = framework_of(world_a)
    target = world_a.targets[0]
    align(world_a, target, [SNT2, SNT1.upper()], by=world_a.teacher)
    with scope(school=world_a.school):
        rows = target_alignments(world_a.school, target)
    assert sorted(str(a.item.identifier) for a in rows) == sorted([SNT1, SNT2])
    assert {
        a.item.human_coding_scheme: (a.item.full_statement, a.item.framework) for a in rows
    } == {
        "SNT.1": ("First Added Item", framework),
        "SNT.2": ("Second added item, but should be first", framework),
    }
    assert {a.created_by for a in rows} == {world_a.teacher}
    with scope(school=world_a.school):
        target.refresh_from_db()
    assert target.statement == "I can do thing 1."  # the target keeps its own statement


def test_re_aligning_replaces_the_set_and_is_audited_with_the_identifiers(world_a):
    framework_of(world_a)
    target = world_a.targets[0]
    align(world_a, target, [SNT1], by=world_a.admin)
    align(world_a, target, [SNT2], by=world_a.admin)
    align(world_a, target, [SNT2], by=world_a.admin)  # no change, no event
    assert aligned(world_a, target) == [SNT2]
    events = target_events(world_a, target)
    assert [(e.before, e.after) for e in events] == [
        ({"case_identifiers": []}, {"case_identifiers": [SNT1]}),
        ({"case_identifiers": [SNT1]}, {"case_identifiers": [SNT2]}),
    ]
    assert events[-1].actor == world_a.admin and events[-1].action == AuditEvent.Action.UPDATE
    assert "SNT.2" in events[-1].summary
    align(world_a, target, [])
    assert aligned(world_a, target) == []
    assert target_events(world_a, target)[-1].after == {"case_identifiers": []}


def test_an_unknown_identifier_is_refused_and_nothing_changes(world_a):
    framework_of(world_a)
    target = world_a.targets[0]
    align(world_a, target, [SNT1])
    for bad in (UNKNOWN, "not-a-uuid"):
        with pytest.raises(ValidationError) as refused:
            align(world_a, target, [SNT2, bad])
        assert f"{bad} is not a standard of a framework this school uses" in str(
            refused.value.message_dict["case_items"]
        )
    assert aligned(world_a, target) == [SNT1]
    assert len(target_events(world_a, target)) == 1


def test_an_item_of_another_schools_framework_is_refused(world_a, world_b):
    framework_of(world_b)  # only school B has the framework
    with pytest.raises(ValidationError, match="not a standard of a framework this school uses"):
        align(world_a, world_a.targets[0], [SNT1])
    with scopes_disabled():
        assert not TargetAlignment.objects.exists()


def test_an_item_of_another_districts_framework_is_refused_and_the_own_districts_allowed(
    world_a, world_b
):
    river = District.objects.create(name="River Valley", slug="river-valley")
    hill = District.objects.create(name="Hill County", slug="hill-county")
    School.objects.filter(pk=world_a.school.pk).update(district=river)
    School.objects.filter(pk=world_b.school.pk).update(district=hill)
    world_a.school.refresh_from_db()
    world_b.school.refresh_from_db()
    assert framework_of(world_b).owner_district == hill
    with pytest.raises(ValidationError):
        align(world_a, world_a.targets[0], [SNT1])
    with scope(school=world_a.school):
        assert list(alignment_search(world_a.school, "SNT")) == []
    sister = School.objects.create(name="Hill High", slug="hill-high", district=hill)
    target = LearningTarget.objects.create(
        school=sister, competency=world_b.competency, code="HH.1", statement="I can."
    )
    with scope(school=sister):
        target_align(school=sister, target=target, identifiers=[SNT1], aligned_by=None)
        assert [a.item.human_coding_scheme for a in target_alignments(sister, target)] == ["SNT.1"]


def test_a_retired_item_stays_aligned_but_cannot_be_newly_chosen(world_a):
    framework_of(world_a)
    target, other = world_a.targets[0], world_a.targets[1]
    align(world_a, target, [SNT1])
    FrameworkItem.objects.filter(identifier=SNT1).update(is_retired=True)
    align(world_a, target, [SNT1, SNT2])  # kept, and another added
    with scope(school=world_a.school):
        rows = target_alignments(world_a.school, target)
    assert {str(a.item.identifier): a.item.is_retired for a in rows} == {SNT1: True, SNT2: False}
    with pytest.raises(ValidationError, match="SNT.1 is retired"):
        align(world_a, other, [SNT1])
    with scope(school=world_a.school):
        assert SNT1 not in [str(i.identifier) for i in alignment_search(world_a.school, "SNT")]


def test_a_target_of_another_school_is_refused(world_a, world_b):
    framework_of(world_a)
    with pytest.raises(ValidationError):
        align(world_a, world_b.targets[0], [SNT1])


def test_one_item_is_aligned_once_per_target(world_a):
    framework_of(world_a)
    target = world_a.targets[0]
    align(world_a, target, [SNT1, SNT1, SNT1.upper()])
    assert aligned(world_a, target) == [SNT1]
    item = FrameworkItem.objects.get(identifier=SNT1)
    with scopes_disabled(), pytest.raises(IntegrityError), transaction.atomic():
        TargetAlignment.objects.create(school=world_a.school, target=target, item=item)


def test_the_database_refuses_an_alignment_to_another_schools_target(world_a, world_b):
    """The composite key (school_id, target_id) of the Citus rules."""
    framework_of(world_a)
    item = FrameworkItem.objects.get(identifier=SNT1)
    with scopes_disabled(), pytest.raises(IntegrityError), transaction.atomic():
        TargetAlignment.objects.create(school=world_a.school, target=world_b.targets[0], item=item)
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_identifiers_are_split_on_spaces_semicolons_and_commas():
    assert split_identifiers(f" {SNT1};{SNT2}  ; {UNKNOWN}, x ") == [SNT1, SNT2, UNKNOWN, "x"]
    assert split_identifiers("") == []


# --- The CSV column ----------------------------------------------------------------------------------


def test_the_csv_column_aligns_new_and_existing_targets(world_a):
    framework_of(world_a)
    report = import_csv(
        world_a,
        CSV_HEADER
        + f"Functions,ALPHA.F1,I can read a graph.,,,,,,{SNT1}; {SNT2}\n"
        + f"Functions,ALPHA.N1,I can compose.,,,,,,{SNT2}\n"
        + "Functions,ALPHA.N2,I can invert.,,,,,,\n",
    )
    assert report.ok, report.errors
    with scopes_disabled():
        n1 = LearningTarget.objects.get(school=world_a.school, code="ALPHA.N1")
        n2 = LearningTarget.objects.get(school=world_a.school, code="ALPHA.N2")
    assert sorted(aligned(world_a, world_a.targets[0])) == sorted([SNT1, SNT2])
    assert aligned(world_a, n1) == [SNT2]
    assert aligned(world_a, n2) == []


def test_a_bad_identifier_refuses_the_whole_file_and_writes_nothing(world_a, world_b):
    framework_of(world_b)  # SNT2 is school B's, not school A's
    content = (
        CSV_HEADER
        + "Functions,ALPHA.N1,I can compose.,,,,,,\n"
        + f"Functions,ALPHA.N2,I can invert.,,,,,,{UNKNOWN}\n"
        + f"Functions,ALPHA.F1,I can read a graph.,,,,,,{SNT2}\n"
    )
    with scopes_disabled():
        before = LearningTarget.objects.filter(school=world_a.school).count()
        events = AuditEvent.objects.filter(school=world_a.school).count()
    report = import_csv(world_a, content)
    assert report.errors == [
        (3, f"The CASE identifier {UNKNOWN} is not a standard of a framework this school uses."),
        (4, f"The CASE identifier {SNT2} is not a standard of a framework this school uses."),
    ]
    with scopes_disabled():
        assert LearningTarget.objects.filter(school=world_a.school).count() == before
        assert AuditEvent.objects.filter(school=world_a.school).count() == events
        assert not TargetAlignment.objects.exists()


def test_without_the_column_an_import_leaves_alignments_alone(world_a):
    framework_of(world_a)
    align(world_a, world_a.targets[0], [SNT1])
    report = import_csv(
        world_a,
        "competency,target code,statement,standard code,"
        "descriptor 1,descriptor 2,descriptor 3,descriptor 4\n"
        "Functions,ALPHA.F1,I can read a graph.,,,,,\n",
    )
    assert report.ok and report.updated == 1
    assert aligned(world_a, world_a.targets[0]) == [SNT1]


# --- The API ----------------------------------------------------------------------------------------


def test_the_targets_resource_shows_the_aligned_standards(world_a, world_b):
    framework = framework_of(world_a)
    align(world_a, world_a.targets[0], [SNT1])
    with scope(school=world_a.school):
        _, raw = api_token_create(school=world_a.school, user=world_a.admin, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    base = f"/api/v1/schools/{world_a.school.slug}/targets/"
    listed = client.get(base).json()["results"]
    by_code = {t["code"]: t for t in listed}
    assert by_code[world_a.targets[0].code]["case_items"] == [
        {
            "identifier": SNT1,
            "code": "SNT.1",
            "statement": "First Added Item",
            "framework": framework.title,
            "is_retired": False,
        }
    ]
    assert by_code[world_a.targets[1].code]["case_items"] == []
    one = f"{base}{world_a.targets[0].id}/"
    assert client.get(one).json()["case_items"][0]["identifier"] == SNT1
    # case_items is what the target shows; alignments are written as case_identifiers
    # (tests/mastery/test_standards_api.py): the shown field written back changes nothing.
    assert client.patch(one, {"case_items": []}, content_type="application/json").status_code == 200
    assert aligned(world_a, world_a.targets[0]) == [SNT1]
