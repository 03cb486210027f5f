"""Which grading policy governs a student and a target: the one rule, answered three ways.

The rule: a course's own policy (an override) governs the targets of that course for the students
enrolled in it; every other pair follows the school's default. When two overriding courses share
a target (rare), the course with the lowest id wins.

- `policy_for_pair`: one pair, in Python (recording a score);
- `override_assignments`: every overridden pair of a school, in Python (the batch recompute on
  SQLite, the as-of reads);
- `create_pair_policy` / `policy_scopes`: the same pairs as a temporary table and the WHERE
  clause of each policy's statement (the set-based recompute on PostgreSQL);
- `policy_for_course`: the policy a course's grade and grid are read under.

`governing` packs the Python answer for the engine paths (a batch of pairs, a whole school, an
as-of date): the policies as engines and the overridden pairs, read once.

tests/grading/test_policies.py checks that the three agree on the same school.

The evidence a governing policy counts (the year boundary): when the school has school years, a
pair's level counts only the evidence dated on or after the start of the current school year
(`year_start`: the latest SchoolYear starting on or before the date), unless the policy carries
prior years (`carry_prior_years`). Earlier evidence stays, readable, and counts nowhere else: it
is treated like voided evidence, so a pair whose evidence is all from earlier years reads "not
enough evidence" this year. `counts_since` is the answer in Python, `window_sql` and
`AS_OF_WINDOW_SQL` in the recompute's statements, `year_start_expression` inside the one-pair
query; tests/grading/test_year_boundary.py checks that they agree. Without school years every
date counts, as before years existed.

Students' self-assessments (gradebook.SelfAssessment) are evidence only where the governing
policy's `count_self_assessment` says so: `Governing.counts_self` in Python, and in SQL the
policy's own statement reads them (grading.sql.policy_statement). Elsewhere they are not read at
all, so a record is the same with or without them (tests/grading/test_self_assessment.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db.backends.utils import CursorWrapper
from django.db.models import DateField, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gradebook.models import Course, CourseTarget, Enrollment, SchoolYear
from mastery import calculation
from mastery.models import GradingPolicy, School
from mastery.selectors import achievement_levels, current_policies


class PolicyMissing(Exception):
    """The school has no current grading policy (school_provision was never run)."""


def policy_for_pair(*, school: School, student_id: int, target_id: int) -> GradingPolicy:
    """The current policy for one student × target (the current policies, memoized per request,
    and one more query only when the school has course overrides).

    A course override applies to the targets of that course for the students enrolled in it;
    otherwise the school default. When two overriding courses share a target (rare), the course
    with the lowest id wins, the same rule as the SQL recompute.
    """
    policies = current_policies(school)  # once per request (mastery.selectors)
    overrides = {p.course_id: p for p in policies if p.course_id is not None}
    if overrides:
        course_ids = Course.objects.filter(
            school=school,
            id__in=overrides,
            sections__enrollments__student_id=student_id,
            course_targets__target_id=target_id,
        ).values_list("id", flat=True)
        if course_ids:
            return overrides[min(course_ids)]
    return default_policy(school, policies)


def default_policy(school: School, policies: list[GradingPolicy]) -> GradingPolicy:
    """The school's current default among `policies` (PolicyMissing if it was never provisioned)."""
    default = next((p for p in policies if p.course_id is None), None)
    if default is None:
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    return default


@dataclass(frozen=True)
class Governing:
    """The school's current policies as engines, and which one governs each pair: what every
    engine path (a batch of pairs, a whole school, an as-of date) computes a pair under."""

    engines: dict[int, calculation.Policy]  # policy id -> its engine policy
    default_id: int
    assigned: dict[tuple[int, int], int]  # (student, target) -> overriding policy id
    carrying: frozenset[int] = field(default_factory=frozenset)  # ids that carry prior years
    counting_self: frozenset[int] = field(default_factory=frozenset)  # ids that count self-ratings

    def policy_id(self, student_id: int, target_id: int) -> int:
        return self.assigned.get((student_id, target_id), self.default_id)

    def engine(self, student_id: int, target_id: int) -> calculation.Policy:
        return self.engines[self.policy_id(student_id, target_id)]

    def since(self, student_id: int, target_id: int, start: date | None) -> date | None:
        """The first evidence date the pair's policy counts, given the school year's `start`."""
        return None if self.policy_id(student_id, target_id) in self.carrying else start

    def counts_self(self, student_id: int, target_id: int) -> bool:
        """Whether the pair's policy counts the student's self-assessments as evidence."""
        return self.policy_id(student_id, target_id) in self.counting_self

    @property
    def self_counted(self) -> Callable[[int, int], bool] | None:
        """`counts_self` for `grading.school.pairs_in_order`, or None when no policy counts
        self-assessments (then they are not even read)."""
        return self.counts_self if self.counting_self else None


def governing(school: School) -> Governing:
    """The scale and the policies (memoized per request), plus the overrides' pairs (one query
    more, and two only when the school has course overrides)."""
    levels = achievement_levels(school)
    policies = current_policies(school)
    default = default_policy(school, policies)
    return Governing(
        engines={p.id: p.to_engine(levels) for p in policies},
        default_id=default.id,
        assigned=override_assignments(school),
        carrying=frozenset(p.id for p in policies if p.carry_prior_years),
        counting_self=frozenset(p.id for p in policies if p.count_self_assessment),
    )


# --- The year boundary: which evidence a policy counts ---------------------------------------------


def year_start(school: School, on: date | None = None) -> date | None:
    """The first day of the school year `on` (default: today) falls in: the latest SchoolYear of
    the school that starts on or before it; None when there is none (every date counts)."""
    return (
        SchoolYear.objects.filter(school=school, starts_on__lte=on or timezone.localdate())
        .order_by("-starts_on")
        .values_list("starts_on", flat=True)
        .first()
    )


def year_start_expression(school: School, on: date | None = None) -> Coalesce:
    """`year_start` as a subquery, for a query that filters evidence in the same round trip
    (the one-pair recompute on every score: no query more); the first day of the calendar when
    the school has no year, so that every date counts."""
    latest = (
        SchoolYear.objects.filter(school=school, starts_on__lte=on or timezone.localdate())
        .order_by("-starts_on")
        .values("starts_on")[:1]
    )
    return Coalesce(Subquery(latest), Value(date.min), output_field=DateField())


def counts_since(policy: GradingPolicy, start: date | None) -> date | None:
    """The first evidence date `policy` counts when the school year began on `start`: that day,
    or None (every date) when the policy carries prior years or there is no school year."""
    return None if policy.carry_prior_years else start


# The statements' twin of counts_since, on the `e` evidence alias: the window of today's year
# (parameter year_start, from `year_start`), and the window of the year an as-of date falls in
# (parameters school_id and as_of; no year: every date).
YEAR_WINDOW_SQL = "e.assessed_on >= %(year_start)s"
AS_OF_WINDOW_SQL = (
    "e.assessed_on >= coalesce((SELECT max(y.starts_on) FROM gradebook_schoolyear y"
    " WHERE y.school_id = %(school_id)s AND y.starts_on <= %(as_of)s), DATE '0001-01-01')"
)


def window_sql(policy: GradingPolicy, start: date | None) -> str:
    """The statement's evidence window for `policy` (YEAR_WINDOW_SQL, or '' for every date)."""
    return "" if counts_since(policy, start) is None else YEAR_WINDOW_SQL


def policy_for_course(
    *, school: School, course_id: int, policies: list[GradingPolicy] | None = None
) -> GradingPolicy:
    """The policy a course's grade and grid are read under: its own, or the school default."""
    policies = policies if policies is not None else current_policies(school)
    by_course = {p.course_id: p for p in policies}
    return by_course.get(course_id) or by_course[None]


def override_assignments(school: School) -> dict[tuple[int, int], int]:
    """(student_id, target_id) -> overriding policy id, for pairs under a course override."""
    overrides = {p.course_id: p.id for p in current_policies(school) if p.course_id is not None}
    if not overrides:
        return {}
    targets_by_course: dict[int, list[int]] = defaultdict(list)
    for course_id, target_id in CourseTarget.objects.filter(
        school=school, course_id__in=overrides
    ).values_list("course_id", "target_id"):
        targets_by_course[course_id].append(target_id)
    assigned: dict[tuple[int, int], int] = {}
    rows = (
        Enrollment.objects.filter(school=school, section__course_id__in=overrides)
        .values_list("student_id", "section__course_id")
        .order_by("section__course_id")
    )
    for student_id, course_id in rows:
        for target_id in targets_by_course[course_id]:
            assigned.setdefault((student_id, target_id), overrides[course_id])
    return assigned


def create_pair_policy(cursor: CursorWrapper, school: School) -> None:
    """Temp table of the pairs under a course override (lowest course id wins), for the statements."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.pair_policy")
    cursor.execute(
        """
        CREATE TEMP TABLE pair_policy ON COMMIT DROP AS
        SELECT DISTINCT ON (en.student_id, ct.target_id)
               en.student_id, ct.target_id, p.id AS policy_id
        FROM mastery_gradingpolicy p
        JOIN gradebook_section s ON s.school_id = p.school_id AND s.course_id = p.course_id
        JOIN gradebook_enrollment en ON en.school_id = p.school_id AND en.section_id = s.id
        JOIN gradebook_coursetarget ct ON ct.school_id = p.school_id AND ct.course_id = p.course_id
        WHERE p.school_id = %(school_id)s AND p.is_current AND p.course_id IS NOT NULL
        ORDER BY en.student_id, ct.target_id, p.course_id
        """,
        {"school_id": school.id},
    )
    cursor.execute("CREATE INDEX ON pair_policy (student_id, target_id)")
    cursor.execute("ANALYZE pair_policy")


def policy_scopes(
    cursor: CursorWrapper, school: School, policies: list[GradingPolicy]
) -> list[tuple[GradingPolicy, str]]:
    """(policy, scope_sql) for each current policy: which evidence rows each governs."""
    overrides = [p for p in policies if p.course_id is not None]
    if overrides:
        create_pair_policy(cursor, school)
    scopes = []
    for policy in policies:
        if not overrides:
            scope_sql = ""
        elif policy.course_id is None:
            scope_sql = (
                "AND NOT EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                " AND pp.target_id = e.target_id)"
            )
        else:
            scope_sql = (
                "AND EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                f" AND pp.target_id = e.target_id AND pp.policy_id = {int(policy.id)})"
            )
        scopes.append((policy, scope_sql))
    return scopes
