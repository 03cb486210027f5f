"""The scoring grid: what a teacher types in a cell, clearing, undoing, filling, comments, and
each user's undo stack of a section's grid.

`score_enter` and `fill_enter` are what the scoring pages call: the change and its entry on the
user's undo stack (with the words the Undo button shows) commit together, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    Mastery,
    ScoringUndo,
    Section,
    Student,
)
from gradebook.selectors.common import cell_state_display
from gradebook.selectors.scoring import scoring_undo_stack
from gradebook.services.evidence import (
    MAX_FEEDBACK,
    EvidenceError,
    evidence_record,
    evidence_void,
    pairs_recompute,
    parse_score,
    score_alerts,
)
from grading.locks import school_lock
from mastery import audit, outbox, pagecache
from mastery.models import AuditEvent, School, User
from mastery.selectors import achievement_levels

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
    entered_by: User,
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
    *, school: School, cleared_by: User, student_id: int, target_id: int, assessment_id: int
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
def evidence_undo(*, school: School, undone_by: User, undo: dict) -> int:
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
    titles: dict[int, str] = {}
    events: list[AuditEvent] = []
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
    user: User,
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
    *, school: School, user: User, section: Section, assessment: Assessment
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


@audit.sourced("grid")
@transaction.atomic
def evidence_fill(
    *,
    school: School,
    filled_by: User,
    section: Section,
    assessment: Assessment,
    text: str,
    target_ids: list[int] | None = None,
) -> dict:
    """ "Fill empty cells with …": one value into every empty cell of the section on the assessment.

    Validated once, inserted in bulk, recomputed in bulk. Returns the undo of the whole fill.
    """
    typed, status = parse_entry(text)
    if status is None:
        raise EvidenceError({"value": ["Choose a score or a status to fill the empty cells with."]})
    levels = achievement_levels(school)
    score = parse_score(typed, status=status, levels=levels)
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
    outbox.record_many(score_alerts(school, new, assessment.title))
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
    *, school: School, written_by: User, assessment: Assessment, student_id: int, text: str
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
            if current is None:  # and removed again since: this comment is the one that stands
                saved = AssessmentFeedback.objects.create(
                    **mine, text=text, updated_by=written_by, updated_at=timezone.now()
                )
                return _comment_audit(written_by, assessment, student_id, None, saved)
        else:
            return _comment_audit(written_by, assessment, student_id, None, saved)
    if current is None:
        return None  # no comment, and none asked for: nothing written, nothing recorded
    if current.text == text:
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
    actor: User,
    assessment: Assessment,
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
    if saved is not None:  # new or changed words for the student (a removal is no news)
        outbox.record(
            school=assessment.school_id,
            kind=outbox.Kind.FEEDBACK,
            student_id=student_id,
            object_type="feedback",
            object_id=saved.pk,
            details={"assessment": assessment.title, "text": saved.text},
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


# --- What the scoring pages call: a change and its undo entry, together ---------------------------


@dataclass
class ScoreResult:
    changed: bool  # False when the cell already held that value (nothing written, nothing kept)
    undo_label: (
        str | None
    )  # the change now on top of the user's undo stack, None when none was kept


def _change_label(name: str, code: str, undo: dict) -> str:
    """What Undo will take back, in words: 'Ana Diaz: 3 on ALG.1 (was 2)'."""
    step = undo["steps"][0]
    now = cell_state_display(step["after"]) or "empty"
    was = cell_state_display(step["before"]) or "empty"
    return f"{name}: {now} on {code} (was {was})"


@transaction.atomic
def score_enter(
    *,
    school: School,
    entered_by: User,
    section: Section,
    assessment: Assessment,
    student: Student,
    target_id: int,
    text: str,
) -> ScoreResult:
    """One cell of a section's scoring grid as typed (`evidence_enter`), kept on the user's undo
    stack of that grid with the words the Undo button shows.

    The score and its undo entry commit together (one transaction, one commit). `assessment` is
    the one the page loaded with its targets (selectors.section_assessments): checking the
    target's alignment and naming it in the label cost no query.
    """
    result = evidence_enter(
        school=school,
        entered_by=entered_by,
        student_id=student.id,
        target_id=target_id,
        assessment_id=assessment.id,
        text=text,
        loaded_assessment=assessment,
    )
    undo_label = None
    if result.changed and result.undo:
        # The assessment came with its targets (section_assessments): no query.
        code = next((t.code for t in assessment.targets.all() if t.id == target_id), "")
        undo_label = scoring_undo_push(
            school=school,
            user=entered_by,
            section=section,
            assessment=assessment,
            undo=result.undo,
            label=_change_label(student.display_name, code, result.undo),
        )
    return ScoreResult(changed=result.changed, undo_label=undo_label)


@transaction.atomic
def fill_enter(
    *,
    school: School,
    filled_by: User,
    section: Section,
    assessment: Assessment,
    text: str,
    target_ids: list[int] | None = None,
) -> int:
    """ "Fill empty cells with …" (`evidence_fill`), kept on the user's undo stack of the grid;
    the cells and the undo entry commit together. Returns the number of cells filled."""
    undo = evidence_fill(
        school=school,
        filled_by=filled_by,
        section=section,
        assessment=assessment,
        text=text,
        target_ids=target_ids,
    )
    filled = len(undo["steps"])
    scoring_undo_push(
        school=school,
        user=filled_by,
        section=section,
        assessment=assessment,
        undo=undo if filled else None,
        label=f"fill {filled} cells with {text.strip().upper()}",
    )
    return filled
