"""A synthetic school or district for the benchmark, loaded with set-based SQL.

The shape follows docs/design.md section 6: each student takes six courses (one per department) of 15
learning targets, with 2-6 pieces of evidence per student × target (4 on average), so the district
preset (50,000 students over 25 schools) holds about 18 million Evidence rows and 4.5 million
Mastery records. Small things (schools, the framework, sections, assessments) go through the ORM;
students, enrollments and evidence are INSERT … SELECT over generate_series, and the evidence
table's secondary indexes and foreign keys are dropped during the load and rebuilt once after it
(rebuilding an index is far cheaper than maintaining it row by row).

The data is deterministic (hash functions, not random()), so two runs at one scale compare. A
generated database records its scale in `bench_meta`; a later run at the same scale reuses it.
One module (~650 lines): the load is one sequence of SQL steps, each depending on the last.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import psycopg
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Course,
    CourseTarget,
    Section,
    SectionTeacher,
    Term,
)
from grading.school import school_recompute_parts
from intervention.models import InterventionSettings, InterventionSlot
from intervention.services import cycle_open
from mastery.models import (
    Competency,
    Department,
    District,
    LearningTarget,
    Membership,
    Role,
    School,
    User,
)
from mastery.services import school_provision
from mastery.tenancy import all_schools

GENERATOR_VERSION = 1
DEPARTMENTS = (
    # name, code, feeds the intervention rosters
    ("Mathematics", "MATH", True),
    ("English", "ELA", True),
    ("Science", "SCI", False),
    ("History", "HIST", False),
    ("World Languages", "WL", False),
    ("Arts", "ART", False),
)
GRADES = (9, 10, 11, 12)
COMPETENCIES_PER_COURSE, TARGETS_PER_COMPETENCY = 3, 5
TARGETS_PER_COURSE = COMPETENCIES_PER_COURSE * TARGETS_PER_COMPETENCY
# Each assessment covers 3 targets, so each target is on 6 assessments spread over the term; a
# student × target gets the first 2-6 of them.
ASSESSMENTS_PER_COURSE, TARGETS_PER_ASSESSMENT = 30, 3
CLASS_SIZE, SECTIONS_PER_TEACHER = 32, 6
GUARDIANS = 200  # in the first school, two children each: the portal load test's families
PASSWORD = "bench-password"
DOMAIN = "bench.example"

FIRST_NAMES = [
    "Ava",
    "Liam",
    "Sofia",
    "Noah",
    "Mia",
    "Mateo",
    "Isabella",
    "Lucas",
    "Camila",
    "Ethan",
    "Valentina",
    "Mason",
    "Aria",
    "Diego",
    "Chloe",
    "Kenji",
    "Layla",
    "Omar",
    "Zoe",
    "Elijah",
    "Lucia",
    "Amir",
    "Grace",
    "Javier",
    "Nora",
    "Hiroshi",
    "Maya",
    "Caleb",
    "Elena",
    "Samuel",
    "Priya",
    "Daniel",
    "Ximena",
    "Leo",
    "Fatima",
    "Gabriel",
    "Hannah",
    "Andres",
    "Lily",
    "Tariq",
]
LAST_NAMES = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Martinez",
    "Brown",
    "Lopez",
    "Davis",
    "Hernandez",
    "Wilson",
    "Kim",
    "Anderson",
    "Patel",
    "Thomas",
    "Rodriguez",
    "Taylor",
    "Moore",
    "Jackson",
    "Perez",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Rivera",
]


@dataclass(frozen=True)
class Scale:
    students: int
    schools: int

    @property
    def version(self) -> int:
        return GENERATOR_VERSION

    def meta(self) -> dict:
        return {**asdict(self), "version": GENERATOR_VERSION}

    def school_sizes(self) -> list[int]:
        base, extra = divmod(self.students, self.schools)
        return [base + (1 if i < extra else 0) for i in range(self.schools)]


# --- The database ------------------------------------------------------------------------------


def _server(db: dict, dbname: str) -> dict:
    return {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": dbname,
    }


def stored_scale(db: dict) -> dict | None:
    """The scale a previous run generated in this database, or None (missing, partial, other)."""
    try:
        with psycopg.connect(**_server(db, db["NAME"]), connect_timeout=5) as conn:
            row = conn.execute("SELECT value FROM bench_meta WHERE key = 'scale'").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def recreate_database(db: dict) -> None:
    """Drop and create the bench database. Refuses any database not named for the benchmark."""
    name = db["NAME"]
    if "bench" not in name:
        raise RuntimeError(
            f"Refusing to drop database {name!r}: the benchmark only rebuilds a database whose "
            "name contains 'bench' (make bench uses mastery_bench)."
        )
    connection.close()
    with psycopg.connect(**_server(db, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_database(db: dict) -> None:
    """Create the bench database if it does not exist yet."""
    with psycopg.connect(**_server(db, "postgres"), autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def _record_scale(scale: Scale) -> None:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb)")
        cur.execute(
            "INSERT INTO bench_meta VALUES ('scale', %s) ON CONFLICT (key) DO UPDATE"
            " SET value = EXCLUDED.value",
            [json.dumps(scale.meta())],
        )


# --- Dropping and rebuilding a table's indexes around a bulk load ---------------------------------


def _detach_indexes(table: str) -> list[str]:
    """Drop the table's foreign keys and secondary indexes; return the SQL that rebuilds them.

    An index a constraint stands on stays: the primary key, and a unique key that other tables'
    foreign keys refer to (evidence's (school_id, id), which files and submissions point at)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        fks = cur.fetchall()
        cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND"
            " NOT EXISTS (SELECT 1 FROM pg_constraint c"
            "  WHERE c.conindid = format('%%I', i.indexname)::regclass)",
            [table],
        )
        indexes = cur.fetchall()
        for name, _ in fks:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in fks
    ]


def _reattach(statements: list[str]) -> None:
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for statement in statements:
            cur.execute(statement)


# --- The generator ---------------------------------------------------------------------------------


def bench_term(today: date) -> tuple[date, date]:
    """A term with 14 weeks of school behind today and 26 ahead, whatever the date of the run."""
    start = today - timedelta(weeks=14)
    start -= timedelta(days=start.weekday())
    return start, today + timedelta(weeks=26)


def _school_day(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def generate(scale: Scale, log: Callable[[str], None]) -> dict:
    """Fill the (freshly migrated) bench database at this scale. Returns row counts."""
    started = time.perf_counter()
    today = timezone.localdate()
    password = make_password(PASSWORD)  # hashed once: argon2 is slow on purpose
    with all_schools():
        district = District.objects.create(name="Bench Unified", slug="bench-unified")
        detached = _detach_indexes("gradebook_evidence")
        for index, size in enumerate(scale.school_sizes()):
            t0 = time.perf_counter()
            with transaction.atomic():
                school = _school(district, index, size, today, password)
            log(
                f"  school {index + 1}/{scale.schools} ({school.slug}, {size} students) in"
                f" {time.perf_counter() - t0:.1f} s"
            )
        t0 = time.perf_counter()
        _reattach(detached)
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        log(f"  evidence indexes and keys rebuilt in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        for school in School.objects.filter(district=district).order_by("id"):
            with transaction.atomic():
                school_recompute_parts(school)
        log(f"  mastery computed in {time.perf_counter() - t0:.1f} s")
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        _record_scale(scale)
    counts = table_counts()
    log(f"  generated in {time.perf_counter() - started:.0f} s: {counts}")
    return counts


# The tables PostgreSQL's autovacuum would pick with its default settings: more dead rows than
# 50 + 20% of the table, more rows inserted since the last vacuum than 1,000 + 20%, or more rows
# changed since the last ANALYZE than 50 + 10%.
_AUTOVACUUM_DUE_SQL = """
SELECT s.relname
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
   OR s.n_ins_since_vacuum > 1000 + 0.2 * greatest(c.reltuples, 0)
   OR s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
ORDER BY s.relname
"""


def autovacuum_due() -> list[str]:
    """VACUUM ANALYZE what autovacuum would have by now, when the server runs without it.

    These machines' PostgreSQL is configured with autovacuum off (a CI setting); a production
    server vacuums a table soon after a fifth of it changed. Without it every measurement would
    inherit the dead rows and stale statistics of the ones before it (and of earlier runs on the
    reused data set): a school recompute leaves 180,000 dead Mastery rows, and a roster build
    after a few of them planned on estimates three times too high. Run between measurements,
    outside their timings; returns the tables vacuumed (none when autovacuum is on).
    """
    with connection.cursor() as cur:
        cur.execute("SHOW autovacuum")
        if cur.fetchone()[0] == "on":
            return []
        cur.execute(_AUTOVACUUM_DUE_SQL)
        tables = [row[0] for row in cur.fetchall()]
        for table in tables:
            cur.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return tables


def table_counts() -> dict:
    with connection.cursor() as cur:
        counts = {}
        for table in ("gradebook_student", "gradebook_evidence", "gradebook_mastery"):
            # The planner's estimate after ANALYZE: exact counts of 18 M rows take seconds.
            cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            counts[table.split("_", 1)[1]] = cur.fetchone()[0]
    return counts


def _school(district: District, index: int, size: int, today: date, password: str) -> School:
    number = index + 1
    school = School.objects.create(
        district=district, name=f"Bench High School {number:02d}", slug=f"bench-{number:02d}"
    )
    school_provision(school=school)
    domain = f"{school.slug}.{DOMAIN}"
    term_start, term_end = bench_term(today)
    term = Term.objects.create(
        school=school, name="Bench year", starts_on=term_start, ends_on=term_end
    )

    # The framework: 6 departments × 4 grades = 24 courses of 15 targets each.
    departments = Department.objects.bulk_create(
        Department(school=school, name=name, code=code, intervention_focus=focus)
        for name, code, focus in DEPARTMENTS
    )
    courses: dict[tuple[int, int], Course] = {}
    for d, dept in enumerate(departments):
        for grade in GRADES:
            courses[(d, grade)] = Course(
                school=school,
                department=dept,
                code=f"{dept.code}{grade}",
                name=f"{dept.name} {grade}",
                grade_levels=str(grade),
            )
    Course.objects.bulk_create(courses.values())
    competencies = Competency.objects.bulk_create(
        Competency(
            school=school,
            department=course.department,
            code=f"{course.code}.{c + 1}",
            name=f"{course.name}: strand {c + 1}",
            position=c,
        )
        for course in courses.values()
        for c in range(COMPETENCIES_PER_COURSE)
    )
    targets = LearningTarget.objects.bulk_create(
        LearningTarget(
            school=school,
            competency=comp,
            department=comp.department,
            code=f"{comp.code}.{t + 1}",
            statement=f"I can apply idea {t + 1} of {comp.name.lower()} and explain my reasoning.",
            position=t,
        )
        for comp in competencies
        for t in range(TARGETS_PER_COMPETENCY)
    )
    by_course: dict[int, list[LearningTarget]] = {}
    course_by_code = {c.code: c for c in courses.values()}
    for target in targets:
        course = course_by_code[target.code.split(".")[0]]
        by_course.setdefault(course.id, []).append(target)
    CourseTarget.objects.bulk_create(
        CourseTarget(school=school, course_id=course_id, target=target, position=i)
        for course_id, course_targets in by_course.items()
        for i, target in enumerate(course_targets)
    )
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO mastery_leveldescriptor (school_id, target_id, level_value, text, text_es)
            SELECT t.school_id, t.id, v.level, v.text || lower(t.code) || '.', ''
            FROM mastery_learningtarget t CROSS JOIN (VALUES
                (1, 'With help, I can begin to use the idea of '),
                (2, 'I can use the simpler parts of '),
                (3, 'I can use and explain '),
                (4, 'I can extend and teach others ')) AS v(level, text)
            WHERE t.school_id = %s
            """,
            [school.id],
        )

    # Sections: students of a grade split into classes of about 32, per course.
    grade_counts = {g: len(range(g - GRADES[0], size, len(GRADES))) for g in GRADES}
    n_sections = {g: max(1, math.ceil(grade_counts[g] / CLASS_SIZE)) for g in GRADES}
    sections: list[tuple[int, int, int, Section]] = []
    for (d, grade), course in courses.items():
        for no in range(n_sections[grade]):
            sections.append(
                (
                    d,
                    grade,
                    no,
                    Section(
                        school=school,
                        course=course,
                        term=term,
                        name=f"Section {no + 1:02d}",
                        period=1 + no % 7,
                        room=f"{departments[d].code}-{100 + no}",
                    ),
                )
            )
    Section.objects.bulk_create(s for *_, s in sections)
    n_teachers = math.ceil(len(sections) / SECTIONS_PER_TEACHER)
    teachers = User.objects.bulk_create(
        User(
            email=f"teacher{k + 1:03d}@{domain}",
            full_name=f"{FIRST_NAMES[k % 40]} {LAST_NAMES[(k * 7 + index) % 40]}",
            password=password,
        )
        for k in range(n_teachers)
    )
    staff = User.objects.bulk_create(
        [
            User(email=f"admin@{domain}", full_name="Bench Principal", password=password),
            User(email=f"counselor@{domain}", full_name="Bench Counselor", password=password),
        ]
    )
    Membership.objects.bulk_create(
        [
            *(Membership(school=school, user=t, role=Role.TEACHER) for t in teachers),
            Membership(school=school, user=staff[0], role=Role.SCHOOL_ADMIN),
            Membership(school=school, user=staff[1], role=Role.COUNSELOR),
        ]
    )
    SectionTeacher.objects.bulk_create(
        SectionTeacher(school=school, section=s, teacher=teachers[i // SECTIONS_PER_TEACHER])
        for i, (*_, s) in enumerate(sections)
    )

    # Assessments common to each course, spread over the term so far.
    first_day, last_day = term_start + timedelta(days=7), today - timedelta(days=1)
    span = max((last_day - first_day).days, ASSESSMENTS_PER_COURSE)
    lead = {d: teachers[i // SECTIONS_PER_TEACHER] for i, (d, grade, no, _) in enumerate(sections)}
    assessments = []
    for (d, _grade), course in courses.items():
        for a in range(ASSESSMENTS_PER_COURSE):
            kind = "pre" if a < 3 else ("summative" if a % 5 == 4 else "formative")
            assessments.append(
                Assessment(
                    school=school,
                    title=f"{course.code} {'Unit check' if kind == 'summative' else 'Task'} {a + 1}",
                    kind=kind,
                    assessed_on=_school_day(
                        first_day + timedelta(days=span * a // ASSESSMENTS_PER_COURSE)
                    ),
                    course=course,
                    created_by=lead[d],
                )
            )
    Assessment.objects.bulk_create(assessments)
    AssessmentTarget.objects.bulk_create(
        AssessmentTarget(
            school=school,
            assessment=assessment,
            target=by_course[assessment.course_id][
                (a * TARGETS_PER_ASSESSMENT + j) % TARGETS_PER_COURSE
            ],
        )
        for i, assessment in enumerate(assessments)
        for a in [i % ASSESSMENTS_PER_COURSE]
        for j in range(TARGETS_PER_ASSESSMENT)
    )

    with connection.cursor() as cur:
        _students_and_evidence(cur, school, size, term_start, sections, n_sections)
        _guardians(cur, school, domain, password, index)

    # Intervention: math and English teachers lead groups on Wednesdays and Thursdays.
    InterventionSettings.objects.create(school=school, weekdays=[2, 3], group_capacity=15)
    focus = {d for d, (_, _, f) in enumerate(DEPARTMENTS) if f}
    leaders = sorted(
        {
            teachers[i // SECTIONS_PER_TEACHER].id
            for i, (d, *_r) in enumerate(sections)
            if d in focus
        }
    )
    InterventionSlot.objects.bulk_create(
        InterventionSlot(school=school, teacher_id=t, weekday=w, room=f"Lab {k + 1}")
        for k, t in enumerate(leaders)
        for w in (2, 3)
    )
    cycle_open(school=school, starts_on=today - timedelta(days=today.weekday()), build=False)
    return school


def _students_and_evidence(cur, school, size, term_start, sections, n_sections) -> None:
    cur.execute(
        """
        INSERT INTO gradebook_student (school_id, local_id, first_name, last_name, preferred_name,
                                       grade_level, preferred_language, is_active)
        SELECT %(school)s, lpad(i::text, 6, '0'), (%(first)s::text[])[1 + (i * 7) %% 40],
               (%(last)s::text[])[1 + (i * 13 + i / 40) %% 40], '', 9 + i %% 4,
               CASE WHEN i %% 3 = 0 THEN 'es' ELSE 'en' END, TRUE
        FROM generate_series(0, %(n)s - 1) AS i
        """,
        {"school": school.id, "first": FIRST_NAMES, "last": LAST_NAMES, "n": size},
    )
    cur.execute(
        "CREATE TEMP TABLE bench_section_map (dept int, grade int, no int, n int, section_id bigint)"
        " ON COMMIT DROP"
    )
    cur.executemany(
        "INSERT INTO bench_section_map VALUES (%s, %s, %s, %s, %s)",
        [(d, g, no, n_sections[g], s.id) for d, g, no, s in sections],
    )
    # A student's class in each department rotates, so classmates differ from course to course.
    cur.execute(
        """
        INSERT INTO gradebook_enrollment (school_id, section_id, student_id, enrolled_on)
        SELECT st.school_id, m.section_id, st.id, %(start)s
        FROM gradebook_student st
        JOIN bench_section_map m ON m.grade = st.grade_level
             AND m.no = (st.local_id::int / 4 + m.dept) %% m.n
        WHERE st.school_id = %(school)s
        """,
        {"school": school.id, "start": term_start},
    )
    # Scores: an ability per student, a difficulty per target, growth with each attempt, noise;
    # rounded to the half points the scale allows. 3 in 100 missing, 1 in 100 excused.
    cur.execute(
        """
        INSERT INTO gradebook_evidence (school_id, student_id, target_id, assessment_id, score,
            status, kind, assessed_on, feedback, recorded_by_id, recorded_at, void_reason)
        SELECT en.school_id, en.student_id, al.target_id, al.assessment_id,
               CASE WHEN r.roll >= 4 THEN least(4, greatest(1, round((
                   1.2 + 2.2 * r.ability - r.difficulty + 0.3 * (al.attempt - 1)
                   + (r.roll - 50) / 80.0) * 2) / 2)) END,
               CASE WHEN r.roll < 3 THEN 'missing' WHEN r.roll = 3 THEN 'excused' ELSE 'scored' END,
               al.kind, al.assessed_on,
               CASE WHEN r.roll %% 9 = 0 THEN 'Good progress: show each step and check your units.'
                    ELSE '' END,
               st.teacher_id, al.assessed_on + time '15:30', ''
        FROM gradebook_enrollment en
        JOIN gradebook_section s ON s.id = en.section_id
        JOIN gradebook_sectionteacher st ON st.section_id = s.id
        JOIN (
            SELECT a.course_id, at.target_id, a.id AS assessment_id, a.assessed_on, a.kind,
                   row_number() OVER (PARTITION BY a.course_id, at.target_id
                                      ORDER BY a.assessed_on, a.id) AS attempt
            FROM gradebook_assessment a
            JOIN gradebook_assessmenttarget at ON at.assessment_id = a.id
            WHERE a.school_id = %(school)s
        ) al ON al.course_id = s.course_id
        CROSS JOIN LATERAL (
            SELECT abs(hashint8extended(en.student_id, 7)) %% 1000 / 1000.0 AS ability,
                   abs(hashint8extended(al.target_id, 5)) %% 100 / 125.0 - 0.4 AS difficulty,
                   abs(hashint8extended(en.student_id * 1000003 + al.assessment_id * 31
                                        + al.target_id, 11)) %% 100 AS roll,
                   2 + abs(hashint8extended(en.student_id * 100003 + al.target_id, 3)) %% 5
                       AS attempts
        ) r
        WHERE en.school_id = %(school)s AND al.attempt <= r.attempts
        """,
        {"school": school.id},
    )


def _guardians(cur, school, domain, password, index) -> None:
    """The first school's families: GUARDIANS guardians with two children each."""
    if index != 0:
        return
    cur.execute(
        """
        WITH g AS (
            INSERT INTO mastery_user (password, is_superuser, email, full_name, preferred_language,
                                      is_active, is_staff, date_joined)
            SELECT %(password)s, FALSE, 'guardian' || lpad(k::text, 3, '0') || '@' || %(domain)s,
                   'Guardian ' || k, CASE WHEN k %% 3 = 0 THEN 'es' ELSE 'en' END, TRUE, FALSE, now()
            FROM generate_series(1, %(n)s) AS k
            RETURNING id, email
        ), k AS (
            SELECT id, substring(email FROM 9 FOR 3)::int AS k FROM g
        ), m AS (
            INSERT INTO mastery_membership (school_id, user_id, role, created_at)
            SELECT %(school)s, id, 'guardian', now() FROM k
        )
        INSERT INTO gradebook_guardianship (school_id, guardian_id, student_id, relationship)
        SELECT %(school)s, k.id, st.id, 'parent'
        FROM k JOIN gradebook_student st ON st.school_id = %(school)s
             AND st.local_id::int IN (2 * (k.k - 1), 2 * (k.k - 1) + 1)
        """,
        {"password": password, "domain": domain, "n": GUARDIANS, "school": school.id},
    )
