"""A student's progress across their courses, a target with its descriptors, habits of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Habit,
    HabitScore,
    Mastery,
    Section,
    Student,
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
    """The student's courses with each target's Mastery record and the course grade."""
    enrollments = list(
        Enrollment.objects.filter(school=school, student=student, withdrawn_on__isnull=True)
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
