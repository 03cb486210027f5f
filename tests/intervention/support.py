"""What the intervention tests share: Mastery records set by hand, URLs, reading a roster."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django_scopes import scope

from gradebook.models import Mastery
from intervention.models import InterventionCycle, InterventionSettings, InterventionSlot
from intervention.services import roster_rebuild

MONDAY = date.today() - timedelta(days=date.today().weekday())


def set_mastery(w, student, target, score, *, count=1):
    """A Mastery record as the engine would leave it (threshold 3, default cut-offs)."""
    score = None if score is None else Decimal(str(score))
    level = None
    if score is not None:
        level = Decimal(4) if score >= Decimal("3.5") else Decimal(int(score))
    with scope(school=w.school):
        Mastery.objects.update_or_create(
            school=w.school,
            student=student,
            target=target,
            defaults={
                "score": score,
                "level": level,
                "mastered": score is not None and score >= 3,
                "evidence_count": count,
                "scores_counted": count if score is not None else 0,
                "last_evidence_on": date.today(),
                "explanation": "set by the test",
            },
        )


def configure(w, *, weekdays=(2,), capacity=2, enrichment_capacity=5, teachers=None):
    """Math is the focus; the given teachers (default: both) can lead a group on the weekdays."""
    with scope(school=w.school):
        w.department.intervention_focus = True
        w.department.save(update_fields=["intervention_focus"])
        InterventionSettings.objects.update_or_create(
            school=w.school,
            defaults={
                "weekdays": list(weekdays),
                "group_capacity": capacity,
                "enrichment_capacity": enrichment_capacity,
            },
        )
        for weekday in weekdays:
            for teacher in teachers if teachers is not None else (w.teacher, w.other_teacher):
                InterventionSlot.objects.get_or_create(
                    school=w.school,
                    teacher=teacher,
                    weekday=weekday,
                    defaults={"room": f"R{teacher.id}"},
                )
        return InterventionCycle.objects.create(
            school=w.school,
            number=1,
            starts_on=MONDAY,
            ends_on=MONDAY + timedelta(days=27),
            status=InterventionCycle.Status.OPEN,
        )


def build(w, cycle):
    with scope(school=w.school):
        return roster_rebuild(school=w.school, cycle=cycle)
