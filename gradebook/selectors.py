"""Reads of the gradebook. Every function takes the school and filters every table by it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    Mastery,
    Section,
    SectionTeacher,
    Student,
)
from mastery import calculation
from mastery.models import GradingPolicy, LearningTarget, LevelDescriptor, ScaleLevel, School
from mastery.selectors import achievement_levels, current_policies


def sections_taught_by(*, school: School, user) -> QuerySet[Section]:
    return (
        Section.objects.filter(
            school=school,
            id__in=SectionTeacher.objects.filter(school=school, teacher=user).values("section_id"),
        )
        .select_related("course", "term")
        .annotate(
            student_count=Count("enrollments", filter=Q(enrollments__withdrawn_on__isnull=True))
        )
        .order_by("period", "course__code")
    )


def course_targets(*, school: School, course_id: int) -> list[LearningTarget]:
    return [
        ct.target
        for ct in CourseTarget.objects.filter(school=school, course_id=course_id)
        .select_related("target__competency")
        .order_by("position", "target__code")
    ]


def section_students(*, school: School, section: Section) -> list[Student]:
    return list(
        Student.objects.filter(
            school=school,
            enrollments__section=section,
            enrollments__withdrawn_on__isnull=True,
        ).order_by("last_name", "first_name")
    )


def policy_for_course(*, school: School, course_id: int, policies=None) -> GradingPolicy:
    policies = policies if policies is not None else current_policies(school)
    by_course = {p.course_id: p for p in policies}
    return by_course.get(course_id) or by_course[None]


@dataclass
class LevelStyle:
    value: Decimal
    label: str
    color: str
    cutoff: Decimal


@dataclass
class SectionTable:
    section: Section
    targets: list[LearningTarget]
    students: list[Student]
    levels: list[ScaleLevel]
    cells: dict[tuple[int, int], Mastery]
    grades: dict[int, calculation.CourseGrade] = field(default_factory=dict)
    distribution: dict[int, dict[str, int]] = field(default_factory=dict)

    def cell(self, student_id: int, target_id: int) -> Mastery | None:
        return self.cells.get((student_id, target_id))

    @property
    def rows(self) -> list[tuple[Student, list[Mastery | None], calculation.CourseGrade]]:
        """One row per student: the records in target order and the course grade."""
        return [
            (s, [self.cells.get((s.id, t.id)) for t in self.targets], self.grades[s.id])
            for s in self.students
        ]

    @property
    def columns(self) -> list[tuple[LearningTarget, dict[str, int]]]:
        return [(t, self.distribution[t.id]) for t in self.targets]


def section_table(*, school: School, section: Section) -> SectionTable:
    """Students × the course's targets with each Mastery record, course grades, and distributions.

    A constant number of queries (6), whatever the size of the section.
    """
    targets = course_targets(school=school, course_id=section.course_id)
    students = section_students(school=school, section=section)
    levels = achievement_levels(school)
    cells = {
        (m.student_id, m.target_id): m
        for m in Mastery.objects.filter(
            school=school,
            student__in=[s.id for s in students],
            target__in=[t.id for t in targets],
        )
    }
    policy = policy_for_course(school=school, course_id=section.course_id).to_engine(levels)
    table = SectionTable(section, targets, students, levels, cells)
    for student in students:
        scores = [
            cells[(student.id, t.id)].score if (student.id, t.id) in cells else None
            for t in targets
        ]
        table.grades[student.id] = calculation.course_grade(scores, policy)
    for target in targets:
        counts = {lv.label: 0 for lv in levels}
        counts["No level yet"] = 0
        for student in students:
            record = cells.get((student.id, target.id))
            if record is None or record.level is None:
                counts["No level yet"] += 1
            else:
                label = next(
                    (lv.label for lv in levels if lv.value == record.level), str(record.level)
                )
                counts[label] = counts.get(label, 0) + 1
        table.distribution[target.id] = counts
    return table


@dataclass
class CourseProgress:
    course: Course
    section: Section
    targets: list[LearningTarget]
    records: dict[int, Mastery]
    grade: calculation.CourseGrade


def student_progress(*, school: School, student: Student) -> list[CourseProgress]:
    """The student's courses this year with each target's Mastery record and the course grade."""
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


def pair_history(*, school: School, student_id: int, target_id: int) -> list[Evidence]:
    """All evidence of one student on one target, voided included, oldest first."""
    return list(
        Evidence.objects.filter(school=school, student_id=student_id, target_id=target_id)
        .select_related("assessment", "recorded_by", "voided_by")
        .order_by("assessed_on", "id")
    )
