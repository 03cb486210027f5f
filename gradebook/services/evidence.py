"""Evidence: reading a typed score, recording and voiding evidence, recomputing many pairs.

The bottom of gradebook.services: every other module there builds on `EvidenceError`,
`parse_score` and `evidence_record`. Every service takes the school explicitly, keyword-only,
runs in one transaction, and either does everything or nothing: invalid input raises
`EvidenceError` (a ValidationError with a message per field) before anything is written.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeGuard

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentKind,
    AssessmentTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    FileAttachment,
    Mastery,
    ReassessmentRequest,
    SelfAssessment,
)
from grading.locks import school_lock
from grading.pair import (
    mastery_from_outcome,
    mastery_upsert,
    pair_recompute,
    records_without_evidence_dropped,
)
from grading.policies import governing, year_start
from mastery import audit, calculation, outbox, pagecache
from mastery.models import AlertEvent, AuditEvent, ScaleLevel, School, User
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


# A score as people type it: digits, with a decimal point or comma (3, 2.5, 3,5, 03, 3.00).
# `\d` is any Unicode decimal digit, so full-width digits typed with an East Asian input method
# (３) read as the digits they are. No exponent, no NaN or Infinity, no underscores: Python's
# Decimal() accepts all of those, and `1e400` is exactly what made quantize() raise (a 500).
_SCORE_TEXT = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
_SCORE_TEXT_MAX = 40  # longer is no score (and is not echoed whole in the message)


def score_number(value: object) -> Decimal | None:
    """What a user typed (or an API sent) as an exact number, or None when it is not a number.

    The one reading of a typed score, for every entry path: no rounding, no quantize (which
    raises on huge exponents), nothing but a finite number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    text = str(value).strip()
    if len(text) > _SCORE_TEXT_MAX or not _SCORE_TEXT.fullmatch(text):
        return None
    return Decimal(text.replace(",", "."))


def scale_value(value: object, allowed: list[Decimal]) -> Decimal | None:
    """The value of `allowed` that `value` is exactly equal to (2.996 is not 3), else None."""
    number = score_number(value)
    if number is None:
        return None
    # Decimal equality is numeric and exact: 3 == 3.0 == 3.00, 2.996 != 3, -0 == 0.
    return next((a for a in allowed if a == number), None)


def _typed(value: object) -> str:
    """The value as the user typed it, for a message (never rounded; long input shortened)."""
    text = str(value).strip()
    if isinstance(value, Decimal):
        with contextlib.suppress(InvalidOperation):  # too large to show with two places
            text = calculation.fmt(value)  # 5, not 5.00
    return text if len(text) <= 20 else text[:19] + "…"


def parse_score(value: object, *, status: str, levels: list[ScaleLevel]) -> Decimal | None:
    """Check a score against the school's scale; returns the scale's value (or None).

    A score must equal a value of the scale exactly: 2.996 is refused, not rounded to 3 (docs/design.md
    section 7: no silent rounding). Every entry path (the scoring cell, the grid form, fill,
    reassessment, undo, habits, the API) comes through here, so each refuses with this message.
    """
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
    allowed = allowed_scores(levels)
    if not allowed:
        raise EvidenceError({"score": ["This school has no proficiency scale yet."]})
    found = scale_value(value, allowed)
    if found is not None:
        return found
    shown = ", ".join(calculation.fmt(a) for a in allowed)
    typed = _typed(value)
    what = (
        f"{typed} is not on the scale."
        if score_number(value) is not None
        else f"“{typed}” is not a score."
    )
    raise EvidenceError({"score": [f"{what} Use one of: {shown}."]})


def _usable(
    loaded: Assessment | None, *, school: School, assessment_id: int
) -> TypeGuard[Assessment]:
    """An assessment the caller loaded, of this school, with its targets prefetched."""
    return (
        loaded is not None
        and loaded.id == assessment_id
        and loaded.school_id == school.id
        and "targets" in getattr(loaded, "_prefetched_objects_cache", {})
    )


def _assessment_with_alignment(
    school: School, assessment_id: int, target_id: int
) -> tuple[Assessment, bool] | None:
    """The assessment, and whether the target is aligned to it (one query); None when not found."""
    found = (
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
    return None if found is None else (found, found.target_aligned)


# A score, or work marked missing or incomplete, is news for the student's family and the student
# (mastery.outbox); an excused attempt or "insufficient evidence" is not.
_ALERT_KINDS: dict[str, str] = {
    EvidenceStatus.SCORED: outbox.Kind.SCORE,
    EvidenceStatus.MISSING: outbox.Kind.MISSING,
    EvidenceStatus.INCOMPLETE: outbox.Kind.MISSING,
}


def score_alerts(school: School, rows: Iterable[Evidence], title: str) -> list[AlertEvent]:
    """The outbox events (unsaved) of newly recorded evidence: a score or missing work."""
    return [
        outbox.event(
            school=school,
            kind=_ALERT_KINDS[evidence.status],
            student_id=evidence.student_id,
            object_type=AuditEvent.ObjectType.EVIDENCE,
            object_id=evidence.id,
            details={
                "assessment": title,
                "target_id": evidence.target_id,
                "score": calculation.fmt(evidence.score) if evidence.score is not None else "",
                "status": evidence.status,
            },
        )
        for evidence in rows
        if evidence.status in _ALERT_KINDS
    ]


def _alert(school: School, evidence: Evidence, assessment: Assessment) -> None:
    outbox.record_many(score_alerts(school, [evidence], assessment.title))


def evidence_record(
    *,
    school: School,
    recorded_by: User,
    student_id: int,
    target_id: int,
    assessment_id: int,
    score: Decimal | str | int | None = None,
    status: str = EvidenceStatus.SCORED,
    assessed_on: date | None = None,
    feedback: str = "",
    replaced_reason: str = "Replaced by a new score",
    loaded_assessment: Assessment | None = None,
    audit_action: str | None = None,
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
    if "\x00" in feedback:
        raise EvidenceError({"feedback": ["Feedback cannot hold a NUL character."]})

    found: tuple[Assessment, bool] | None
    if _usable(loaded_assessment, school=school, assessment_id=assessment_id):
        # The caller (the scoring grid) loaded it with its targets: no need to ask again.
        aligned = any(t.id == target_id for t in loaded_assessment.targets.all())
        found = (loaded_assessment, aligned)
    else:
        found = _assessment_with_alignment(school, assessment_id, target_id)
    if found is None:
        raise EvidenceError({"assessment": ["That assessment does not exist in this school."]})
    assessment, aligned = found
    if not aligned:
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

    # The writes: their own transaction, or (called inside one, as the grid's cell POST does) part
    # of the caller's without a savepoint of their own. Every refusal above is raised before it,
    # so a caller that catches EvidenceError and goes on still holds a usable transaction.
    with transaction.atomic(savepoint=False):
        return _evidence_write(
            school=school,
            recorded_by=recorded_by,
            student_id=student_id,
            target_id=target_id,
            assessment=assessment,
            score=score,
            status=status,
            day=day,
            feedback=feedback,
            replaced_reason=replaced_reason,
            audit_action=audit_action,
            levels=levels,
        )


def _evidence_write(
    *,
    school: School,
    recorded_by: User,
    student_id: int,
    target_id: int,
    assessment: Assessment,
    score: Decimal | None,
    status: str,
    day: date,
    feedback: str,
    replaced_reason: str,
    audit_action: str | None,
    levels: list[ScaleLevel],
) -> RecordResult:
    """evidence_record's write, once validated: void the cell's old value, insert, recompute."""
    school_lock(school, shared=True)
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
                    current.void(by=recorded_by, reason=replaced_reason, at=now)
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
                if current is not None:
                    # The files on the old row are the same work: they follow the new score.
                    FileAttachment.objects.filter(
                        school=school, evidence_id=current.id, voided_at__isnull=True
                    ).update(evidence_id=evidence.id)
            break
        except IntegrityError:
            # Another teacher saved this cell between our read and our insert: read it again.
            if attempt:
                raise
    audit.record_evidence(
        school=school,
        action=audit_action
        or (AuditEvent.Action.REPLACE if current is not None else AuditEvent.Action.RECORD),
        actor=recorded_by,
        evidence=evidence,
        before=audit.evidence_state(current),
        after=audit.evidence_state(evidence),
        title=assessment.title,
        at=now,
    )
    _alert(school, evidence, assessment)
    if assessment.kind == AssessmentKind.REASSESSMENT and status == EvidenceStatus.SCORED:
        _complete_requests(school=school, evidence=evidence, by=recorded_by, at=now)
    mastery = pair_recompute(
        school=school, student_id=student_id, target_id=target_id, levels=levels
    )
    return RecordResult(evidence=evidence, mastery=mastery, replaced=current, changed=True)


def _complete_requests(*, school: School, evidence: Evidence, by: User, at: datetime) -> None:
    """A reassessment's score completes the student's live request on the target (whichever
    sitting it was scored on: the request asked for a retake, and this is it). Only for
    reassessments, so the ordinary score POST pays no query for it."""
    requests = list(
        ReassessmentRequest.objects.filter(
            school=school,
            student_id=evidence.student_id,
            target_id=evidence.target_id,
            status__in=ReassessmentRequest.LIVE,
        ).select_related("target")
    )
    for request in requests:
        before = {"status": request.status, "scheduled_on": request.scheduled_on}
        request.status = ReassessmentRequest.Status.COMPLETED
        request.evidence, request.resolved_by, request.resolved_at = evidence, by, at
        request.save(update_fields=["status", "evidence", "resolved_by", "resolved_at"])
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE,
            object_type=AuditEvent.ObjectType.REQUEST,
            object_id=request.id,
            student_id=request.student_id,
            target_id=request.target_id,
            summary=f"Reassessment request on {request.target.code} completed by a score",
            before=before,
            after={"status": request.status, "scheduled_on": request.scheduled_on},
            actor=by,
            at=at,
        )
    if requests:
        pagecache.students_changed(school.id, [evidence.student_id])


@transaction.atomic
def evidence_void(
    *,
    school: School,
    evidence_id: int,
    voided_by: User,
    reason: str,
    audit_action: str = AuditEvent.Action.VOID,
) -> Mastery:
    """Void one piece of evidence (it stays, struck through, with who and why) and recompute."""
    reason = (reason or "").strip()
    if not reason:
        raise EvidenceError({"reason": ["Say why this evidence is voided."]})
    if len(reason) > 300:
        raise EvidenceError({"reason": ["Keep the reason under 300 characters."]})
    school_lock(school, shared=True)
    evidence = Evidence.objects.select_for_update().filter(school=school, id=evidence_id).first()
    if evidence is None:
        raise EvidenceError({"evidence": ["That evidence does not exist in this school."]})
    if evidence.voided_at is not None:
        raise EvidenceError({"evidence": ["That evidence is already voided."]})
    evidence.void(by=voided_by, reason=reason)
    # Its files are voided with it: kept for staff and the records, no longer shown to the
    # student or the family.
    FileAttachment.objects.filter(
        school=school, evidence_id=evidence.id, voided_at__isnull=True
    ).update(voided_at=evidence.voided_at, voided_by=voided_by, void_reason=reason)
    audit.record_evidence(
        school=school,
        action=audit_action,
        actor=voided_by,
        evidence=evidence,
        before=audit.evidence_state(evidence),
        after=None,
        title=evidence.assessment.title,
        note=reason,
        at=evidence.voided_at,
    )
    return pair_recompute(
        school=school, student_id=evidence.student_id, target_id=evidence.target_id
    )


def pairs_recompute(*, school: School, pairs: set[tuple[int, int]]) -> int:
    """Recompute many Mastery records through the engine in a constant number of queries."""
    if not pairs:
        return 0
    rule = governing(school)
    start = year_start(school)  # a new school year counts its own evidence (unless carried)
    rows = defaultdict(list)
    for e in Evidence.objects.filter(
        school=school,
        student_id__in={s for s, _ in pairs},
        target_id__in={t for _, t in pairs},
        voided_at__isnull=True,
    ).order_by("assessed_on", "id"):
        pair = (e.student_id, e.target_id)
        since = rule.since(*pair, start)
        if pair in pairs and (since is None or e.assessed_on >= since):
            rows[pair].append(e.as_engine_evidence())
    if rule.counting_self:
        for r in SelfAssessment.objects.filter(
            school=school,
            student_id__in={s for s, _ in pairs},
            target_id__in={t for _, t in pairs},
            voided_at__isnull=True,
        ).order_by("assessed_on", "id"):
            pair = (r.student_id, r.target_id)
            since = rule.since(*pair, start)
            if (
                pair in pairs
                and rule.counts_self(*pair)
                and (since is None or r.assessed_on >= since)
            ):
                rows[pair].append(r.as_engine_evidence())  # after the scores: the engine's order
    # A pair with nothing to compute under a policy that does not count ratings may have no
    # evidence at all: its record, from ratings that counted once, goes (grading.pair).
    dropped = records_without_evidence_dropped(
        school=school,
        pairs={p for p in pairs if p not in rows and not rule.counts_self(*p)},
    )
    records = []
    for pair in pairs - dropped:
        policy_id = rule.policy_id(*pair)
        outcome = calculation.compute(rows.get(pair, []), rule.engines[policy_id])
        records.append(
            mastery_from_outcome(
                school=school,
                student_id=pair[0],
                target_id=pair[1],
                outcome=outcome,
                policy_id=policy_id,
            )
        )
    mastery_upsert(records)
    return len(records)
