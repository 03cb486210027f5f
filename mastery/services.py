"""Writes of the core: provisioning a school, changing its grading policy."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from mastery import calculation
from mastery.models import GradingPolicy, ProficiencyScale, ScaleLevel, School
from mastery.selectors import achievement_levels

logger = logging.getLogger(__name__)

DEFAULT_LEVELS = (
    # value, label, Spanish label, cut-off, colour (chosen for contrast with black text)
    ("1", "Beginning", "Inicial", "1", "#f4b6a6"),
    ("2", "Developing", "En desarrollo", "2", "#f6dd8b"),
    ("3", "Proficient", "Competente", "3", "#a8d5a2"),
    ("4", "Advanced", "Avanzado", "3.5", "#8fc1e8"),
)
DEFAULT_HABIT_LEVELS = (
    ("1", "Rarely", "Casi nunca", "1", "#f4b6a6"),
    ("2", "Sometimes", "A veces", "2", "#f6dd8b"),
    ("3", "Usually", "Casi siempre", "3", "#a8d5a2"),
    ("4", "Consistently", "Siempre", "3.5", "#8fc1e8"),
)

# The GradingPolicy fields a school admin may set; everything else is bookkeeping.
POLICY_FIELDS = (
    "method",
    "weight",
    "n",
    "recent",
    "power_law_at",
    "mode_ties",
    "counted_kinds",
    "min_evidence",
    "mastery_threshold",
    "missing_counts_as_minimum",
    "course_grade_rule",
    "grade_bands",
    "threshold_bands",
    "fallback_letter",
)


@transaction.atomic
def school_provision(*, school: School, allows_half_points: bool = True) -> None:
    """Give a new school the default 4-point scale, a habits scale and a default policy.

    Idempotent: what exists already is left alone.
    """
    for kind, name, levels in (
        (ProficiencyScale.Kind.ACHIEVEMENT, "4-point mastery scale", DEFAULT_LEVELS),
        (ProficiencyScale.Kind.HABITS, "Habits of work", DEFAULT_HABIT_LEVELS),
    ):
        scale, created = ProficiencyScale.objects.get_or_create(
            school=school,
            kind=kind,
            defaults={
                "name": name,
                "allows_half_points": allows_half_points
                and kind == ProficiencyScale.Kind.ACHIEVEMENT,
            },
        )
        if created:
            ScaleLevel.objects.bulk_create(
                ScaleLevel(
                    school=school,
                    scale=scale,
                    value=Decimal(value),
                    label=label,
                    label_es=label_es,
                    cutoff=Decimal(cutoff),
                    color=color,
                )
                for value, label, label_es, cutoff, color in levels
            )
    if not GradingPolicy.objects.filter(school=school, course__isnull=True).exists():
        GradingPolicy.objects.create(school=school, version=1, note="Initial school policy")


def _validate_policy(policy: GradingPolicy, levels) -> None:
    try:
        policy.full_clean(exclude=["school", "course", "created_by"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    try:
        policy.to_engine(levels)
    except (calculation.CalculationError, KeyError, TypeError, ValueError) as exc:
        raise ValidationError({"method": [str(exc)]}) from exc


@transaction.atomic
def policy_change(
    *,
    school: School,
    changed_by,
    course=None,
    note: str = "",
    **changes: Any,
) -> GradingPolicy:
    """Write a new version of the school's (or a course's) grading policy and recompute.

    The previous version stays, marked not current, so every Mastery record can say which version
    computed it. The recompute of the school's Mastery records runs in a Celery task after commit;
    if the broker is unreachable the change still stands and `recompute_stale_schools` catches up.
    """
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Not policy settings: {', '.join(sorted(unknown))}")
    if course is not None and course.school_id != school.id:
        raise ValidationError({"course": ["That course is not in this school."]})

    lineage = GradingPolicy.objects.select_for_update().filter(school=school, course=course)
    current = lineage.filter(is_current=True).first()
    if current is None and course is not None:
        # A course's first override starts from the school default.
        current = GradingPolicy.objects.filter(
            school=school, course__isnull=True, is_current=True
        ).first()
    base = {f: getattr(current, f) for f in POLICY_FIELDS} if current else {}
    base.update(changes)
    next_version = (lineage.aggregate(v=Max("version"))["v"] or 0) + 1
    new = GradingPolicy(
        school=school,
        course=course,
        version=next_version,
        is_current=True,
        note=note,
        created_by=changed_by,
        **base,
    )
    _validate_policy(new, achievement_levels(school))
    lineage.filter(is_current=True).update(is_current=False)
    new.save()
    transaction.on_commit(lambda: enqueue_school_recompute(school_id=school.id))
    return new


@transaction.atomic
def policy_remove_override(*, school: School, course, changed_by) -> None:
    """Drop a course's override: its targets fall back to the school default (history is kept)."""
    GradingPolicy.objects.filter(school=school, course=course, is_current=True).update(
        is_current=False
    )
    transaction.on_commit(lambda: enqueue_school_recompute(school_id=school.id))


def enqueue_school_recompute(*, school_id: int) -> bool:
    """Queue the school's recompute; never let a dead broker break the request that asked."""
    from gradebook.tasks import recompute_school_mastery

    try:
        recompute_school_mastery.delay(school_id=school_id)
    except Exception:  # the broker is down: the periodic catch-up will find the stale records
        logger.exception("Could not queue the mastery recompute of school %s", school_id)
        return False
    return True
