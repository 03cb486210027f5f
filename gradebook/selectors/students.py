"""A student's progress across their courses, a target with its descriptors, habits of work;
and a closed school year's levels (the year selector, last year's context for teachers)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Habit,
    HabitScore,
    Mastery,
    SchoolYear,
    Section,
    Student,
    YearEndMastery,
)
from grading.policies import policy_for_course
from mastery import calculation
from mastery.models import (
    LearningTarget,
    LevelDescriptor,
    School,
)
from mastery.selectors import achievement_levels, current_policies


@dataclass
class CourseProgress:
    course: Course
    section: Section
    targets: list[LearningTarget]
    records: dict[int, Mastery | None]  # None: no record yet on that target
    grade: calculation.CourseGrade


def student_progress(*, school: School, student: Student) -> list[CourseProgress]:
    """The student's courses with each target's Mastery record and the course grade (the
    sections of open years: a closed year's are read from its year-end levels)."""
    enrollments = list(
        Enrollment.objects.filter(
            school=school,
            student=student,
            withdrawn_on__isnull=True,
            section__archived_at__isnull=True,
        )
        .select_related("section__course", "section__term")
        .order_by("section__course__code")
    )
    course_ids = [e.section.course_id for e in enrollments]
    targets_by_course: dict[int, list[LearningTarget]] = {cid: [] for cid in course_ids}
    for ct in (
        CourseTarget.objects.filter(school=school, course_id__in=course_ids)
        .select_related("target")
        .order_by("position", "target__code")
    ):
        targets_by_course[ct.course_id].append(ct.target)
    records = {m.target_id: m for m in Mastery.objects.filter(school=school, student=student)}
    levels = achievement_levels(school)
    policies = current_policies(school)
    progress = []
    for enrollment in enrollments:
        course = enrollment.section.course
        targets = targets_by_course[course.id]
        engine = policy_for_course(school=school, course_id=course.id, policies=policies).to_engine(
            levels
        )
        grade = calculation.course_grade(
            [records[t.id].score if t.id in records else None for t in targets], engine
        )
        progress.append(
            CourseProgress(
                course,
                enrollment.section,
                targets,
                {t.id: records.get(t.id) for t in targets},
                grade,
            )
        )
    return progress


def target_with_descriptors(*, school: School, target_id: int) -> LearningTarget | None:
    return (
        LearningTarget.objects.filter(school=school, id=target_id)
        .select_related("competency", "department")
        .prefetch_related(
            Prefetch(
                "descriptors",
                queryset=LevelDescriptor.objects.filter(school=school).order_by("level_value"),
            )
        )
        .first()
    )


@dataclass
class HabitSummary:
    section: Section
    rows: list[
        tuple[str, Decimal | None, int, date | None]
    ]  # habit, latest score, count, latest date


def student_habits(*, school: School, student: Student) -> list[HabitSummary]:
    """Habits of work per section: the latest score of each habit (on its own scale), never mixed in."""
    habits = list(Habit.objects.filter(school=school).order_by("position", "name"))
    scores = (
        HabitScore.objects.filter(school=school, student=student, voided_at__isnull=True)
        .select_related("section__course")
        .order_by("assessed_on", "id")
    )
    by_section: dict[int, dict] = {}
    sections: dict[int, Section] = {}
    for score in scores:
        sections[score.section_id] = score.section
        entry = by_section.setdefault(score.section_id, {})
        latest, count, _ = entry.get(score.habit_id, (None, 0, None))
        entry[score.habit_id] = (score.score, count + 1, score.assessed_on)
    return [
        HabitSummary(
            sections[sid], [(h.name, *by_section[sid].get(h.id, (None, 0, None))) for h in habits]
        )
        for sid in sorted(sections, key=lambda i: sections[i].course.name)
    ]


# --- Closed school years: their levels, and last year's as context ---------------------------------


@dataclass
class KeptLevel:
    """A level kept when a school year was closed (YearEndMastery), in words."""

    target: LearningTarget
    record: YearEndMastery
    label: str  # the scale's label of the level, "" when there was not enough evidence

    @property
    def words(self) -> str:
        """ "2 Approaching", or "not enough evidence"."""
        if self.record.level is None:
            return "not enough evidence"
        return f"{calculation.fmt(self.record.level)} {self.label}".strip()


@dataclass
class LastYear:
    """A student's levels of last school year near one target: the same target, and the other
    targets of its competency (a shared or prerequisite target). Context for the teacher, never
    this year's grade: this year's level counts this year's evidence only (grading.policies)."""

    year: SchoolYear
    same: KeptLevel | None
    related: list[KeptLevel] = field(default_factory=list)


def last_closed_year(*, school: School, today: date | None = None) -> SchoolYear | None:
    """Last year: the latest closed school year that began by today (one query)."""
    return (
        SchoolYear.objects.filter(
            school=school,
            closed_at__isnull=False,
            starts_on__lte=today or timezone.localdate(),
        )
        .order_by("-starts_on")
        .first()
    )


def _kept(school: School, rows: Iterable[YearEndMastery]) -> list[KeptLevel]:
    labels = {lv.value: lv.display_label for lv in achievement_levels(school)}
    return [
        KeptLevel(r.target, r, labels.get(r.level, "") if r.level is not None else "") for r in rows
    ]


def last_year_near(*, school: School, student: Student, target: LearningTarget) -> LastYear | None:
    """The student's last-year levels on `target` and on the other targets of its competency
    (2 queries, and the scale once per request); None when there are none."""
    year = last_closed_year(school=school)
    if year is None:
        return None
    rows = _kept(
        school,
        YearEndMastery.objects.filter(
            school=school,
            year=year,
            student=student,
            target__competency_id=target.competency_id,
        )
        .select_related("target")
        .order_by("target__position", "target__code"),
    )
    if not rows:
        return None
    same = next((k for k in rows if k.target.id == target.id), None)
    return LastYear(year, same, [k for k in rows if k.target.id != target.id])


def last_year_by_target(*, school: School, student: Student) -> dict[int, LastYear]:
    """Target id -> the student's level on it last year (2 queries), for the student's page."""
    year = last_closed_year(school=school)
    if year is None:
        return {}
    rows = _kept(
        school,
        YearEndMastery.objects.filter(school=school, year=year, student=student).select_related(
            "target"
        ),
    )
    return {k.target.id: LastYear(year, k) for k in rows}


def student_closed_years(*, school: School, student: Student) -> list[SchoolYear]:
    """The closed years that kept levels of the student, newest first (the year selector)."""
    return list(
        SchoolYear.objects.filter(school=school, closed_at__isnull=False, year_end__student=student)
        .distinct()
        .order_by("-starts_on")
    )


@dataclass
class YearCourse:
    """A course of a closed year, with the student's kept level on each of its targets."""

    course: Course | None  # None: the targets kept outside the year's courses
    sections: list[Section]
    levels: list[tuple[LearningTarget, YearEndMastery | None]]


def year_end_progress(*, school: School, student: Student, year: SchoolYear) -> list[YearCourse]:
    """The student's courses of a closed year (sections of its terms) with the levels kept when
    it closed; kept levels on targets of none of those courses come last (4 queries)."""
    kept = {
        r.target_id: r
        for r in YearEndMastery.objects.filter(school=school, year=year, student=student)
        .select_related("target")
        .order_by("target__code")
    }
    enrollments = (
        Enrollment.objects.filter(
            school=school,
            student=student,
            section__term__starts_on__gte=year.starts_on,
            section__term__starts_on__lte=year.ends_on,
        )
        .select_related("section__course", "section__term")
        .order_by("section__course__code", "section__id")
    )
    sections: dict[int, list[Section]] = {}
    courses: dict[int, Course] = {}
    for enrollment in enrollments:
        courses[enrollment.section.course_id] = enrollment.section.course
        sections.setdefault(enrollment.section.course_id, []).append(enrollment.section)
    targets: dict[int, list[LearningTarget]] = {course_id: [] for course_id in courses}
    for ct in (
        CourseTarget.objects.filter(school=school, course_id__in=list(courses))
        .select_related("target")
        .order_by("position", "target__code")
    ):
        targets[ct.course_id].append(ct.target)
    result = [
        YearCourse(course, sections[cid], [(t, kept.get(t.id)) for t in targets[cid]])
        for cid, course in courses.items()
    ]
    shown = {t.id for ts in targets.values() for t in ts}
    others = [(r.target, r) for tid, r in kept.items() if tid not in shown]
    if others:
        result.append(YearCourse(None, [], list(others)))
    return result
