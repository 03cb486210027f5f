"""The alerts outbox (mastery.outbox, issue [17]): what a family, a student or a staff member may
hear about is recorded by the service in the change's own transaction — rolled back, nothing;
unchanged, nothing; a bulk change, nothing — and always in the change's own school."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_scopes import scope, scopes_disabled

from gradebook.selectors.reassessment import BY_STUDENT
from gradebook.services.grid import evidence_fill, feedback_save
from gradebook.services.requests import request_create, request_decline, request_withdraw
from intervention.models import InterventionGroup, RosterEntry
from intervention.services import entry_move
from mastery import audit, outbox
from mastery.models import AlertEvent
from tests.factories import make_evidence, make_reassessable
from tests.intervention.support import build, configure, set_mastery

pytestmark = pytest.mark.django_db
Kind = AlertEvent.Kind


def events(world=None) -> list[tuple[str, int | None, int | None]]:
    with scopes_disabled():
        rows = AlertEvent.objects.order_by("id")
        if world is not None:
            rows = rows.filter(school=world.school)
        return [(e.kind, e.student_id, e.object_id) for e in rows]


def test_a_score_is_news_for_the_students_family_once(world_a):
    result = make_evidence(world_a, world_a.student, world_a.targets[0], "3")
    assert events() == [(Kind.SCORE, world_a.student.pk, result.evidence.pk)]
    with scopes_disabled():
        event = AlertEvent.objects.get()
    assert event.school_id == world_a.school.pk
    assert event.details["score"] == "3"
    assert event.details["assessment"] == world_a.assessment.title
    assert event.handled_at is None

    # The same score saved again changes nothing, and is no news.
    make_evidence(world_a, world_a.student, world_a.targets[0], "3")
    assert len(events()) == 1
    # A new score on the cell is.
    replaced = make_evidence(world_a, world_a.student, world_a.targets[0], "4")
    assert events()[-1] == (Kind.SCORE, world_a.student.pk, replaced.evidence.pk)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("missing", Kind.MISSING), ("incomplete", Kind.MISSING), ("excused", None)],
)
def test_missing_work_is_news_and_an_excused_attempt_is_not(world_a, status, kind):
    make_evidence(world_a, world_a.student, world_a.targets[0], None, status=status)
    assert [e[0] for e in events()] == ([kind] if kind else [])


def test_a_change_that_rolls_back_leaves_no_news(world_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_evidence(world_a, world_a.student, world_a.targets[0], "3")
        assert len(events()) == 1  # written with the score, in its transaction
        raise RuntimeError("the request failed after the score was saved")
    assert events() == []


def test_bulk_changes_alert_nobody(world_a):
    with outbox.silenced():
        make_evidence(world_a, world_a.student, world_a.targets[0], "3")
    for source in sorted(outbox.BULK_SOURCES):
        with audit.context(source=source):
            make_evidence(world_a, world_a.students[1], world_a.targets[0], "2")
            make_evidence(world_a, world_a.students[1], world_a.targets[0], "4")
    assert events() == []
    # Outside them, a teacher's own score is news again.
    make_evidence(world_a, world_a.students[2], world_a.targets[0], "3")
    assert [e[1] for e in events()] == [world_a.students[2].pk]


def test_each_school_records_its_own_news_only(world_a, world_b):
    make_evidence(world_a, world_a.student, world_a.targets[0], "3")
    make_evidence(world_b, world_b.student, world_b.targets[0], "2")
    with scope(school=world_a.school):
        mine = list(AlertEvent.objects.values_list("school_id", "student_id"))
    assert mine == [(world_a.school.pk, world_a.student.pk)]


def test_feedback_new_or_changed_is_news_removed_or_unchanged_is_not(world_a):
    def say(text):
        with scope(school=world_a.school):
            feedback_save(
                school=world_a.school,
                written_by=world_a.teacher,
                assessment=world_a.assessment,
                student_id=world_a.student.pk,
                text=text,
            )

    say("Good use of slope; check your units.")
    say("Good use of slope; check your units.")  # unchanged
    say("Good use of slope. Units!")
    say("")  # removed
    kinds = [e[0] for e in events()]
    assert kinds == [Kind.FEEDBACK, Kind.FEEDBACK]
    with scopes_disabled():
        assert AlertEvent.objects.last().details["text"] == "Good use of slope. Units!"


def test_a_request_is_news_for_its_teachers_and_its_answer_for_the_family(world_a):
    w = world_a
    make_reassessable(w)
    before = len(events())
    with scope(school=w.school):
        request = request_create(
            school=w.school,
            requested_by=w.student_user,
            student=w.student,
            target=w.targets[0],
            by=BY_STUDENT,
            note="I practised",
        )
        request_decline(
            school=w.school, request_id=request.pk, declined_by=w.teacher, reason="Not yet"
        )
        again = request_create(
            school=w.school,
            requested_by=w.student_user,
            student=w.student,
            target=w.targets[0],
            by=BY_STUDENT,
            note="I practised more",
        )
        request_withdraw(
            school=w.school, request_id=again.pk, student=w.student, withdrawn_by=w.student_user
        )
    assert events()[before:] == [
        (Kind.REQUEST_RECEIVED, w.student.pk, request.pk),
        (Kind.REQUEST_ANSWERED, w.student.pk, request.pk),
        (Kind.REQUEST_RECEIVED, w.student.pk, again.pk),
        # withdrawn by the student: no news for anyone
    ]


def test_an_intervention_placement_is_news_and_an_unchanged_rebuild_is_not(world_a):
    w = world_a
    cycle = configure(w, capacity=3)
    s0, s1, s2 = w.students
    set_mastery(w, s0, w.targets[0], 2)
    set_mastery(w, s1, w.targets[0], 2)
    set_mastery(w, s2, w.targets[0], 4)  # enrichment, the other group of the day
    build(w, cycle)
    placed = [e for e in events() if e[0] == Kind.PLACEMENT]
    assert sorted(e[1] for e in placed) == sorted([s0.pk, s1.pk, s2.pk])
    with scopes_disabled():
        days = AlertEvent.objects.filter(student_id=s0.pk).get().details["days"]
    assert any("re-teach" in what for what in days.values())

    build(w, cycle)  # the same rosters again: nobody's placement changed
    assert len([e for e in events() if e[0] == Kind.PLACEMENT]) == 3

    with scope(school=w.school):
        entry = RosterEntry.objects.get(school=w.school, cycle=cycle, student=s1)
        other = (
            InterventionGroup.objects.filter(school=w.school, cycle=cycle, weekday=entry.weekday)
            .exclude(pk=entry.group_id)
            .first()
        )
        assert other is not None
        entry_move(school=w.school, entry_id=entry.pk, group_id=other.pk, moved_by=w.counselor)
    assert events()[-1] == (Kind.PLACEMENT, s1.pk, entry.pk)


def test_a_fill_is_news_for_each_cell_it_filled(world_a):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "3")  # a cell the fill leaves alone
    before = len(events())
    with scope(school=w.school):
        evidence_fill(
            school=w.school,
            filled_by=w.teacher,
            section=w.section,
            assessment=w.assessment,
            text="M",
            target_ids=[w.targets[0].pk],
        )
    filled = events()[before:]
    assert {e[0] for e in filled} == {Kind.MISSING}
    assert sorted(e[1] for e in filled) == sorted(s.pk for s in w.students[1:])
