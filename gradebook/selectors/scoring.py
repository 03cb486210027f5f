"""Scoring an assessment: the grid of its students and targets, and the scoring page's undo stack.

A constant number of queries whatever the size of the class (pinned by the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentTarget,
    CourseTarget,
    Evidence,
    ScoringUndo,
    Section,
    Student,
)
from gradebook.selectors.common import (
    LevelInfo,
    MasteryCell,
    course_grades,
    level_infos,
    mastery_map,
    section_students,
)
from grading.policies import policy_for_course
from mastery import calculation
from mastery.models import (
    LearningTarget,
    School,
    User,
)
from mastery.selectors import achievement_levels, allowed_scores


def scoring_undo_stack(
    *, school: School, user: User, section: Section, assessment: Assessment
) -> QuerySet[ScoringUndo]:
    """One user's undo stack in one grid: a section's scoring page of one assessment.

    A common assessment is scored in every section of the course: keyed by the assessment alone,
    Period 2's page offered (and reverted) a Period 1 change. Each entry keeps its section.
    """
    return ScoringUndo.objects.filter(
        school=school, user=user, assessment=assessment, action__section=section.id
    )


def scoring_undo_label(
    *, school: School, user: User, section: Section, assessment: Assessment
) -> str | None:
    """What the scoring page's Undo button will take back (the top of the stack), or None."""
    stack = scoring_undo_stack(school=school, user=user, section=section, assessment=assessment)
    return stack.order_by("-id").values_list("description", flat=True).first()


def section_assessments(*, school: School, section: Section) -> QuerySet[Assessment]:
    """Assessments a section scores: common to its course, or its own."""
    return (
        Assessment.objects.filter(school=school, course_id=section.course_id)
        .filter(Q(section__isnull=True) | Q(section=section))
        .prefetch_related(
            Prefetch(
                "targets",
                queryset=LearningTarget.objects.filter(school=school)
                .select_related("competency")
                .order_by("code"),
            )
        )
        .select_related("original")
        .order_by("-assessed_on", "title")
    )


@dataclass
class ScoringRow:
    student: Student
    cells: list[tuple[LearningTarget, Evidence | None, MasteryCell | None]]
    grade: calculation.CourseGrade
    feedback: str


@dataclass
class ScoringGrid:
    section: Section
    assessment: Assessment
    targets: list[LearningTarget]
    rows: list[ScoringRow]
    levels: list[LevelInfo]
    allowed: list[Decimal]
    engine: calculation.Policy

    @property
    def allowed_text(self) -> str:
        return ", ".join(calculation.fmt(a) for a in self.allowed)

    @property
    def empty_cells(self) -> int:
        return sum(1 for row in self.rows for _, e, _ in row.cells if e is None)


def assessment_targets(*, school: School, assessment: Assessment) -> list[LearningTarget]:
    """The assessment's targets in the course's order (competency, then position, then code)."""
    prefetched = getattr(assessment, "_prefetched_objects_cache", {}).get("targets")
    if prefetched is not None:  # section_assessments() loaded them with their competencies
        return sorted(prefetched, key=lambda t: (t.competency.position, t.position, t.code))
    return [
        at.target
        for at in AssessmentTarget.objects.filter(school=school, assessment=assessment)
        .select_related("target")
        .order_by("target__competency__position", "target__position", "target__code")
    ]


def scoring_grid(
    *,
    school: School,
    section: Section,
    assessment: Assessment,
    students: Sequence[Student] | None = None,
) -> ScoringGrid:
    """Students × the assessment's targets with each live score, the mastery now, and the grade.

    A constant 8 queries; pass `students` to build only some rows (the htmx fragments).
    """
    targets = assessment_targets(school=school, assessment=assessment)
    students = (
        students if students is not None else section_students(school=school, section=section)
    )
    student_ids = [s.id for s in students]
    live = {
        (e.student_id, e.target_id): e
        for e in Evidence.objects.filter(
            school=school, assessment=assessment, student_id__in=student_ids, voided_at__isnull=True
        )
    }
    # The course's targets, for the course grade: only their ids are needed here.
    course_target_ids = list(
        CourseTarget.objects.filter(school=school, course_id=section.course_id).values_list(
            "target_id", flat=True
        )
    )
    cells = mastery_map(
        school=school,
        student_ids=student_ids,
        target_ids=course_target_ids + [t.id for t in targets],
    )
    levels = achievement_levels(school)
    engine = policy_for_course(school=school, course_id=section.course_id).to_engine(levels)
    grades = course_grades(students, course_target_ids, cells, engine)
    feedback = dict(
        AssessmentFeedback.objects.filter(
            school=school, assessment=assessment, student_id__in=student_ids
        ).values_list("student_id", "text")
    )
    rows = [
        ScoringRow(
            s,
            [(t, live.get((s.id, t.id)), cells.get((s.id, t.id))) for t in targets],
            grades[s.id],
            feedback.get(s.id, ""),
        )
        for s in students
    ]
    return ScoringGrid(
        section, assessment, targets, rows, level_infos(levels), allowed_scores(levels), engine
    )
