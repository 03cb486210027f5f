"""What the school and district dashboards count, per school of a scope: proficiency now and at
past dates, course pass rates (and students on track), habits of work by month, evidence per
section.

The numbers come from set-based readers that take a `TermScope` — one or more schools, each read in
one of its terms — and return per-school numbers keyed by `school_id`, each a fixed number of
GROUP BY queries over `school_id IN (…)` whatever the data. The school dashboard calls them with
one school; the district view can call them with the district's schools (each in its current
term) and lay the same numbers side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection

from gradebook.models import Term
from mastery import calculation
from mastery.models import GradingPolicy, ProficiencyScale, ScaleLevel, School
from reports.dashboards.queries import (
    RECENT_DAYS,
    VOLUME_DAYS,
    as_date,
    fetch,
    in_list,
    mastered_sql,
    roster,
    roster_pairs,
    window_start,
)

# --- The scope: schools, each in one term ---------------------------------------------------------


@dataclass(frozen=True)
class TermScope:
    """Which schools to read, each in one of its own terms, and the day "now" is."""

    terms: tuple[Term, ...]
    today: date

    @property
    def school_ids(self) -> list[int]:
        return sorted({t.school_id for t in self.terms})

    def params(self) -> tuple[dict, str, str]:
        """Query parameters with the school and term id lists, and the two `IN (…)` lists."""
        params: dict = {"today": self.today}
        schools = in_list(self.school_ids, "school", params)
        terms = in_list(sorted(t.id for t in self.terms), "term", params)
        return params, schools, terms


def month_sql(column: str) -> str:
    """'YYYY-MM' of a date column, on PostgreSQL and SQLite (%% escapes the parameter style)."""
    if connection.vendor == "postgresql":
        return f"to_char({column}, 'YYYY-MM')"
    return f"strftime('%%Y-%%m', {column})"


# --- Proficiency over time ----------------------------------------------------------------------


@dataclass
class Proficiency:
    department: str
    target: str
    students: int  # distinct students (today's, of the term)
    pairs: int  # student × target pairs
    assessed: int
    proficient: int


def proficiency_counts(
    scope: TermScope, dates: Iterable[date]
) -> dict[tuple[int, date | None, int | None, int | None], Proficiency]:
    """Today's students of the scope's terms, proficient on their targets now and on `dates`.

    Keyed (school_id, as_of or None for now, department_id, target_id): a target row per
    department and target, a department row (target None: all its student × target pairs) and a
    school row (department and target None: each pair once, even if two departments teach it).
    Past dates read the computed baselines (MasterySnapshot); a pair without a snapshot row had no
    evidence by then. One query.
    """
    params, schools, terms = scope.params()
    dated = in_list(sorted(set(dates)), "as_of", params)
    pairs = roster_pairs(schools=schools, terms=terms)
    # The first branch of the UNION names the columns the outer query reads.
    named = "count(DISTINCT student_id) AS students, count(*) AS pairs, count(level) AS assessed"
    counts = "count(DISTINCT student_id), count(*), count(level)"
    rows = fetch(
        f"""
        WITH base AS (
            SELECT DISTINCT p.school_id, p.department_id, p.student_id, p.target_id
            FROM ({pairs}) p
        ),
        marks AS (
            SELECT b.school_id, CAST(NULL AS DATE) AS as_of, b.department_id, b.student_id,
                   b.target_id, m.level, {mastered_sql()} AS ok
            FROM base b
            LEFT JOIN gradebook_mastery m ON m.school_id IN {schools}
                 AND m.school_id = b.school_id AND m.student_id = b.student_id
                 AND m.target_id = b.target_id
            UNION ALL
            SELECT b.school_id, m.as_of, b.department_id, b.student_id, b.target_id, m.level,
                   {mastered_sql()}
            FROM base b
            -- A student id names its school: no b.school_id = m.school_id here, which would let
            -- PostgreSQL guess a handful of rows from the CTE and nest 180,000 index probes.
            JOIN reports_masterysnapshot m ON m.school_id IN {schools}
                 AND m.student_id = b.student_id AND m.target_id = b.target_id
            WHERE m.as_of IN {dated}
        )
        SELECT x.school_id, x.as_of, x.department_id, d.name, x.target_id, t.code,
               x.students, x.pairs, x.assessed, x.proficient
        FROM (
            SELECT school_id, as_of, department_id, target_id, {named}, sum(ok) AS proficient
            FROM marks GROUP BY school_id, as_of, department_id, target_id
            UNION ALL
            SELECT school_id, as_of, department_id, NULL, {counts}, sum(ok)
            FROM marks GROUP BY school_id, as_of, department_id
            UNION ALL
            SELECT school_id, as_of, NULL, NULL, {counts}, sum(ok)
            FROM (SELECT DISTINCT school_id, as_of, student_id, target_id, level, ok
                  FROM marks) u
            GROUP BY school_id, as_of
        ) x
        LEFT JOIN mastery_department d ON d.id = x.department_id AND d.school_id = x.school_id
             AND d.school_id IN {schools}
        LEFT JOIN mastery_learningtarget t ON t.id = x.target_id AND t.school_id = x.school_id
             AND t.school_id IN {schools}
        """,
        params,
    )
    return {
        (school_id, as_date(as_of) if as_of is not None else None, department_id, target_id): (
            Proficiency(
                department or "",
                target or "",
                students,
                pairs_n,
                assessed or 0,
                proficient or 0,
            )
        )
        for (
            school_id,
            as_of,
            department_id,
            department,
            target_id,
            target,
            students,
            pairs_n,
            assessed,
            proficient,
        ) in rows
    }


# --- Course pass rates --------------------------------------------------------------------------


@dataclass
class CoursePass:
    students: int = 0  # active enrollment in the course's sections of the term
    graded: int = 0  # with a course grade (some target with a score)
    passing: int = 0  # graded, and the letter is not the policy's fallback letter


@dataclass
class OnTrack:
    students: int = 0  # with an active enrollment in the term
    graded: int = 0  # with at least one course grade
    on_track: int = 0  # graded, and passing every graded course


def policy_engines(schools: Sequence[School]) -> dict[tuple[int, int | None], calculation.Policy]:
    """The schools' current policies as engine policies, keyed (school_id, course_id or None).

    Two queries whatever the number of schools (a district's page asks for all of them)."""
    ids = [s.id for s in schools]
    levels: dict[int, list[ScaleLevel]] = defaultdict(list)
    for level in ScaleLevel.objects.filter(
        school_id__in=ids, scale__kind=ProficiencyScale.Kind.ACHIEVEMENT
    ).order_by("school_id", "value"):
        levels[level.school_id].append(level)
    return {
        (policy.school_id, policy.course_id): policy.to_engine(levels[policy.school_id])
        for policy in GradingPolicy.objects.filter(school_id__in=ids, is_current=True)
    }


def course_pass_counts(
    scope: TermScope, engines: dict[tuple[int, int | None], calculation.Policy]
) -> tuple[dict[tuple[int, int], CoursePass], dict[int, OnTrack]]:
    """Per (school_id, course_id) and per school_id: who has a course grade and who passes.

    One query fetches every (student, course, target score) of the term's active enrollments (a
    student in two sections of one course counts once); the course grade is the engine's, under
    the course's own policy (its override, else the school's), over all the course's targets as
    the gradebook computes it.
    """
    params, schools, terms = scope.params()
    enrolled = roster(schools=schools, terms=terms)
    rows = fetch(
        f"""
        SELECT DISTINCT r.school_id, r.course_id, r.student_id, ct.target_id, m.score
        FROM ({enrolled}) r
        LEFT JOIN gradebook_coursetarget ct ON ct.school_id IN {schools}
             AND ct.school_id = r.school_id AND ct.course_id = r.course_id
        LEFT JOIN gradebook_mastery m ON m.school_id IN {schools}
             AND m.school_id = r.school_id AND m.student_id = r.student_id
             AND m.target_id = ct.target_id
        """,
        params,
    )
    scores: dict[tuple[int, int, int], list] = defaultdict(list)
    for school_id, course_id, student_id, target_id, score in rows:
        cell = scores[(school_id, course_id, student_id)]
        if target_id is not None:
            cell.append(None if score is None else Decimal(str(score)))
    courses: dict[tuple[int, int], CoursePass] = defaultdict(CoursePass)
    # Per school and student: (graded courses, passed courses).
    students: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for (school_id, course_id, student_id), target_scores in scores.items():
        engine = engines.get((school_id, course_id)) or engines[(school_id, None)]
        letter = calculation.course_grade(target_scores, engine).letter
        counts = courses[(school_id, course_id)]
        counts.students += 1
        tally = students[school_id][student_id]
        if letter is None:
            continue
        counts.graded += 1
        tally[0] += 1
        if letter != engine.fallback_letter:
            counts.passing += 1
            tally[1] += 1
    schools_on_track = {}
    for school_id, tallies in students.items():
        graded = [t for t in tallies.values() if t[0]]
        schools_on_track[school_id] = OnTrack(
            students=len(tallies),
            graded=len(graded),
            on_track=sum(1 for t in graded if t[1] == t[0]),
        )
    return dict(courses), schools_on_track


# --- Habits of work -----------------------------------------------------------------------------


@dataclass
class HabitMonth:
    scores: int
    total: Decimal | float | None


def habit_months(
    scope: TermScope,
) -> tuple[dict[int, list[tuple[int, str]]], dict[tuple[int, str], HabitMonth]]:
    """Each school's habits (school_id → [(habit_id, name)] in their order) and, per
    (habit_id, 'YYYY-MM'), the live scores recorded in the term's sections, dated within the term
    and up to today. One query."""
    params, schools, terms = scope.params()
    rows = fetch(
        f"""
        SELECT h.school_id, h.id, h.name, x.month, count(x.id), sum(x.score)
        FROM gradebook_habit h
        LEFT JOIN (
            SELECT hs.id, hs.school_id, hs.habit_id, hs.score,
                   {month_sql("hs.assessed_on")} AS month
            FROM gradebook_habitscore hs
            JOIN gradebook_section s ON s.id = hs.section_id AND s.school_id = hs.school_id
            JOIN gradebook_term tm ON tm.id = s.term_id AND tm.school_id = s.school_id
            WHERE hs.school_id IN {schools} AND s.term_id IN {terms} AND hs.voided_at IS NULL
              AND hs.assessed_on BETWEEN tm.starts_on AND tm.ends_on
              AND hs.assessed_on <= %(today)s
        ) x ON x.habit_id = h.id AND x.school_id = h.school_id
        WHERE h.school_id IN {schools}
        GROUP BY h.school_id, h.position, h.name, h.id, x.month
        ORDER BY h.school_id, h.position, h.name, h.id
        """,
        params,
    )
    habits: dict[int, list[tuple[int, str]]] = defaultdict(list)
    months: dict[tuple[int, str], HabitMonth] = {}
    for school_id, habit_id, name, month, n, total in rows:
        if (habit_id, name) not in habits[school_id]:
            habits[school_id].append((habit_id, name))
        if month is not None:
            months[(habit_id, month)] = HabitMonth(n, total)
    return dict(habits), months


# --- Evidence volume ----------------------------------------------------------------------------


@dataclass
class SectionVolume:
    school_id: int
    students: int = 0
    recent: int = 0  # dated in the last RECENT_DAYS days (today included)
    volume: int = 0  # dated in the last VOLUME_DAYS days
    term: int = 0  # dated within the term, up to today
    last_on: date | None = None


def evidence_windows(today: date) -> tuple[date, date]:
    """The first days of the two windows: the last 14 and the last 28 days, today included."""
    return window_start(today, RECENT_DAYS), window_start(today, VOLUME_DAYS)


def evidence_volume(scope: TermScope) -> dict[int, SectionVolume]:
    """Per section_id of the scope's terms: its active students and the live evidence (any status)
    that belongs to it — a student's evidence on a target of the section's course, while enrolled
    in it now (a common assessment has no section, so the enrollment decides). One query."""
    params, schools, terms = scope.params()
    params["since_recent"], params["since_volume"] = evidence_windows(scope.today)
    enrolled = roster(schools=schools, terms=terms)
    rows = fetch(
        f"""
        SELECT r.school_id, r.section_id, count(DISTINCT r.student_id),
               sum(CASE WHEN e.assessed_on >= %(since_recent)s THEN 1 ELSE 0 END),
               sum(CASE WHEN e.assessed_on >= %(since_volume)s THEN 1 ELSE 0 END),
               count(e.id), max(e.assessed_on)
        FROM ({enrolled}) r
        JOIN gradebook_term tm ON tm.id = r.term_id AND tm.school_id = r.school_id
        LEFT JOIN gradebook_coursetarget ct ON ct.school_id IN {schools}
             AND ct.school_id = r.school_id AND ct.course_id = r.course_id
        LEFT JOIN gradebook_evidence e ON e.school_id IN {schools}
             AND e.school_id = r.school_id AND e.student_id = r.student_id
             AND e.target_id = ct.target_id AND e.voided_at IS NULL
             AND e.assessed_on BETWEEN tm.starts_on AND tm.ends_on
             AND e.assessed_on <= %(today)s
        GROUP BY r.school_id, r.section_id
        """,
        params,
    )
    return {
        section_id: SectionVolume(
            school_id,
            students,
            recent or 0,
            volume or 0,
            term or 0,
            as_date(last_on) if last_on is not None else None,
        )
        for school_id, section_id, students, recent, volume, term, last_on in rows
    }
