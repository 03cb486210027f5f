"""Levels as they were on a past date, under today's policies (the dashboards' baselines, a
closing school year's snapshot).

The recompute's own statements over the evidence dated on or before the date, so a baseline and
today's records are computed by the same rule; each counts the evidence of the school year the
date falls in, unless the policy carries prior years (grading.policies, "the year boundary").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db.backends.utils import CursorWrapper

from grading.policies import (
    AS_OF_WINDOW_SQL,
    default_policy,
    governing,
    policy_scopes,
    year_start,
)
from grading.school import engine_evidence, pairs_in_order
from grading.sql import policy_statement
from mastery import calculation
from mastery.models import School
from mastery.selectors import achievement_levels, current_policies


def _as_of_statements(cursor: CursorWrapper, school: School, *, records: bool) -> list[str]:
    levels = achievement_levels(school)
    policies = current_policies(school)
    default_policy(school, policies)  # PolicyMissing before any statement
    return [
        policy_statement(
            policy.to_engine(levels),
            scope_sql=scope_sql + " AND e.assessed_on <= %(as_of)s",
            select_only=not records,
            select_records=records,
            window_sql="" if policy.carry_prior_years else AS_OF_WINDOW_SQL,
        )
        for policy, scope_sql in policy_scopes(cursor, school, policies)
    ]


def outcomes_as_of_sql(cursor: CursorWrapper, school: School) -> list[str]:
    """SELECTs of (student_id, target_id, score, level, mastered) as of %(as_of)s, one per policy.

    The recompute's own statements, over the evidence dated on or before %(as_of)s: what a
    student's level was on that date under today's policy. Run inside a transaction (the course
    overrides' temporary table lives until its commit); parameters school_id and as_of.
    """
    return _as_of_statements(cursor, school, records=False)


def records_as_of_sql(cursor: CursorWrapper, school: School) -> list[str]:
    """SELECTs of whole records as of %(as_of)s, one per policy: (student_id, target_id, score,
    level, mastered, evidence_count, last_evidence_on, explanation). What a school year's records
    said on its last day (years.services snapshots them). Parameters school_id and as_of."""
    return _as_of_statements(cursor, school, records=True)


def outcomes_as_of_python(school: School, as_of: date) -> Iterator[tuple]:
    """The engine's (student_id, target_id, score, level, mastered) as of a date (SQLite, reference)."""
    for row in records_as_of_python(school, as_of):
        yield row[:5]


def records_as_of_python(school: School, as_of: date) -> Iterator[tuple]:
    """`records_as_of_sql`'s rows through the engine (SQLite, reference)."""
    rule = governing(school)
    start = year_start(school, as_of)
    for student_id, target_id, rows in pairs_in_order(
        school, until=as_of, counts_self=rule.self_counted
    ):
        outcome = calculation.compute(
            engine_evidence(rows, rule.since(student_id, target_id, start)),
            rule.engine(student_id, target_id),
        )
        level = Decimal(outcome.level) if outcome.level is not None else None
        yield (
            student_id,
            target_id,
            outcome.score,
            level,
            outcome.mastered,
            outcome.evidence_count,
            outcome.last_assessed_on,
            outcome.summary,
        )
