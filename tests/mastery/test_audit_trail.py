"""The audit trail can never be edited, and it is shown in the cell detail and to school admins."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import Evidence
from gradebook.services.evidence import evidence_void
from grading.services import policy_change
from mastery import audit
from mastery.models import AuditEvent, AuditTrailIsAppendOnly, District, DistrictMembership
from mastery.tenancy import enter_school
from tests.factories import make_evidence, make_user
from tests.mastery.audit import Type, events

# --- Helpers ---------------------------------------------------------------------------------------


def in_school_and_walls(w):
    """The school's scope and its row-level security wall (raw SQL sees only that school)."""
    return enter_school(w.school)


# --- Never editable --------------------------------------------------------------------------------


def test_events_cannot_be_changed_or_deleted_through_the_orm(world_a):
    event = events(world_a)[0]
    event.summary = "rewritten"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with scopes_disabled():
        with pytest.raises(AuditTrailIsAppendOnly):
            AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
        with pytest.raises(AuditTrailIsAppendOnly):
            AuditEvent.objects.filter(pk=event.pk).delete()
        with pytest.raises(AuditTrailIsAppendOnly):
            AuditEvent.objects.update_or_create(pk=event.pk, defaults={"summary": "rewritten"})
        assert AuditEvent.objects.get(pk=event.pk).summary != "rewritten"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE mastery_auditevent SET summary = 'rewritten' WHERE id = %s",
        "UPDATE mastery_auditevent SET actor_id = NULL, after = NULL WHERE id = %s",
        "DELETE FROM mastery_auditevent WHERE id = %s",
    ],
)
def test_events_cannot_be_changed_or_deleted_even_with_raw_sql(world_a, sql):
    event = events(world_a)[0]
    refused = pytest.raises(DatabaseError, match="append-only")
    with in_school_and_walls(world_a), refused, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, [event.id])
    with scopes_disabled():
        assert AuditEvent.objects.get(pk=event.pk).summary == event.summary


def test_a_school_goes_with_its_trail_only_when_the_deletion_says_so(world_b):

    with scope(school=world_b.school):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            world_b.school.delete()
        with transaction.atomic():
            Evidence.objects.filter(school=world_b.school).update(replaces=None)
            audit.allow_purge()
            world_b.school.delete()
    with scopes_disabled():
        assert not AuditEvent.objects.filter(school_id=world_b.school.id).exists()


def test_the_admin_shows_events_read_only(client, world_a):
    event = events(world_a)[0]
    client.force_login(world_a.admin)
    assert client.get(reverse("admin:mastery_auditevent_changelist")).status_code == 200
    page = client.get(reverse("admin:mastery_auditevent_change", args=[event.pk]))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    deleting = reverse("admin:mastery_auditevent_delete", args=[event.pk])
    assert client.post(deleting, {"post": "yes"}).status_code == 403
    assert events(world_a)[0] == event


# --- Where it is shown -----------------------------------------------------------------------------


def test_the_cell_detail_shows_the_history_of_the_cell(client, world_a):
    w = world_a
    make_evidence(w, w.student, score="2")
    evidence = make_evidence(w, w.student, score="3").evidence
    with scope(school=w.school):
        evidence_void(school=w.school, evidence_id=evidence.id, voided_by=w.teacher, reason="Oops")
    make_evidence(w, w.student, w.targets[1], "4")  # another cell: not in this history
    client.force_login(w.teacher)
    url = reverse(
        "gradebook:cell_detail",
        kwargs={
            "school_slug": "alpha",
            "section_id": w.section.id,
            "student_id": w.student.id,
            "target_id": w.targets[0].id,
        },
    )
    response = client.get(url)
    assert response.status_code == 200
    history = response.content.decode().split('id="audit-h"')[1].split("</section>")[0]
    assert history.count("<li>") == 3
    assert "Voided" in history and "Oops" in history
    assert "Replaced" in history and "2 → 3" in history
    assert "Tess Teacher" in history and "”: 4" not in history


def audit_url(w, **query) -> str:
    url = reverse("audit_log", kwargs={"school_slug": w.school.slug})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize(
    ("member", "status"),
    [
        ("admin", 200),
        ("teacher", 403),
        ("counselor", 403),
        ("guardian", 403),
        ("student_user", 403),
    ],
)
def test_the_audit_page_is_for_school_admins(client, world_a, member, status):
    client.force_login(getattr(world_a, member))
    assert client.get(audit_url(world_a)).status_code == status


def test_district_admins_read_the_audit_page_of_their_schools(client, world_a):
    district = District.objects.create(name="North", slug="north")
    world_a.school.district = district
    world_a.school.save()
    chief = make_user("chief@north.test", "Chief")
    DistrictMembership.objects.create(district=district, user=chief)
    client.force_login(chief)
    assert client.get(audit_url(world_a)).status_code == 200


def test_the_audit_page_lists_its_schools_changes_only_newest_first(client, world_a, world_b):
    with scope(school=world_a.school):
        policy_change(school=world_a.school, changed_by=world_a.admin, weight=70, note="alpha-one")
        policy_change(school=world_a.school, changed_by=world_a.admin, weight=75, note="alpha-two")
    with scope(school=world_b.school):
        policy_change(
            school=world_b.school, changed_by=world_b.admin, weight=90, note="beta-secret"
        )
    make_evidence(world_b, world_b.student, score="2")
    client.force_login(world_a.admin)
    body = client.get(audit_url(world_a)).content.decode()
    assert "alpha-two" in body and "alpha-one" in body
    assert body.index("alpha-two") < body.index("alpha-one")
    assert "beta-secret" not in body and "Summative" not in body  # beta's score neither
    assert "weight:</span> 70 → 75" in body


def test_the_audit_page_filters_by_kind_person_and_dates(client, world_a):
    w = world_a
    make_evidence(w, w.student, score="3")
    with scope(school=w.school):
        policy_change(school=w.school, changed_by=w.admin, weight=70, note="by-admin")
    long_ago = timezone.now() - timedelta(days=40)
    audit.record(
        school=w.school,
        action="update",
        object_type=Type.TARGET,
        summary="long-ago-change",
        actor=w.teacher,
        at=long_ago,
    )
    client.force_login(w.admin)

    def shown(**query) -> str:
        return client.get(audit_url(w, **query)).content.decode()

    only_policy = shown(type="policy")
    assert "by-admin" in only_policy and "Summative" not in only_policy
    by_teacher = shown(actor=w.teacher.id)
    assert "Summative" in by_teacher and "by-admin" not in by_teacher
    assert "4-point mastery scale" in shown(actor="system") and "by-admin" not in shown(
        actor="system"
    )
    day = (long_ago - timedelta(days=1)).date().isoformat()
    old = shown(since=day, until=(long_ago + timedelta(days=1)).date().isoformat())
    assert "long-ago-change" in old and "by-admin" not in old
    assert "long-ago-change" not in shown(since=timezone.localdate().isoformat())


def test_the_audit_page_is_paginated(client, world_a):
    w = world_a
    now = timezone.now()
    audit.record_many(
        audit.event(
            school=w.school,
            action="update",
            object_type=Type.TARGET,
            summary=f"change number {i:02}",
            at=now - timedelta(minutes=i),
        )
        for i in range(60)
    )
    client.force_login(w.admin)
    first = client.get(audit_url(w)).content.decode()
    assert first.count("<tr>") == 1 + 50  # the header and a page of events
    assert "change number 00" in first and "change number 59" not in first
    assert 'rel="next"' in first and "(63 changes)" in first  # with the school's first three
    second = client.get(audit_url(w, page=2)).content.decode()
    assert second.count("<tr>") == 1 + 13
    assert "change number 59" in second and "change number 00" not in second


def test_the_school_home_links_the_audit_page_for_school_admins_only(client, world_a):
    home = reverse("school_home", kwargs={"school_slug": "alpha"})
    client.force_login(world_a.admin)
    assert audit_url(world_a).encode() in client.get(home).content
    client.force_login(world_a.teacher)
    assert audit_url(world_a).encode() not in client.get(home).content


@pytest.mark.parametrize("count", [3, 40])  # bulk_create, and one INSERT of arrays on PostgreSQL
def test_events_recorded_in_bulk_read_back_as_written(world_a, count):
    w = world_a
    at = timezone.now() - timedelta(hours=1)
    audit.record_many(
        audit.event(
            school=w.school,
            action="build",
            object_type=Type.ROSTER,
            object_id=7,
            student_id=i,
            actor=w.counselor,
            before=None if i % 2 else {"Wednesday": "enrichment (wait list)"},
            after={"Wednesday": f"T{i} re-teach", "score": audit.plain(Decimal("2.50"))},
            summary=f"bulk {i}",
            source="roster build",
            at=at,
        )
        for i in range(count)
    )
    written = events(w, Type.ROSTER)
    assert len(written) == count
    last = written[-1]
    assert (last.at, last.actor, last.student_id, last.summary) == (
        at,
        w.counselor,
        count - 1,
        f"bulk {count - 1}",
    )
    assert last.after == {"Wednesday": f"T{count - 1} re-teach", "score": "2.5"}
    assert written[1].before is None
    assert written[0].before == {"Wednesday": "enrichment (wait list)"}


@pytest.mark.parametrize(
    ("query", "wrong"),
    [
        ({"until": "9999-12-31"}, "until"),  # the day after overflowed (500)
        ({"since": "0001-01-01"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"actor": str(2**63)}, "actor"),  # OverflowError on SQLite
        ({"actor": "²"}, "actor"),  # "²".isdigit(), int("²") raised
        ({"type": "nothing-of-the-kind"}, "type"),
    ],
)
def test_an_audit_filter_its_form_never_sends_is_a_400_listing_nothing(
    client, world_a, query, wrong
):
    w = world_a
    make_evidence(w, w.student, score="3")
    client.force_login(w.admin)
    response = client.get(audit_url(w, **query))
    assert response.status_code == 400
    body = response.content.decode()
    assert f"{wrong}: " in body and "No changes match." in body
