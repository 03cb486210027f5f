"""Writes of the gradebook: recording and voiding evidence, recomputing mastery.

Every service takes the school explicitly, keyword-only, runs in one transaction, and either does
everything or nothing: invalid input raises `EvidenceError` (a ValidationError with a message per
field) before anything is written.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentKind,
    AssessmentTarget,
    CourseTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    Habit,
    HabitScore,
    Mastery,
    ReassessmentRequest,
    ScoringUndo,
    Section,
)
from gradebook.selectors import scoring_undo_stack
from grading.locks import school_lock
from grading.pair import mastery_from_outcome, mastery_upsert, pair_recompute
from grading.policies import override_assignments
from mastery import audit, calculation, pagecache
from mastery.models import AuditEvent, LearningTarget, ProficiencyScale, ScaleLevel, School
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


def score_number(value) -> Decimal | None:
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


def scale_value(value, allowed: list[Decimal]) -> Decimal | None:
    """The value of `allowed` that `value` is exactly equal to (2.996 is not 3), else None."""
    number = score_number(value)
    if number is None:
        return None
    # Decimal equality is numeric and exact: 3 == 3.0 == 3.00, 2.996 != 3, -0 == 0.
    return next((a for a in allowed if a == number), None)


def _typed(value) -> str:
    """The value as the user typed it, for a message (never rounded; long input shortened)."""
    text = str(value).strip()
    if isinstance(value, Decimal):
        with contextlib.suppress(InvalidOperation):  # too large to show with two places
            text = calculation.fmt(value)  # 5, not 5.00
    return text if len(text) <= 20 else text[:19] + "…"


def parse_score(value, *, status: str, levels) -> Decimal | None:
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


def _usable(loaded: Assessment | None, *, school: School, assessment_id: int) -> bool:
    """An assessment the caller loaded, of this school, with its targets prefetched."""
    return (
        loaded is not None
        and loaded.id == assessment_id
        and loaded.school_id == school.id
        and "targets" in getattr(loaded, "_prefetched_objects_cache", {})
    )


def _assessment_with_alignment(school: School, assessment_id: int, target_id: int):
    return (
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

    if _usable(loaded_assessment, school=school, assessment_id=assessment_id):
        # The caller (the scoring grid) loaded it with its targets: no need to ask again.
        assessment = loaded_assessment
        assessment.target_aligned = any(t.id == target_id for t in assessment.targets.all())
    else:
        assessment = _assessment_with_alignment(school, assessment_id, target_id)
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
    recorded_by,
    student_id: int,
    target_id: int,
    assessment: Assessment,
    score,
    status: str,
    day: date,
    feedback: str,
    replaced_reason: str,
    audit_action: str | None,
    levels,
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
    mastery = pair_recompute(
        school=school, student_id=student_id, target_id=target_id, levels=levels
    )
    return RecordResult(evidence=evidence, mastery=mastery, replaced=current, changed=True)


@transaction.atomic
def evidence_void(
    *,
    school: School,
    evidence_id: int,
    voided_by,
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


# --- The scoring grid ------------------------------------------------------------------------------

STATUS_WORDS = {
    "M": EvidenceStatus.MISSING,
    "MISSING": EvidenceStatus.MISSING,
    "EX": EvidenceStatus.EXCUSED,
    "EXC": EvidenceStatus.EXCUSED,
    "EXCUSED": EvidenceStatus.EXCUSED,
    "INC": EvidenceStatus.INCOMPLETE,
    "INCOMPLETE": EvidenceStatus.INCOMPLETE,
    "IE": EvidenceStatus.INSUFFICIENT,
    "INSUFFICIENT": EvidenceStatus.INSUFFICIENT,
}


def parse_entry(text: str | None) -> tuple[str | None, str | None]:
    """What a teacher typed in a cell -> (score text, status); (None, None) means "clear the cell"."""
    value = (text or "").strip()
    if not value:
        return None, None
    if value.upper() in STATUS_WORDS:
        return None, STATUS_WORDS[value.upper()]
    return value, EvidenceStatus.SCORED  # as typed: a refusal quotes it


@dataclass
class EntryResult:
    evidence: Evidence | None  # the live evidence now in the cell (None when cleared)
    mastery: Mastery | None
    changed: bool
    undo: dict | None  # what `evidence_undo` needs to take this change back


def cell_state(evidence: Evidence | None) -> dict | None:
    """The values of a cell (what undo compares and restores), or None for an empty cell."""
    if evidence is None:
        return None
    return {
        "score": None if evidence.score is None else str(evidence.score),
        "status": evidence.status,
        "assessed_on": evidence.assessed_on.isoformat(),
        "feedback": evidence.feedback,
    }


def _same_state(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (
        (None if a["score"] is None else Decimal(a["score"]))
        == (None if b["score"] is None else Decimal(b["score"]))
        and a["status"] == b["status"]
        and a["assessed_on"] == b["assessed_on"]
        and a["feedback"] == b["feedback"]
    )


def _undo_step(
    student_id: int, target_id: int, assessment_id: int, before: dict | None, after: dict | None
) -> dict:
    return {"cell": [student_id, target_id, assessment_id], "before": before, "after": after}


@audit.sourced("grid")
def evidence_enter(
    *,
    school: School,
    entered_by,
    student_id: int,
    target_id: int,
    assessment_id: int,
    text: str,
    assessed_on: date | None = None,
    loaded_assessment: Assessment | None = None,
) -> EntryResult:
    """One cell of the scoring grid: a score, a status code (M, EX, INC, IE), or empty to clear."""
    score, status = parse_entry(text)
    if status is None:
        return evidence_clear(
            school=school,
            cleared_by=entered_by,
            student_id=student_id,
            target_id=target_id,
            assessment_id=assessment_id,
        )
    result = evidence_record(
        school=school,
        recorded_by=entered_by,
        student_id=student_id,
        target_id=target_id,
        assessment_id=assessment_id,
        score=score,
        status=status,
        assessed_on=assessed_on,
        loaded_assessment=loaded_assessment,
    )
    undo = None
    if result.changed:
        undo = {
            "steps": [
                _undo_step(
                    student_id,
                    target_id,
                    assessment_id,
                    cell_state(result.replaced),
                    cell_state(result.evidence),
                )
            ]
        }
    return EntryResult(result.evidence, result.mastery, result.changed, undo)


@audit.sourced("grid")
@transaction.atomic
def evidence_clear(
    *, school: School, cleared_by, student_id: int, target_id: int, assessment_id: int
) -> EntryResult:
    """Empty a cell: its live evidence is voided ("Cleared"), never deleted."""
    current = (
        Evidence.objects.select_for_update()
        .filter(
            school=school,
            student_id=student_id,
            target_id=target_id,
            assessment_id=assessment_id,
            voided_at__isnull=True,
        )
        .first()
    )
    if current is None:
        return EntryResult(None, None, False, None)
    mastery = evidence_void(
        school=school,
        evidence_id=current.id,
        voided_by=cleared_by,
        reason="Cleared in the scoring grid",
        audit_action=AuditEvent.Action.CLEAR,
    )
    undo = {"steps": [_undo_step(student_id, target_id, assessment_id, cell_state(current), None)]}
    return EntryResult(None, mastery, True, undo)


@audit.sourced("grid")
@transaction.atomic
def evidence_undo(*, school: School, undone_by, undo: dict) -> int:
    """Take back one grid change (one cell, or every cell of a fill). Returns the cells restored.

    Each step holds the cell's values before and after the change; a cell is set back to "before"
    only if it still holds "after" (otherwise someone changed it since, and nothing is undone).
    The history keeps both the change and its undoing.
    """
    steps = undo.get("steps") or []
    if not steps:
        raise EvidenceError({"undo": ["There is nothing to undo."]})
    school_lock(school, shared=True)
    cells = {tuple(step["cell"]): step for step in steps}
    live = {
        (e.student_id, e.target_id, e.assessment_id): e
        for e in Evidence.objects.select_for_update().filter(
            school=school,
            student_id__in={c[0] for c in cells},
            target_id__in={c[1] for c in cells},
            assessment_id__in={c[2] for c in cells},
            voided_at__isnull=True,
        )
    }
    changed_since = [
        c for c, step in cells.items() if not _same_state(cell_state(live.get(c)), step["after"])
    ]
    if changed_since:
        raise EvidenceError(
            {"undo": ["That change has been changed again since; nothing was undone."]}
        )
    now, pairs, reason = timezone.now(), set(), undo.get("reason", "Undone")
    titles, events = {}, []
    for (student_id, target_id, assessment_id), step in cells.items():
        before, current = step["before"], live.get((student_id, target_id, assessment_id))
        if before is None:
            if current is not None:
                current.void(by=undone_by, reason=reason, at=now)
                if not titles:  # one query for the titles, whatever the number of cells
                    titles = dict(
                        Assessment.objects.filter(
                            school=school, id__in={c[2] for c in cells}
                        ).values_list("id", "title")
                    )
                events.append(
                    audit.evidence_event(
                        school=school,
                        action=AuditEvent.Action.UNDO,
                        actor=undone_by,
                        evidence=current,
                        before=audit.evidence_state(current),
                        after=None,
                        title=titles.get(assessment_id, ""),
                        note=reason,
                        at=now,
                    )
                )
            pairs.add((student_id, target_id))
        else:
            evidence_record(
                school=school,
                recorded_by=undone_by,
                student_id=student_id,
                target_id=target_id,
                assessment_id=assessment_id,
                score=before["score"],
                status=before["status"],
                assessed_on=date.fromisoformat(before["assessed_on"]),
                feedback=before["feedback"],
                replaced_reason=reason,
                audit_action=AuditEvent.Action.UNDO,
            )
    audit.record_many(events)
    pairs_recompute(school=school, pairs=pairs)
    return len(cells)


# --- The scoring grid's undo stack ---------------------------------------------------------------

UNDO_DEPTH = 25


@dataclass
class UndoResult:
    label: str | None  # the change taken back (or dropped); None when there was nothing to undo
    refused: str | None  # why nothing was undone, when the cell changed again since


# Joins the caller's transaction without a savepoint: the scoring cell's save keeps its pinned
# number of queries, and a failed push still rolls back with the score it belongs to.
@transaction.atomic(savepoint=False)
def scoring_undo_push(
    *,
    school: School,
    user,
    section: Section,
    assessment: Assessment,
    undo: dict | None,
    label: str,
) -> str | None:
    """Keep a grid change on the user's undo stack of this section and assessment; returns its
    label (now the top of the stack), or None when there was nothing to keep."""
    if not undo:
        return None
    top = ScoringUndo.objects.create(
        school=school,
        user=user,
        assessment=assessment,
        action={**undo, "section": section.id},
        description=label[:200],
    )
    stack = scoring_undo_stack(school=school, user=user, section=section, assessment=assessment)
    stale = stack.order_by("-id")[UNDO_DEPTH:]
    # One DELETE … WHERE id IN (SELECT … OFFSET 25): the stack keeps its last UNDO_DEPTH changes.
    ScoringUndo.objects.filter(school=school, id__in=stale.values("id")).delete()
    return top.description


@transaction.atomic
def scoring_undo_pop(
    *, school: School, user, section: Section, assessment: Assessment
) -> UndoResult:
    """Take back the user's last change in this section's grid of this assessment.

    The entry leaves the stack either way: a cell changed again since is not undone (the result
    says why), and the next undo offers the change before it.
    """
    top = (
        scoring_undo_stack(school=school, user=user, section=section, assessment=assessment)
        .select_for_update()
        .order_by("-id")
        .first()
    )
    if top is None:
        return UndoResult(None, None)
    top.delete()
    try:
        with transaction.atomic():
            evidence_undo(school=school, undone_by=user, undo=top.action)
    except EvidenceError as exc:
        return UndoResult(top.description, " ".join(exc.messages))
    return UndoResult(top.description, None)


def pairs_recompute(*, school: School, pairs: set[tuple[int, int]]) -> int:
    """Recompute many Mastery records through the engine in a constant number of queries."""
    from mastery.selectors import current_policies

    if not pairs:
        return 0
    levels = achievement_levels(school)
    policies = current_policies(school)
    engines = {p.id: p.to_engine(levels) for p in policies}
    default = next(p for p in policies if p.course_id is None)
    assigned = override_assignments(school) if len(policies) > 1 else {}
    rows = defaultdict(list)
    for e in Evidence.objects.filter(
        school=school,
        student_id__in={s for s, _ in pairs},
        target_id__in={t for _, t in pairs},
        voided_at__isnull=True,
    ).order_by("assessed_on", "id"):
        if (e.student_id, e.target_id) in pairs:
            rows[(e.student_id, e.target_id)].append(e.as_engine_evidence())
    records = []
    for pair in pairs:
        policy_id = assigned.get(pair, default.id)
        outcome = calculation.compute(rows.get(pair, []), engines[policy_id])
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


@audit.sourced("grid")
@transaction.atomic
def evidence_fill(
    *,
    school: School,
    filled_by,
    section,
    assessment,
    text: str,
    target_ids: list[int] | None = None,
) -> list[int]:
    """ "Fill empty cells with …": one value into every empty cell of the section on the assessment.

    Validated once, inserted in bulk, recomputed in bulk. Returns the undo of the whole fill.
    """
    score, status = parse_entry(text)
    if status is None:
        raise EvidenceError({"value": ["Choose a score or a status to fill the empty cells with."]})
    levels = achievement_levels(school)
    score = parse_score(score, status=status, levels=levels)
    if assessment.course_id != section.course_id or (
        assessment.section_id and assessment.section_id != section.id
    ):
        raise EvidenceError({"assessment": ["That assessment is not given in this section."]})
    aligned = set(
        AssessmentTarget.objects.filter(school=school, assessment=assessment).values_list(
            "target_id", flat=True
        )
    )
    chosen = aligned if not target_ids else set(target_ids)
    if not chosen <= aligned:
        raise EvidenceError(
            {"target": ["Those learning targets are not all aligned to this assessment."]}
        )
    if not section.term.contains(assessment.assessed_on):
        raise EvidenceError(
            {"assessed_on": [f"The assessment's date is outside {section.term.name}."]}
        )
    students = list(
        Enrollment.objects.filter(
            school=school, section=section, withdrawn_on__isnull=True
        ).values_list("student_id", flat=True)
    )
    school_lock(school, shared=True)
    taken = set(
        Evidence.objects.filter(
            school=school, assessment=assessment, student_id__in=students, voided_at__isnull=True
        ).values_list("student_id", "target_id")
    )
    now = timezone.now()
    new = [
        Evidence(
            school=school,
            student_id=sid,
            target_id=tid,
            assessment=assessment,
            score=score,
            status=status,
            kind=assessment.kind,
            assessed_on=assessment.assessed_on,
            recorded_by=filled_by,
            recorded_at=now,
        )
        for sid in students
        for tid in sorted(chosen)
        if (sid, tid) not in taken
    ]
    Evidence.objects.bulk_create(new)
    audit.record_many(
        audit.evidence_event(
            school=school,
            action=AuditEvent.Action.FILL,
            actor=filled_by,
            evidence=e,
            before=None,
            after=audit.evidence_state(e),
            title=assessment.title,
            at=now,
        )
        for e in new
    )
    pairs_recompute(school=school, pairs={(e.student_id, e.target_id) for e in new})
    return {
        "steps": [
            _undo_step(e.student_id, e.target_id, assessment.id, None, cell_state(e)) for e in new
        ],
        "reason": "Undone (fill)",
    }


@audit.sourced("grid")
@transaction.atomic
def feedback_save(
    *, school: School, written_by, assessment, student_id: int, text: str
) -> AssessmentFeedback | None:
    """The teacher's comment to a student on an assessment; empty text removes it.

    Audited like a score (docs/design.md section 7): every change records who, when, the old text and
    the new one, so a comment edited or removed is still in the school's audit trail. Saving the
    text the comment already holds writes nothing and records nothing.
    """
    # A browser sends a line break as CRLF: counted as one character, as the page counts it.
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_FEEDBACK:
        # Refused whole, never cut: the teacher sees the count and shortens it.
        raise EvidenceError(
            {
                "feedback": [
                    f"Feedback is limited to {MAX_FEEDBACK} characters. This comment has "
                    f"{len(text):,}: shorten it by {len(text) - MAX_FEEDBACK:,}. Nothing was saved."
                ]
            }
        )
    if "\x00" in text:
        raise EvidenceError({"feedback": ["Feedback cannot hold a NUL character."]})
    if not Enrollment.objects.filter(
        school=school, student_id=student_id, section__course_id=assessment.course_id
    ).exists():
        raise EvidenceError({"student": ["That student does not take this course."]})
    mine = {"school": school, "assessment": assessment, "student_id": student_id}
    current = AssessmentFeedback.objects.select_for_update().filter(**mine).first()
    if current is None and text:
        try:
            with transaction.atomic():
                saved = AssessmentFeedback.objects.create(
                    **mine, text=text, updated_by=written_by, updated_at=timezone.now()
                )
        except IntegrityError:  # written at the same moment by another request: change that one
            current = AssessmentFeedback.objects.select_for_update().filter(**mine).first()
        else:
            return _comment_audit(written_by, assessment, student_id, None, saved)
    if (current.text if current is not None else "") == text:
        return current  # unchanged: nothing written, nothing recorded
    before = _comment_state(current)
    if not text:
        row_id = current.pk
        current.delete()
        return _comment_audit(written_by, assessment, student_id, before, None, row_id=row_id)
    current.text, current.updated_by, current.updated_at = text, written_by, timezone.now()
    current.save(update_fields=["text", "updated_by", "updated_at"])
    return _comment_audit(written_by, assessment, student_id, before, current)


def _comment_audit(
    actor,
    assessment,
    student_id: int,
    before: dict | None,
    saved: AssessmentFeedback | None,
    *,
    row_id: int | None = None,
) -> AssessmentFeedback | None:
    """Record a comment's change (one INSERT) and tell the family pages; returns the comment."""
    after = _comment_state(saved)
    action = (
        AuditEvent.Action.RECORD
        if before is None
        else AuditEvent.Action.CLEAR
        if after is None
        else AuditEvent.Action.REPLACE
    )
    audit.record(
        school=assessment.school_id,
        action=action,
        # A comment is part of the assessment's evidence: listed with it on the audit page.
        object_type=AuditEvent.ObjectType.EVIDENCE,
        object_id=saved.pk if saved is not None else row_id,
        student_id=student_id,
        before=before,
        after=after,
        actor=actor,
        summary=f"Comment on “{assessment.title}”: "
        f"{_comment_excerpt(before)} → {_comment_excerpt(after)}",
    )
    pagecache.students_changed(assessment.school_id, [student_id])
    return saved


def _comment_state(row: AssessmentFeedback | None) -> dict | None:
    return None if row is None else {"comment": row.text, "assessment": row.assessment_id}


def _comment_excerpt(state: dict | None) -> str:
    """The comment in a summary line (the whole text is in the event's before/after)."""
    if state is None:
        return "—"
    text = " ".join(state["comment"].split())
    return f"“{text if len(text) <= 80 else text[:79] + '…'}”"


# --- Reassessment ----------------------------------------------------------------------------------


def submission_token() -> str:
    """A new one-time token for a form that records a reassessment (see `reassessment_record`)."""
    return uuid.uuid4().hex


def _token(value) -> uuid.UUID | None:
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
    recorded_by,
    section,
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
    target (its original) and given in this section. Open requests for the pair are completed.

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
    score, status = parse_entry(text)
    if status is None:
        raise EvidenceError({"score": ["Enter the reassessment's score or status."]})
    # Refused before anything is written (the assessment below included).
    score = parse_score(score, status=status, levels=achievement_levels(school))
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
        twin = {
            "school": school,
            "student_id": student_id,
            "target_id": target_id,
            "attempt": attempt,
        }
        if once is not None and (done := _resubmitted(token=once, **twin)) is not None:
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
                taken = (
                    once is not None
                    and Assessment.objects.filter(school=school, submission_token=once).exists()
                )  # by another attempt of this form (values differ): record without
                assessment = Assessment.objects.create(
                    **fields, submission_token=None if taken else once
                )
        except IntegrityError:
            if once is None:
                raise
            # The same form, sent at the same moment, committed first: that is this attempt.
            if (done := _resubmitted(token=once, **twin)) is not None:
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
    ReassessmentRequest.objects.filter(
        school=school,
        student_id=student_id,
        target_id=target_id,
        status__in=[ReassessmentRequest.Status.OPEN, ReassessmentRequest.Status.SCHEDULED],
    ).update(
        status=ReassessmentRequest.Status.COMPLETED,
        resolved_at=timezone.now(),
        resolved_by=recorded_by,
        evidence=result.evidence,
    )
    return result


@transaction.atomic
def reassessment_request_create(
    *, school: School, requested_by, student_id: int, target_id: int, note: str = ""
) -> ReassessmentRequest:
    """A request to be reassessed on a target (from the student portal, or noted by a teacher)."""
    enrollment = (
        Enrollment.objects.filter(
            school=school,
            student_id=student_id,
            withdrawn_on__isnull=True,
            section__course__course_targets__target_id=target_id,
        )
        .select_related("section")
        .first()
    )
    if enrollment is None:
        raise EvidenceError(
            {"target": ["That learning target is not part of the student's courses."]}
        )
    if ReassessmentRequest.objects.filter(
        school=school,
        student_id=student_id,
        target_id=target_id,
        status=ReassessmentRequest.Status.OPEN,
    ).exists():
        raise EvidenceError({"target": ["A request for this learning target is already open."]})
    pagecache.students_changed(school.id, [student_id])
    return ReassessmentRequest.objects.create(
        school=school,
        student_id=student_id,
        target_id=target_id,
        section=enrollment.section,
        requested_by=requested_by,
        note=(note or "").strip()[:500],
    )


@transaction.atomic
def reassessment_request_resolve(
    *, school: School, request_id: int, resolved_by, status: str
) -> ReassessmentRequest:
    request = (
        ReassessmentRequest.objects.select_for_update().filter(school=school, id=request_id).first()
    )
    if request is None:
        raise EvidenceError({"request": ["That request does not exist in this school."]})
    if status not in (ReassessmentRequest.Status.SCHEDULED, ReassessmentRequest.Status.DECLINED):
        raise EvidenceError({"status": ["A request can be scheduled or declined here."]})
    request.status = status
    if status == ReassessmentRequest.Status.DECLINED:
        request.resolved_at, request.resolved_by = timezone.now(), resolved_by
    request.save(update_fields=["status", "resolved_at", "resolved_by"])
    pagecache.students_changed(school.id, [request.student_id])
    return request


# --- Assessments -----------------------------------------------------------------------------------


@transaction.atomic
def assessment_save(
    *,
    school: School,
    saved_by,
    assessment: Assessment | None = None,
    title: str,
    kind: str,
    assessed_on: date,
    course,
    section=None,
    target_ids: list[int],
    tier: str = "",
    original=None,
    description: str = "",
) -> Assessment:
    """Create or edit an assessment. Editing keeps its evidence consistent (kind, date, targets)."""
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["Give the assessment a title."]
    if kind not in AssessmentKind.values:
        errors["kind"] = ["Choose a kind."]
    if course is None or course.school_id != school.id:
        errors["course"] = ["That course is not in this school."]
    if section is not None and (
        section.school_id != school.id or section.course_id != getattr(course, "id", None)
    ):
        errors["section"] = ["That section does not belong to the course."]
    course_targets = (
        set(
            CourseTarget.objects.filter(school=school, course=course).values_list(
                "target_id", flat=True
            )
        )
        if course is not None
        else set()
    )
    targets = set(target_ids or [])
    if not targets:
        errors["targets"] = ["Align the assessment to at least one learning target."]
    elif not targets <= course_targets:
        errors["targets"] = ["Only the course's learning targets can be aligned."]
    if original is not None:
        if kind != AssessmentKind.REASSESSMENT:
            errors["original"] = ["Only a reassessment retakes an original assessment."]
        elif original.school_id != school.id or original.course_id != getattr(course, "id", None):
            errors["original"] = ["The original must be an assessment of the same course."]
        elif assessment is not None and original.id == assessment.id:
            errors["original"] = ["An assessment cannot retake itself."]
    if course is not None and "section" not in errors:
        terms = (
            [section.term]
            if section is not None
            else [
                s.term
                for s in Section.objects.filter(school=school, course=course).select_related("term")
            ]
        )
        if terms and not any(t.contains(assessed_on) for t in terms):
            names = ", ".join(sorted({t.name for t in terms}))
            errors["assessed_on"] = [f"{assessed_on:%b %-d, %Y} is outside the term ({names})."]
    if assessment is not None and section is not None and "section" not in errors:
        # Narrowing a common assessment to one section would strand other sections' scores.
        stranded = (
            Evidence.objects.filter(school=school, assessment=assessment, voided_at__isnull=True)
            .exclude(student__enrollments__section=section)
            .count()
        )
        if stranded:
            errors["section"] = [
                f"{stranded} score{'s' if stranded != 1 else ''} from other sections exist on this assessment; "
                "keep it common to the course, or void those scores first."
            ]
    if assessment is not None:
        removed = set(assessment.alignments.values_list("target_id", flat=True)) - targets
        in_use = Evidence.objects.filter(
            school=school, assessment=assessment, target_id__in=removed, voided_at__isnull=True
        ).count()
        if in_use:
            errors["targets"] = [
                f"{in_use} score{'s' if in_use != 1 else ''} exist on the targets you removed; void them first."
            ]
    if errors:
        raise EvidenceError(errors)

    fields = {
        "title": title[:200],
        "kind": kind,
        "assessed_on": assessed_on,
        "course": course,
        "section": section,
        "tier": (tier or "").strip()[:40],
        "original": original,
        "description": (description or "").strip(),
    }
    if assessment is None:
        assessment = Assessment.objects.create(school=school, created_by=saved_by, **fields)
        old_kind = old_date = None
    else:
        old_kind, old_date = assessment.kind, assessment.assessed_on
        for name, value in fields.items():
            setattr(assessment, name, value)
        assessment.save()
    existing = set(
        AssessmentTarget.objects.filter(school=school, assessment=assessment).values_list(
            "target_id", flat=True
        )
    )
    AssessmentTarget.objects.filter(
        school=school, assessment=assessment, target_id__in=existing - targets
    ).delete()
    AssessmentTarget.objects.bulk_create(
        AssessmentTarget(school=school, assessment=assessment, target_id=t)
        for t in sorted(targets - existing)
    )
    pagecache.school_changed(school.id)  # families see scheduled reassessments
    if old_kind is not None and (old_kind != kind or old_date != assessed_on):
        live = Evidence.objects.filter(school=school, assessment=assessment, voided_at__isnull=True)
        _audit_assessment_edit(
            school=school, saved_by=saved_by, assessment=assessment, live=live, old_date=old_date
        )
        # Evidence dated with the assessment moves with it; evidence given its own date keeps it.
        live.filter(assessed_on=old_date).update(assessed_on=assessed_on)
        live.update(kind=kind)
        pairs_recompute(school=school, pairs=set(live.values_list("student_id", "target_id")))
    return assessment


def _audit_assessment_edit(*, school: School, saved_by, assessment, live, old_date) -> None:
    """The evidence an assessment edit re-dates or re-kinds: one event each, in bulk."""
    events = []
    for e in live.only("id", "student_id", "target_id", "kind", "assessed_on"):
        before = {"kind": e.kind, "assessed_on": e.assessed_on.isoformat()}
        day = assessment.assessed_on if e.assessed_on == old_date else e.assessed_on
        after = {"kind": assessment.kind, "assessed_on": day.isoformat()}
        if before != after:
            events.append(
                audit.event(
                    school=school,
                    action=AuditEvent.Action.UPDATE,
                    object_type=AuditEvent.ObjectType.EVIDENCE,
                    object_id=e.id,
                    student_id=e.student_id,
                    target_id=e.target_id,
                    before=before,
                    after=after,
                    actor=saved_by,
                    summary=f"“{assessment.title}” edited: its evidence follows (kind, date)",
                )
            )
    audit.record_many(events)


# --- Habits of work ----------------------------------------------------------------------------------


@transaction.atomic
def habit_score_record(
    *,
    school: School,
    recorded_by,
    section,
    student_id: int,
    habit_id: int,
    assessed_on: date,
    text: str,
) -> HabitScore | None:
    """A habit-of-work score on its own scale; a new value voids the old one, empty clears it."""
    if not Enrollment.objects.filter(
        school=school, section=section, student_id=student_id
    ).exists():
        raise EvidenceError({"student": ["That student is not in this section."]})
    habit = Habit.objects.filter(school=school, id=habit_id).first()
    if habit is None:
        raise EvidenceError({"habit": ["That habit does not exist in this school."]})
    if not section.term.contains(assessed_on):
        raise EvidenceError(
            {"assessed_on": [f"{assessed_on:%b %-d, %Y} is outside {section.term.name}."]}
        )
    current = (
        HabitScore.objects.select_for_update()
        .filter(
            school=school,
            section=section,
            student_id=student_id,
            habit=habit,
            assessed_on=assessed_on,
            voided_at__isnull=True,
        )
        .first()
    )
    value = (text or "").strip()
    pagecache.students_changed(school.id, [student_id])
    if not value:
        if current is not None:
            current.void(by=recorded_by, reason="Cleared")
            _audit_habit(AuditEvent.Action.CLEAR, current, habit, recorded_by, before=current)
        return None
    levels = list(
        ScaleLevel.objects.filter(
            school=school, scale__kind=ProficiencyScale.Kind.HABITS
        ).select_related("scale")
    )
    score = parse_score(value, status=EvidenceStatus.SCORED, levels=levels)
    if current is not None and current.score == score:
        return current
    if current is not None:
        current.void(by=recorded_by, reason="Replaced by a new score")
    saved = HabitScore.objects.create(
        school=school,
        student_id=student_id,
        habit=habit,
        section=section,
        score=score,
        assessed_on=assessed_on,
        recorded_by=recorded_by,
    )
    action = AuditEvent.Action.RECORD if current is None else AuditEvent.Action.REPLACE
    _audit_habit(action, saved, habit, recorded_by, before=current, after=saved)
    return saved


def _audit_habit(
    action: str,
    row: HabitScore,
    habit: Habit,
    actor,
    *,
    before: HabitScore | None,
    after: HabitScore | None = None,
) -> None:
    """A habit score is a score too: who changed it, when, from what to what (docs/design.md § 7)."""

    def state(score: HabitScore | None) -> dict | None:
        return None if score is None else {"score": calculation.fmt(score.score)}

    was, now = state(before), state(after)
    audit.record(
        school=row.school_id,
        action=action,
        object_type=AuditEvent.ObjectType.HABIT,
        object_id=row.id,
        student_id=row.student_id,
        before=was,
        after=now,
        actor=actor,
        summary=f"{habit.name}, {row.assessed_on:%b %-d, %Y}: "
        f"{audit.entry_text(was)} → {audit.entry_text(now)}",
    )
