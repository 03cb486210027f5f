"""Writes of the gradebook: recording and voiding evidence, recomputing mastery.

Every service takes the school explicitly, keyword-only, runs in one transaction, and either does
everything or nothing: invalid input raises `EvidenceError` (a ValidationError with a message per
field) before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    Mastery,
)
from gradebook.recompute import (
    RecomputeResult,
    pair_recompute,
    school_recompute_python,
    school_recompute_sql,
)
from mastery import calculation
from mastery.models import School
from mastery.selectors import achievement_levels, allowed_scores

MAX_FEEDBACK = 4000


class EvidenceError(ValidationError):
    """Evidence that cannot be recorded; `message_dict` says which field and why."""


@dataclass
class RecordResult:
    evidence: Evidence
    mastery: Mastery
    replaced: Evidence | None  # the earlier live score on the same cell, now voided
    changed: bool  # False when the same value was recorded again (nothing written)


def _school_lock(school: School, *, shared: bool) -> None:
    """Serialize a school's bulk recompute against single-score writes (PostgreSQL only).

    Scores take the lock shared (they never wait on each other); the bulk recompute takes it
    exclusively, so it never overwrites a score committed while it was computing.
    """
    if connection.vendor != "postgresql":
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fn}(%s, %s)", [7301, school.id])


def parse_score(value, *, status: str, levels) -> Decimal | None:
    """Check a score against the school's scale; returns it as a 2-place Decimal (or None)."""
    if status not in calculation.STATUSES:
        raise EvidenceError({"status": [f"Unknown status “{status}”."]})
    if status != EvidenceStatus.SCORED:
        if value not in (None, ""):
            raise EvidenceError(
                {"score": ["A missing, excused, incomplete or insufficient entry has no score."]}
            )
        return None
    if value in (None, ""):
        raise EvidenceError(
            {"score": ["Enter a score, or a status such as M (missing) or EX (excused)."]}
        )
    try:
        score = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise EvidenceError({"score": [f"“{value}” is not a score."]}) from None
    allowed = allowed_scores(levels)
    if not allowed:
        raise EvidenceError({"score": ["This school has no proficiency scale yet."]})
    if not score.is_finite() or score.quantize(Decimal("0.01")) not in allowed:
        shown = ", ".join(calculation.fmt(a) for a in allowed)
        raise EvidenceError(
            {
                "score": [
                    f"{calculation.fmt(score) if score.is_finite() else value} is not on the scale. Use one of: {shown}."
                ]
            }
        )
    return score.quantize(Decimal("0.01"))


@transaction.atomic
def evidence_record(
    *,
    school: School,
    recorded_by,
    student_id: int,
    target_id: int,
    assessment_id: int,
    score: Decimal | str | int | None = None,
    status: str = EvidenceStatus.SCORED,
    assessed_on: date | None = None,
    feedback: str = "",
) -> RecordResult:
    """Record one attempt and recompute that student's Mastery record on the target.

    Validates that the score is on the school's scale, that the assessment and target belong to
    the school and are aligned, that the student is enrolled in a section of the assessment, and
    that the evidence date lies within that section's term. A new value on a cell that already
    has one voids the old row ("Replaced by a new score") and keeps it. Recording the same value
    again changes nothing. A constant number of queries, whatever the amount of evidence.
    """
    levels = achievement_levels(school)
    score = parse_score(score, status=status, levels=levels)
    feedback = (feedback or "").strip()
    if len(feedback) > MAX_FEEDBACK:
        raise EvidenceError({"feedback": [f"Feedback is limited to {MAX_FEEDBACK} characters."]})

    assessment = (
        Assessment.objects.filter(school=school, id=assessment_id)
        .annotate(
            target_aligned=Exists(
                AssessmentTarget.objects.filter(
                    school=school, assessment=OuterRef("pk"), target_id=target_id
                )
            )
        )
        .first()
    )
    if assessment is None:
        raise EvidenceError({"assessment": ["That assessment does not exist in this school."]})
    if not assessment.target_aligned:
        raise EvidenceError(
            {"target": [f"That learning target is not aligned to “{assessment.title}”."]}
        )

    enrollments = Enrollment.objects.filter(
        school=school, student_id=student_id, section__course_id=assessment.course_id
    )
    if assessment.section_id:
        enrollments = enrollments.filter(section_id=assessment.section_id)
    enrollment = enrollments.select_related("section__term").order_by("-enrolled_on").first()
    if enrollment is None:
        raise EvidenceError(
            {"student": [f"That student is not enrolled in a section of “{assessment.title}”."]}
        )

    day = assessed_on or assessment.assessed_on
    term = enrollment.section.term
    if not term.contains(day):
        raise EvidenceError(
            {
                "assessed_on": [
                    f"{day:%b %-d, %Y} is outside {term.name} "
                    f"({term.starts_on:%b %-d, %Y} – {term.ends_on:%b %-d, %Y})."
                ]
            }
        )
    if enrollment.withdrawn_on and day > enrollment.withdrawn_on:
        raise EvidenceError(
            {
                "assessed_on": [
                    f"The student left this section on {enrollment.withdrawn_on:%b %-d, %Y}."
                ]
            }
        )

    _school_lock(school, shared=True)
    now = timezone.now()
    for attempt in range(2):
        try:
            with transaction.atomic():
                current = (
                    Evidence.objects.select_for_update()
                    .filter(
                        school=school,
                        student_id=student_id,
                        target_id=target_id,
                        assessment_id=assessment.id,
                        voided_at__isnull=True,
                    )
                    .first()
                )
                if current is not None and (
                    current.score == score
                    and current.status == status
                    and current.assessed_on == day
                    and current.feedback == feedback
                ):
                    mastery = Mastery.objects.filter(
                        school=school, student_id=student_id, target_id=target_id
                    ).first() or pair_recompute(
                        school=school, student_id=student_id, target_id=target_id, levels=levels
                    )
                    return RecordResult(
                        evidence=current, mastery=mastery, replaced=None, changed=False
                    )
                if current is not None:
                    current.voided_at = now
                    current.voided_by = recorded_by
                    current.void_reason = "Replaced by a new score"
                    current.save(update_fields=["voided_at", "voided_by", "void_reason"])
                evidence = Evidence.objects.create(
                    school=school,
                    student_id=student_id,
                    target_id=target_id,
                    assessment=assessment,
                    score=score,
                    status=status,
                    kind=assessment.kind,
                    assessed_on=day,
                    feedback=feedback,
                    recorded_by=recorded_by,
                    recorded_at=now,
                    replaces=current,
                )
            break
        except IntegrityError:
            # Another teacher saved this cell between our read and our insert: read it again.
            if attempt:
                raise
    mastery = pair_recompute(
        school=school, student_id=student_id, target_id=target_id, levels=levels
    )
    return RecordResult(evidence=evidence, mastery=mastery, replaced=current, changed=True)


@transaction.atomic
def evidence_void(*, school: School, evidence_id: int, voided_by, reason: str) -> Mastery:
    """Void one piece of evidence (it stays, struck through, with who and why) and recompute."""
    reason = (reason or "").strip()
    if not reason:
        raise EvidenceError({"reason": ["Say why this evidence is voided."]})
    if len(reason) > 300:
        raise EvidenceError({"reason": ["Keep the reason under 300 characters."]})
    _school_lock(school, shared=True)
    evidence = Evidence.objects.select_for_update().filter(school=school, id=evidence_id).first()
    if evidence is None:
        raise EvidenceError({"evidence": ["That evidence does not exist in this school."]})
    if evidence.voided_at is not None:
        raise EvidenceError({"evidence": ["That evidence is already voided."]})
    evidence.voided_at = timezone.now()
    evidence.voided_by = voided_by
    evidence.void_reason = reason
    evidence.save(update_fields=["voided_at", "voided_by", "void_reason"])
    return pair_recompute(
        school=school, student_id=evidence.student_id, target_id=evidence.target_id
    )


@transaction.atomic
def mastery_recompute_school(*, school: School) -> RecomputeResult:
    """Recompute every Mastery record of the school under its current policies.

    Set-based SQL on PostgreSQL, batches through the engine elsewhere. Idempotent: a second run
    over unchanged data writes nothing.
    """
    _school_lock(school, shared=False)
    if connection.vendor == "postgresql":
        return school_recompute_sql(school)
    return school_recompute_python(school)
