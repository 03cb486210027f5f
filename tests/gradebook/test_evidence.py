"""evidence_record and evidence_void: validation, history, the one-record recompute, query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import RESTRICT
from django.test.utils import CaptureQueriesContext
from django_scopes import scope

from gradebook.models import Enrollment, Evidence, Mastery
from gradebook.services.evidence import EvidenceError, evidence_record, evidence_void
from mastery.models import ProficiencyScale
from tests.factories import make_assessment, make_student


def record(w, **overrides):
    kwargs = {
        "school": w.school,
        "recorded_by": w.teacher,
        "student_id": w.student.id,
        "target_id": w.targets[0].id,
        "assessment_id": w.assessment.id,
        "score": "3",
    }
    kwargs.update(overrides)
    return evidence_record(**kwargs)


def counts(w):
    with scope(school=w.school):
        return (
            Evidence.objects.filter(school=w.school).count(),
            Evidence.objects.filter(school=w.school, voided_at__isnull=False).count(),
            list(
                Mastery.objects.filter(school=w.school).values_list(
                    "student_id", "target_id", "score"
                )
            ),
        )


def assert_refused(w, in_school, field, message, **overrides):
    with in_school(w):
        before = counts(w)
        with pytest.raises(EvidenceError) as caught:
            record(w, **overrides)
        assert counts(w) == before, "a refused score must change nothing"
    assert field in caught.value.message_dict
    assert message in " ".join(caught.value.message_dict[field])


def test_recording_a_score_writes_evidence_and_computes_mastery_in_one_go(world_a, in_school):
    with in_school(world_a):
        result = record(world_a, score="3", feedback="  Nice work on the setup. ")
    evidence, mastery = result.evidence, result.mastery
    assert evidence.score == Decimal("3.00") and evidence.status == "scored"
    assert evidence.kind == "summative" and evidence.assessed_on == world_a.assessment.assessed_on
    assert evidence.feedback == "Nice work on the setup."
    assert evidence.recorded_by == world_a.teacher and evidence.voided_at is None
    assert mastery.score == Decimal("3.00") and mastery.level == 3 and mastery.mastered
    assert mastery.evidence_count == 1 and mastery.scores_counted == 1
    assert mastery.explanation == "Decaying average (65% on the newest) of 1 score: 3"
    with in_school(world_a):
        assert Mastery.objects.get(
            student=world_a.student, target=world_a.targets[0]
        ).score == Decimal(3)


def test_a_new_value_on_a_scored_cell_voids_the_old_one_and_keeps_it(world_a, in_school):
    with in_school(world_a):
        first = record(world_a, score="2").evidence
        second = record(world_a, score="3.5")
    first.refresh_from_db()
    assert first.voided_at is not None and first.void_reason == "Replaced by a new score"
    assert first.voided_by == world_a.teacher
    assert second.replaced == first and second.evidence.replaces_id == first.id
    assert second.mastery.score == Decimal("3.50") and second.mastery.level == 4
    assert second.mastery.evidence_count == 1  # the voided row no longer counts


def test_recording_the_same_value_again_changes_nothing(world_a, in_school):
    with in_school(world_a):
        record(world_a, score="3")
        before = counts(world_a)
        again = record(world_a, score="3.0")
    assert again.changed is False and counts(world_a) == before


def test_several_attempts_are_combined_by_the_policy(world_a, in_school):
    retake = make_assessment(
        world_a.school,
        world_a.course,
        world_a.targets[:1],
        on=world_a.assessment.assessed_on + timedelta(days=3),
    )
    with in_school(world_a):
        record(world_a, score="2")
        result = record(world_a, score="3", assessment_id=retake.id)
    assert result.mastery.score == Decimal("2.65")
    assert result.mastery.explanation == "Decaying average (65% on the newest) of 2 scores: 2.65"


def test_statuses_are_recorded_without_a_score(world_a, in_school):
    with in_school(world_a):
        result = record(world_a, score=None, status="missing")
    assert result.evidence.score is None and result.evidence.status == "missing"
    assert result.mastery.score is None and result.mastery.level is None
    assert result.mastery.explanation.startswith("Not enough evidence")


@pytest.mark.parametrize("value", ["5", "0", "-1", "4.5", "2.25", "abc", "NaN", "1e3"])
def test_a_score_off_the_scale_is_refused_and_nothing_is_written(world_a, in_school, value):
    assert_refused(world_a, in_school, "score", "", score=value)


def test_the_message_lists_the_scores_that_are_allowed(world_a, in_school):
    assert_refused(
        world_a,
        in_school,
        "score",
        "5 is not on the scale. Use one of: 1, 1.5, 2, 2.5, 3, 3.5, 4.",
        score="5",
    )


def test_half_points_are_refused_when_the_scale_does_not_allow_them(world_a, in_school):
    with in_school(world_a):
        ProficiencyScale.objects.filter(school=world_a.school, kind="achievement").update(
            allows_half_points=False
        )
    assert_refused(world_a, in_school, "score", "Use one of: 1, 2, 3, 4.", score="2.5")


def test_a_status_with_a_score_or_a_score_without_one_is_refused(world_a, in_school):
    assert_refused(world_a, in_school, "score", "has no score", score="3", status="excused")
    assert_refused(world_a, in_school, "score", "Enter a score", score="")
    assert_refused(world_a, in_school, "status", "Unknown status", score=None, status="late")


def test_an_assessment_of_another_school_is_refused(world_a, world_b, in_school):
    assert_refused(
        world_a,
        in_school,
        "assessment",
        "does not exist in this school",
        assessment_id=world_b.assessment.id,
    )


def test_a_target_not_aligned_to_the_assessment_is_refused(world_a, world_b, in_school):
    assert_refused(world_a, in_school, "target", "not aligned", target_id=world_a.targets[2].id)
    assert_refused(world_a, in_school, "target", "not aligned", target_id=world_b.targets[0].id)


def test_a_student_not_enrolled_in_a_section_of_the_assessment_is_refused(
    world_a, world_b, in_school
):
    stranger = make_student(world_a.school, "alpha-stranger")
    assert_refused(world_a, in_school, "student", "not enrolled", student_id=stranger.id)
    assert_refused(world_a, in_school, "student", "not enrolled", student_id=world_b.student.id)
    section_only = make_assessment(
        world_a.school,
        world_a.course,
        world_a.targets[:1],
        on=world_a.assessment.assessed_on,
        section=world_a.section,
    )
    assert_refused(
        world_a,
        in_school,
        "student",
        "not enrolled",
        student_id=world_a.other_students[0].id,
        assessment_id=section_only.id,
    )


def test_a_course_wide_assessment_accepts_students_of_every_section(world_a, in_school):
    with in_school(world_a):
        result = record(world_a, student_id=world_a.other_students[0].id)
    assert result.changed


def test_a_date_outside_the_term_is_refused(world_a, in_school):
    assert_refused(
        world_a,
        in_school,
        "assessed_on",
        "is outside This year",
        assessed_on=world_a.term.ends_on + timedelta(days=1),
    )
    assert_refused(
        world_a,
        in_school,
        "assessed_on",
        "is outside",
        assessed_on=world_a.term.starts_on - timedelta(days=1),
    )


def test_a_date_after_the_student_left_the_section_is_refused(world_a, in_school):
    with in_school(world_a):
        Enrollment.objects.filter(student=world_a.student).update(
            withdrawn_on=world_a.assessment.assessed_on - timedelta(days=1)
        )
    assert_refused(world_a, in_school, "assessed_on", "left this section")


def test_overlong_feedback_is_refused(world_a, in_school):
    assert_refused(world_a, in_school, "feedback", "limited to", feedback="x" * 4001)


def test_voiding_keeps_the_evidence_and_recomputes(world_a, in_school):
    with in_school(world_a):
        evidence = record(world_a, score="4").evidence
        mastery = evidence_void(
            school=world_a.school,
            evidence_id=evidence.id,
            voided_by=world_a.admin,
            reason="Wrong student",
        )
    evidence.refresh_from_db()
    assert (
        evidence.voided_at
        and evidence.voided_by == world_a.admin
        and evidence.void_reason == "Wrong student"
    )
    assert evidence.score == Decimal(4)  # the value itself is kept
    assert mastery.score is None and mastery.evidence_count == 0


def test_voiding_needs_a_reason_and_a_live_evidence_of_this_school(world_a, world_b, in_school):
    with in_school(world_b):
        foreign = record(world_b).evidence
    with in_school(world_a):
        evidence = record(world_a).evidence
        with pytest.raises(EvidenceError, match="Say why"):
            evidence_void(
                school=world_a.school,
                evidence_id=evidence.id,
                voided_by=world_a.teacher,
                reason="  ",
            )
        with pytest.raises(EvidenceError, match="does not exist in this school"):
            evidence_void(
                school=world_a.school, evidence_id=foreign.id, voided_by=world_a.teacher, reason="x"
            )
        evidence_void(
            school=world_a.school, evidence_id=evidence.id, voided_by=world_a.teacher, reason="typo"
        )
        with pytest.raises(EvidenceError, match="already voided"):
            evidence_void(
                school=world_a.school,
                evidence_id=evidence.id,
                voided_by=world_a.teacher,
                reason="again",
            )
    foreign.refresh_from_db()
    assert foreign.voided_at is None


def test_evidence_is_never_deleted_alone():

    for name in ("student", "target", "assessment"):
        assert Evidence._meta.get_field(name).remote_field.on_delete is RESTRICT


# Recording a score costs a constant number of queries, whatever the amount of evidence already there:
# 13 on an empty cell (the audit trail's INSERT and the alerts outbox's INSERT included; the write
# joins the caller's transaction without a savepoint of its own), two more when a score is
# replaced: the UPDATE that voids the old row, and the one that moves the old row's files (photos
# of the work) onto the new one.
QUERIES_NEW_CELL = 13
QUERIES_REPLACING = 15


def _queries_for_one_record(w, in_school, **overrides):
    with in_school(w), CaptureQueriesContext(connection) as ctx:
        record(w, **overrides)
    return len(ctx.captured_queries), "\n".join(q["sql"] for q in ctx.captured_queries)


def test_recording_a_score_takes_a_constant_pinned_number_of_queries(world_a, in_school):
    count, sql = _queries_for_one_record(world_a, in_school, score="2")
    assert count == QUERIES_NEW_CELL, sql
    count, sql = _queries_for_one_record(world_a, in_school, score="3")
    assert count == QUERIES_REPLACING, sql
    # Pile up evidence on the same pair and on others; the counts stay the same.
    for i in range(30):
        extra = make_assessment(
            world_a.school,
            world_a.course,
            world_a.targets,
            on=world_a.assessment.assessed_on - timedelta(days=i + 1),
        )
        with in_school(world_a):
            for student in world_a.students:
                for target in world_a.targets:
                    record(
                        world_a,
                        assessment_id=extra.id,
                        student_id=student.id,
                        target_id=target.id,
                        score="3",
                    )
    count, sql = _queries_for_one_record(world_a, in_school, score="4")
    assert count == QUERIES_REPLACING, sql
    fresh = make_assessment(
        world_a.school, world_a.course, world_a.targets, on=world_a.assessment.assessed_on
    )
    count, sql = _queries_for_one_record(world_a, in_school, score="4", assessment_id=fresh.id)
    assert count == QUERIES_NEW_CELL, sql
