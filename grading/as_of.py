"""Levels as they were on a past date, under today's policies (the dashboards' baselines).

The recompute's own statements over the evidence dated on or before the date, so a baseline and
today's records are computed by the same rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db.backends.utils import CursorWrapper

from grading.policies import default_policy, governing, policy_scopes
from grading.school import engine_evidence, pairs_in_order
from grading.sql import policy_statement
from mastery import calculation
from mastery.models import School
from mastery.selectors import achievement_levels, current_policies


def outcomes_as_of_sql(cursor: CursorWrapper, school: School) -> list[str]:
    """SELECTs of (student_id, target_id, score, level, mastered) as of %(as_of)s, one per policy.

    The recompute's own statements, over the evidence dated on or before %(as_of)s: what a
    student's level was on that date under today's policy. Run inside a transaction (the course
    overrides' temporary table lives until its commit); parameters school_id and as_of.
    """
    levels = achievement_levels(school)
    policies = current_policies(school)
    default_policy(school, policies)  # PolicyMissing before any statement
    return [
        policy_statement(
            policy.to_engine(levels),
            scope_sql=scope_sql + " AND e.assessed_on <= %(as_of)s",
            select_only=True,
        )
        for policy, scope_sql in policy_scopes(cursor, school, policies)
    ]


def outcomes_as_of_python(school: School, as_of: date) -> Iterator[tuple]:
    """The engine's (student_id, target_id, score, level, mastered) as of a date (SQLite, reference)."""
    rule = governing(school)
    for student_id, target_id, rows in pairs_in_order(school, until=as_of):
        outcome = calculation.compute(engine_evidence(rows), rule.engine(student_id, target_id))
        level = Decimal(outcome.level) if outcome.level is not None else None
        yield student_id, target_id, outcome.score, level, outcome.mastered
