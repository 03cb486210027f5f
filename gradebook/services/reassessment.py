"""Reassessment: recording a retake (once per form), and students' requests to be reassessed."""

from __future__ import annotations

import uuid
from datetime import date
from functools import partial

from django.db import IntegrityError, transaction

from gradebook.models import (
    Assessment,
    AssessmentKind,
    AssessmentTarget,
    CourseTarget,
    Evidence,
    Mastery,
    Section,
)
from gradebook.services.evidence import (
    EvidenceError,
    RecordResult,
    evidence_record,
    parse_score,
)
from gradebook.services.grid import parse_entry
from grading.pair import pair_recompute
from mastery import audit
from mastery.models import LearningTarget, School, User
from mastery.selectors import achievement_levels


def submission_token() -> str:
    """A new one-time token for a form that records a reassessment (see `reassessment_record`)."""
    return uuid.uuid4().hex


def _token(value: object) -> uuid.UUID | None:
    """The form's token, or None when it sent none or something that is not one (no error:
    a form from before tokens, or a made-up value, records as a form without a token does)."""
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _resubmitted(
    *, school: School, token: uuid.UUID, student_id: int, target_id: int, attempt: dict
) -> RecordResult | None:
    """The attempt the form with this token already recorded, if it is this very attempt.

    The same student, target, score or status, date and feedback: the same form sent again.
    Anything else (the form reused, say through the browser's back button, for another score)
    is a new attempt, which is recorded: a token never makes a real attempt disappear.
    """
    made = Assessment.objects.filter(school=school, submission_token=token).first()
    if made is None:
        return None
    evidence = (
        Evidence.objects.filter(
            school=school,
            assessment=made,
            student_id=student_id,
            target_id=target_id,
            voided_at__isnull=True,
        )
        .select_related("assessment")
        .first()
    )
    if evidence is None or attempt != {
        "score": evidence.score,
        "status": evidence.status,
        "assessed_on": evidence.assessed_on,
        "feedback": evidence.feedback,
    }:
        return None
    mastery = Mastery.objects.filter(
        school=school, student_id=student_id, target_id=target_id
    ).first() or pair_recompute(school=school, student_id=student_id, target_id=target_id)
    return RecordResult(evidence=evidence, mastery=mastery, replaced=None, changed=False)


@audit.sourced("reassessment")
@transaction.atomic
def reassessment_record(
    *,
    school: School,
    recorded_by: User,
    section: Section,
    student_id: int,
    target_id: int,
    text: str,
    assessed_on: date,
    feedback: str = "",
    assessment_id: int | None = None,
    title: str = "",
    token: str = "",
) -> RecordResult:
    """Record a reassessment of one student on one target, creating its assessment when needed.

    A new reassessment is linked to the latest other assessment the student was scored on for that
    target (its original) and given in this section. Its score completes the pair's live request
    (see evidence._complete_requests).

    The same form sent twice (a double click on "Record the reassessment", a resent POST) records
    one attempt. The form carries a one-time `token` (`submission_token()`), kept on the
    assessment it creates under a unique constraint: a second POST with that token and the same
    values finds the first attempt and records nothing. A token rather than "an identical attempt
    by the same person within N seconds": two real retakes with the same score on the same day
    are common and must both count, which no time window can tell from a double click, while a
    token tells exactly "this form, again"; and the unique constraint makes it hold for two POSTs
    arriving at once (the second INSERT waits for the first to commit, then fails and reads it),
    where a look-then-write window check would let both through. Choosing an existing
    reassessment needs no token: the cell holds one live value, and the same value recorded
    again changes nothing.
    """
    typed, status = parse_entry(text)
    if status is None:
        raise EvidenceError({"score": ["Enter the reassessment's score or status."]})
    # Refused before anything is written (the assessment below included).
    score = parse_score(typed, status=status, levels=achievement_levels(school))
    target = LearningTarget.objects.filter(school=school, id=target_id).first()
    if (
        target is None
        or not CourseTarget.objects.filter(
            school=school, course_id=section.course_id, target=target
        ).exists()
    ):
        raise EvidenceError({"target": ["That learning target is not part of this course."]})
    if assessment_id:
        assessment = Assessment.objects.filter(
            school=school,
            id=assessment_id,
            kind=AssessmentKind.REASSESSMENT,
            course_id=section.course_id,
        ).first()
        if assessment is None:
            raise EvidenceError(
                {"assessment": ["That reassessment does not exist in this course."]}
            )
    else:
        if not section.term.contains(assessed_on):
            raise EvidenceError(
                {"assessed_on": [f"{assessed_on:%b %-d, %Y} is outside {section.term.name}."]}
            )
        once = _token(token)
        attempt = {
            "score": score,
            "status": status,
            "assessed_on": assessed_on,
            "feedback": (feedback or "").strip(),
        }
        twin = partial(
            _resubmitted,
            school=school,
            student_id=student_id,
            target_id=target_id,
            attempt=attempt,
        )
        if once is not None and (done := twin(token=once)) is not None:
            return done
        original = (
            Evidence.objects.filter(
                school=school,
                student_id=student_id,
                target_id=target_id,
                voided_at__isnull=True,
                assessment__course_id=section.course_id,
            )
            .exclude(kind=AssessmentKind.REASSESSMENT)
            .order_by("-assessed_on", "-id")
            .values_list("assessment_id", flat=True)
            .first()
        )
        fields = {
            "school": school,
            "title": (title or f"Reassessment: {target.code}").strip()[:200],
            "kind": AssessmentKind.REASSESSMENT,
            "assessed_on": assessed_on,
            "course_id": section.course_id,
            "section": section,
            "original_id": original,
            "created_by": recorded_by,
            "description": "Created from the cell detail after re-teaching.",
        }
        try:
            with transaction.atomic():
                taken = False
                if (
                    once is not None
                    and Assessment.objects.filter(school=school, submission_token=once).exists()
                ):
                    # The same form, sent at the same moment, committed since the look above:
                    # that is this attempt. Otherwise another attempt of this form (the values
                    # differ) took the token: record this one without it.
                    if (done := twin(token=once)) is not None:
                        return done
                    taken = True
                assessment = Assessment.objects.create(
                    **fields, submission_token=None if taken else once
                )
        except IntegrityError:
            if once is None:
                raise
            # The same form, sent at the same moment, committed first: that is this attempt.
            if (done := twin(token=once)) is not None:
                return done
            assessment = Assessment.objects.create(**fields)
        AssessmentTarget.objects.create(school=school, assessment=assessment, target=target)
    result = evidence_record(
        school=school,
        recorded_by=recorded_by,
        student_id=student_id,
        target_id=target_id,
        assessment_id=assessment.id,
        score=score,
        status=status,
        assessed_on=assessed_on,
        feedback=feedback,
    )
    return result
