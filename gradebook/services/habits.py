"""Habits of work: a habit score on the habits scale, audited like any score."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from gradebook.models import Enrollment, EvidenceStatus, Habit, HabitScore, Section
from gradebook.services.evidence import EvidenceError, parse_score
from mastery import audit, calculation, pagecache
from mastery.models import AuditEvent, ProficiencyScale, ScaleLevel, School, User


@transaction.atomic
def habit_score_record(
    *,
    school: School,
    recorded_by: User,
    section: Section,
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
    assert score is not None  # a scored entry: parse_score returns a scale value or raises
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
    actor: User,
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
