"""What the rollover tests share: a school at the end of its year, running a rollover as the
page does, and counting every table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django_scopes import scope, scopes_disabled

from gradebook.models import SchoolYear, Section, Student, Term, YearEndMastery
from intervention.models import InterventionCycle
from tests.factories import World, make_evidence, make_intervention, make_student
from years.models import YearRollover
from years.services import NextYear, plan_fingerprint, rollover_plan, rollover_start

TODAY = date.today()


@dataclass
class Closing:
    """A world at the end of its school year: the year, the next year to open, the grades."""

    w: World
    year: SchoolYear
    next_year: NextYear

    @property
    def graduate(self) -> Student:  # grade 12
        return self.w.students[0]

    @property
    def retained(self) -> Student:  # grade 9, listed as retained
        return self.w.students[1]

    @property
    def no_grade(self) -> Student:
        return self.w.students[2]

    @property
    def promoted(self) -> Student:  # grade 10
        return self.w.students[3]


def closing_year(
    w: World,
    *,
    ends_on: date = TODAY + timedelta(days=40),
    next_starts_on: date = TODAY + timedelta(days=45),
    intervention: bool = True,
) -> Closing:
    """The world's year (which holds its term, its assessment and its evidence), grades 12, 9,
    none and 10 for its four students (9 for the others), evidence on two targets, an open
    intervention cycle and a planned one."""
    if len(w.students) < 4:
        w.students.append(
            make_student(w.school, f"{w.school.slug}-3", first="Student3", sections=[w.section])
        )
    with scope(school=w.school):
        year = SchoolYear.objects.create(
            school=w.school,
            name="2025-2026",
            starts_on=TODAY - timedelta(days=200),
            ends_on=ends_on,
        )
        for student, grade in zip(w.students, (12, 9, None, 10), strict=True):
            Student.objects.filter(pk=student.pk).update(grade_level=grade)
    make_evidence(w, w.students[0], w.targets[0], "4")
    make_evidence(w, w.students[1], w.targets[0], "2")
    make_evidence(w, w.students[1], w.targets[1], "3")
    make_evidence(w, w.students[3], w.targets[1], "1")
    make_evidence(w, w.other_students[0], w.targets[0], "3")
    if intervention:
        cycle = make_intervention(w)
        with scope(school=w.school):
            InterventionCycle.objects.create(
                school=w.school,
                number=cycle.number + 1,
                starts_on=cycle.starts_on + timedelta(days=28),
                ends_on=cycle.starts_on + timedelta(days=52),
            )
    spec = NextYear("2026-2027", next_starts_on, next_starts_on + timedelta(days=300))
    return Closing(w, year, spec)


def roll_over(c: Closing, capture, *, retained=None, execute: bool = True, **options):
    """Preview the plan, then confirm it as the page does; the run (a Celery task, eager here)
    runs on commit. Returns (the plan previewed, the rollover, refreshed)."""
    retained = [c.retained.local_id] if retained is None else retained
    w = c.w
    with scope(school=w.school):
        plan = rollover_plan(
            school=w.school, year=c.year, next_year=c.next_year, retained=retained, **options
        )
        with capture(execute=execute):
            rollover = rollover_start(
                school=w.school,
                year=c.year,
                next_year=c.next_year,
                retained=retained,
                top_grade=options.get("top_grade", 12),
                promote=options.get("promote", True),
                confirmed=plan_fingerprint(plan),
                requested_by=w.admin,
            )
        rollover.refresh_from_db()
    return plan, rollover


def table_counts() -> dict[str, int]:
    """Rows in every table of the database."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def school_state(w: World) -> dict:
    """What a rollover changes in a school, as values."""
    with scopes_disabled():
        return {
            "grades": dict(
                Student.objects.filter(school=w.school).values_list("id", "grade_level")
            ),
            "terms": dict(Term.objects.filter(school=w.school).values_list("id", "closed_at")),
            "sections": dict(
                Section.objects.filter(school=w.school).values_list("id", "archived_at")
            ),
            "cycles": dict(
                InterventionCycle.objects.filter(school=w.school).values_list("id", "status")
            ),
            "years": dict(
                SchoolYear.objects.filter(school=w.school).values_list("name", "closed_at")
            ),
            "year_end": sorted(
                YearEndMastery.objects.filter(school=w.school).values_list(
                    "year_id", "student_id", "target_id", "level", "recorded_at"
                )
            ),
            "rollovers": sorted(
                YearRollover.objects.filter(school=w.school).values_list("id", "status")
            ),
        }


# --- For the project-wide URL sweeps (tests/mastery/test_tenancy.URL_OBJECTS) -------------------


def school_year_of(w: World) -> SchoolYear:
    """The world's school year (the `year_id` of the years pages' URLs), made once."""
    with scopes_disabled():
        year, _ = SchoolYear.objects.get_or_create(
            school=w.school,
            name="2025-2026",
            defaults={
                "starts_on": TODAY - timedelta(days=200),
                "ends_on": TODAY + timedelta(days=40),
            },
        )
    return year


def rollover_of(w: World) -> YearRollover:
    """A confirmed rollover of the world's year, not run (the `rollover_id`), made once."""
    year = school_year_of(w)
    with scope(school=w.school):
        found = YearRollover.objects.filter(school=w.school, year=year).first()
        if found is not None:
            return found
        plan = rollover_plan(
            school=w.school,
            year=year,
            next_year=NextYear(
                "2026-2027", TODAY + timedelta(days=45), TODAY + timedelta(days=300)
            ),
        )
        return YearRollover.objects.create(
            school=w.school,
            year=year,
            plan=plan,
            fingerprint=plan_fingerprint(plan),
            requested_by=w.admin,
        )
