"""The set-based building blocks the dashboards share (plain SQL that PostgreSQL and SQLite both run).

Every statement filters each table by school_id (the row-level security policy would too) and
groups in the database; Python only arranges the grouped rows into figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from django.db import connection

# Who is taught which target this term: an active enrollment (of an active student) in a section of
# the term × the active targets of the section's course. The population every mastery figure counts.
# Over lists of schools and terms (a term belongs to its school, so the two lists together select
# each school's own term); one school's page passes one of each.
ROSTER_PAIRS = """
SELECT s.school_id, en.student_id, ct.target_id, s.id AS section_id, s.course_id, c.department_id
FROM gradebook_section s
JOIN gradebook_course c ON c.id = s.course_id AND c.school_id = s.school_id
JOIN gradebook_enrollment en ON en.section_id = s.id AND en.school_id = s.school_id
     AND en.withdrawn_on IS NULL
JOIN gradebook_student st ON st.id = en.student_id AND st.school_id = s.school_id AND st.is_active
JOIN gradebook_coursetarget ct ON ct.course_id = s.course_id AND ct.school_id = s.school_id
JOIN mastery_learningtarget t ON t.id = ct.target_id AND t.school_id = s.school_id AND t.is_active
WHERE s.school_id IN {schools} AND s.term_id IN {terms} {extra}
"""

# The term's sections' active students (no targets): who a course or section counts.
ROSTER = """
SELECT s.school_id, s.id AS section_id, s.course_id, s.term_id, en.student_id
FROM gradebook_section s
JOIN gradebook_enrollment en ON en.section_id = s.id AND en.school_id = s.school_id
     AND en.withdrawn_on IS NULL
JOIN gradebook_student st ON st.id = en.student_id AND st.school_id = s.school_id AND st.is_active
WHERE s.school_id IN {schools} AND s.term_id IN {terms}
"""

ONE_SCHOOL = "(%(school_id)s)"
ONE_TERM = "(%(term_id)s)"


def roster_pairs(
    *,
    department_id: int | None = None,
    extra: str = "",
    schools: str = ONE_SCHOOL,
    terms: str = ONE_TERM,
) -> str:
    """ROSTER_PAIRS for one school's term (parameters school_id, term_id) or for `IN (…)` lists
    made with in_list; optionally one department's courses only."""
    if department_id is not None:
        extra = f"AND c.department_id = {int(department_id)} {extra}"
    return ROSTER_PAIRS.format(schools=schools, terms=terms, extra=extra)


def roster(*, schools: str = ONE_SCHOOL, terms: str = ONE_TERM) -> str:
    return ROSTER.format(schools=schools, terms=terms)


# "The last 14 days" on every dashboard: today and the 13 days before it.
RECENT_DAYS = 14
VOLUME_DAYS = 28


def window_start(today: date, days: int) -> date:
    return today - timedelta(days=days - 1)


def mastered_sql(alias: str = "m") -> str:
    return f"CASE WHEN {alias}.mastered THEN 1 ELSE 0 END"


def in_list(values: Iterable, prefix: str, params: dict) -> str:
    """`(%(prefix_0)s, %(prefix_1)s, …)` with the values added to params (never string-pasted)."""
    names = []
    for i, value in enumerate(values):
        params[f"{prefix}_{i}"] = value
        names.append(f"%({prefix}_{i})s")
    return "(" + ", ".join(names or ["NULL"]) + ")"


def fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def as_date(value) -> date:
    """SQLite hands dates back as text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
