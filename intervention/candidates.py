"""Who needs re-teaching: the roster builder's reads of Mastery, in SQL.

One query for the focus targets' candidates (students below mastery, students for enrichment, the
targets' subjects) and one for the teachers of each target; the planner (intervention.builder)
places them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from mastery import calculation
from mastery.models import School


class Need(NamedTuple):
    """A focus target a student has a score on and has not mastered.

    A named tuple rather than a frozen dataclass: a school has tens of thousands of them, and a
    frozen dataclass's __init__ (object.__setattr__ per field) cost several times more.
    """

    student_id: int
    target_id: int
    target_code: str
    department_id: int
    score: Decimal
    level: Decimal | None


@dataclass
class Candidates:
    """What the planner reads: the students' needs, who is owed enrichment, each focus target's
    subject, and the teachers who teach a course with each target."""

    needs: dict[int, list[Need]] = field(default_factory=lambda: defaultdict(list))
    enrichment_students: list[int] = field(default_factory=list)
    department_of: dict[int, int] = field(default_factory=dict)
    teachers_of: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))


# Three kinds of rows, so that Python reads only what it places (a school has about 60,000 focus
# pairs, most of them mastered or without a score):
# - 'need': a focus target of a current course the student has a score on and has not mastered;
# - 'enrich': a student with a score on a focus target and none below mastery;
# - 'target': each focus target's department (the subject a kept entry covers).
# (min(CASE …) stands for bool_and, which SQLite, the demo's database, lacks.)
# The small sets come first and are materialized: the focus targets of each course (about 120
# rows) and the current sections' focus targets (about 2,000); only then are they multiplied by
# the enrollments. Left to itself, PostgreSQL joined the term and the target after expanding to
# 60,000 enrollment × target rows and checked them once per row (300 → 200 ms on a school of the
# benchmark's district). The pairs are made distinct before the join to Mastery (made distinct
# after it, over seven columns, they spilled to disk), and in the order of Mastery's unique index:
# its 60,000 lookups then walk the index instead of jumping around it (a hashed DISTINCT had put
# them in random order: 455 ms instead of 245 for the whole statement on the one-school benchmark).
CANDIDATES_SQL = """
WITH focus AS MATERIALIZED (
    SELECT ct.course_id, ct.target_id, t.code, co.department_id
    FROM gradebook_coursetarget ct
    JOIN gradebook_course co ON co.id = ct.course_id AND co.school_id = ct.school_id
    JOIN mastery_department d ON d.id = co.department_id AND d.school_id = ct.school_id
    JOIN mastery_learningtarget t ON t.id = ct.target_id AND t.school_id = ct.school_id
    WHERE ct.school_id = %(school_id)s AND d.intervention_focus AND t.is_active
),
section_targets AS MATERIALIZED (
    SELECT s.id AS section_id, f.target_id, f.code, f.department_id
    FROM gradebook_section s
    JOIN gradebook_term tm ON tm.id = s.term_id AND tm.school_id = s.school_id
    JOIN focus f ON f.course_id = s.course_id
    WHERE s.school_id = %(school_id)s AND tm.starts_on <= %(day)s AND tm.ends_on >= %(day)s
),
pairs AS (
    SELECT DISTINCT en.student_id, st.target_id, st.code, st.department_id
    FROM section_targets st
    JOIN gradebook_enrollment en
      ON en.school_id = %(school_id)s AND en.section_id = st.section_id AND en.withdrawn_on IS NULL
    ORDER BY en.student_id, st.target_id
),
cand AS (
    SELECT p.student_id, p.target_id, p.code, p.department_id, m.score, m.level,
           coalesce(m.mastered, FALSE) AS mastered
    FROM pairs p
    LEFT JOIN gradebook_mastery m
           ON m.school_id = %(school_id)s AND m.student_id = p.student_id AND m.target_id = p.target_id
)
SELECT 'need', student_id, target_id, code, department_id, score, level
FROM cand WHERE score IS NOT NULL AND NOT mastered
UNION ALL
SELECT 'enrich', student_id, NULL, NULL, NULL, NULL, NULL
FROM cand GROUP BY student_id
HAVING count(score) > 0 AND min(CASE WHEN score IS NOT NULL AND NOT mastered THEN 0 ELSE 1 END) = 1
UNION ALL
SELECT 'target', NULL, target_id, NULL, department_id, NULL, NULL
FROM cand GROUP BY target_id, department_id
"""

TEACHERS_SQL = """
SELECT DISTINCT ct.target_id, st.teacher_id
FROM gradebook_sectionteacher st
JOIN gradebook_section s ON s.id = st.section_id AND s.school_id = st.school_id
JOIN gradebook_coursetarget ct ON ct.course_id = s.course_id AND ct.school_id = st.school_id
WHERE st.school_id = %s
"""


def candidates_read(*, school: School, day: date) -> Candidates:
    """The candidates for a cycle starting on `day`, in two queries (needs in no particular order)."""
    found = Candidates()
    with connection.cursor() as cursor:
        cursor.execute(CANDIDATES_SQL, {"school_id": school.id, "day": day})
        for kind, student_id, target_id, code, department_id, score, level in cursor.fetchall():
            if kind == "need":
                found.needs[student_id].append(
                    # psycopg gives Decimals; SQLite (the demo) gives floats.
                    Need(
                        student_id,
                        target_id,
                        code,
                        department_id,
                        calculation.to_decimal(score),
                        level,
                    )
                )
            elif kind == "enrich":
                found.enrichment_students.append(student_id)
            else:
                found.department_of[target_id] = department_id
        cursor.execute(TEACHERS_SQL, [school.id])
        for target_id, teacher_id in cursor.fetchall():
            found.teachers_of[target_id].add(teacher_id)
    return found
