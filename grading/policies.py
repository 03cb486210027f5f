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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper

from gradebook.models import Course, CourseTarget, Enrollment
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

    def policy_id(self, student_id: int, target_id: int) -> int:
        return self.assigned.get((student_id, target_id), self.default_id)

    def engine(self, student_id: int, target_id: int) -> calculation.Policy:
        return self.engines[self.policy_id(student_id, target_id)]


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
    )


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
