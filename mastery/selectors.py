"""Reads of the core: the school's scale and its current grading policies."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from mastery import calculation
from mastery.models import GradingPolicy, ProficiencyScale, ScaleLevel, School


def _per_request[T](school: School, key: str, load: Callable[[], T]) -> T:
    """`load()`, remembered for the rest of the request when `school` is the request's own.

    SchoolScopeMiddleware gives each request a fresh School instance with an empty memo, so a
    score's save and the cell it re-renders read the scale and the policies once. Anywhere else
    (tasks, commands, tests' own instances) there is no memo and every call reads afresh.
    """
    memo = school.__dict__.get("_request_memo")
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def forget_request_memo(school: School) -> None:
    """After a write to what the memo holds (a new policy version), read it afresh."""
    school.__dict__.get("_request_memo", {}).clear()


def achievement_levels(school: School) -> list[ScaleLevel]:
    """The school's achievement levels, lowest first (one query, once per request)."""
    return _per_request(
        school,
        "achievement_levels",
        lambda: list(
            ScaleLevel.objects.filter(school=school, scale__kind=ProficiencyScale.Kind.ACHIEVEMENT)
            .select_related("scale")
            .order_by("value")
        ),
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
    """The current school default (first) and the current course overrides (once per request)."""
    return _per_request(
        school,
        "current_policies",
        lambda: sorted(
            GradingPolicy.objects.filter(school=school, is_current=True),
            key=lambda p: (p.course_id is not None, p.course_id or 0),
        ),
    )


def engine_policy(policy: GradingPolicy, levels: list[ScaleLevel]) -> calculation.Policy:
    return policy.to_engine(levels)
