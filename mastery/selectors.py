"""Reads of the core: the school's scale and its current grading policies."""

from __future__ import annotations

from decimal import Decimal

from mastery import calculation
from mastery.models import GradingPolicy, ProficiencyScale, ScaleLevel, School


def achievement_levels(school: School) -> list[ScaleLevel]:
    """The school's achievement levels, lowest first (one query)."""
    return list(
        ScaleLevel.objects.filter(school=school, scale__kind=ProficiencyScale.Kind.ACHIEVEMENT)
        .select_related("scale")
        .order_by("value")
    )


def allowed_scores(levels: list[ScaleLevel]) -> list[Decimal]:
    """Scores a teacher may record: the level values, plus halves between them when allowed."""
    if not levels:
        return []
    values = sorted({lv.value for lv in levels})
    if levels[0].scale.allows_half_points:
        halves = {(a + b) / 2 for a, b in zip(values, values[1:], strict=False) if b - a == 1}
        values = sorted(set(values) | halves)
    return [v.quantize(Decimal("0.01")) for v in values]


def current_policies(school: School) -> list[GradingPolicy]:
    """The current school default (first) and the current course overrides."""
    return sorted(
        GradingPolicy.objects.filter(school=school, is_current=True),
        key=lambda p: (p.course_id is not None, p.course_id or 0),
    )


def engine_policy(policy: GradingPolicy, levels: list[ScaleLevel]) -> calculation.Policy:
    return policy.to_engine(levels)
