"""A teacher's home: their sections, what is left to score, and open reassessment requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, Q, QuerySet

from gradebook.models import (
    Assessment,
    Evidence,
    ReassessmentRequest,
    Section,
    SectionTeacher,
)
from mastery.models import (
    School,
    User,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class StudentCount(TypedDict):
    """What `sections_with_counts` adds to a section."""

    student_count: int


def sections_with_counts(
    *, school: School, ids: Iterable[int] | QuerySet
) -> list[WithAnnotations[Section, StudentCount]]:
    """Sections with `student_count` (active enrollments), by period."""
    return list(
        Section.objects.filter(school=school, id__in=ids)
        .select_related("course", "term")
        .annotate(
            student_count=Count("enrollments", filter=Q(enrollments__withdrawn_on__isnull=True))
        )
        .order_by("period", "course__code")
    )


def sections_taught_by(
    *, school: School, user: User
) -> list[WithAnnotations[Section, StudentCount]]:
    """The teacher's sections of the years still open: a closed year's sections are archived
    (still readable at their address and from the years page, no longer on the home page)."""
    return sections_with_counts(
        school=school,
        ids=SectionTeacher.objects.filter(
            school=school, teacher=user, section__archived_at__isnull=True
        ).values("section_id"),
    )


@dataclass
class ScoringTodo:
    section: Section
    assessment: Assessment
    scored: int
    expected: int

    @property
    def missing(self) -> int:
        return self.expected - self.scored


def scoring_todo(
    *,
    school: School,
    sections: Sequence[WithAnnotations[Section, StudentCount]],
    since_days: int = 60,
) -> list[ScoringTodo]:
    """Assessments of these sections from the last weeks with cells still empty (3 queries)."""
    if not sections:
        return []
    since = date.today() - timedelta(days=since_days)
    by_id = {s.id: s for s in sections}
    course_ids = {s.course_id for s in sections}
    assessments = list(
        Assessment.objects.filter(school=school, course_id__in=course_ids, assessed_on__gte=since)
        # A reassessment is taken only by the students who need it: empty cells are expected.
        .exclude(kind="reassessment")
        .filter(Q(section__isnull=True) | Q(section_id__in=by_id))
        .annotate(target_count=Count("alignments"))
        .order_by("-assessed_on")
    )
    if not assessments:
        return []
    # Live evidence per (assessment, section of the student).
    scored = {
        (row["assessment_id"], row["student__enrollments__section_id"]): row["n"]
        for row in Evidence.objects.filter(
            school=school,
            assessment__in=assessments,
            voided_at__isnull=True,
            student__enrollments__section_id__in=by_id,
            student__enrollments__withdrawn_on__isnull=True,
        )
        .values("assessment_id", "student__enrollments__section_id")
        .annotate(n=Count("id"))
    }
    todo = []
    for assessment in assessments:
        for section in sections:
            if section.course_id != assessment.course_id:
                continue
            if assessment.section_id and assessment.section_id != section.id:
                continue
            expected = section.student_count * assessment.target_count
            done = scored.get((assessment.id, section.id), 0)
            if expected and done < expected:
                todo.append(ScoringTodo(section, assessment, done, expected))
    return todo


def open_reassessment_requests(
    *, school: School, sections: Sequence[Section]
) -> list[ReassessmentRequest]:
    return list(
        ReassessmentRequest.objects.filter(
            school=school,
            status__in=[ReassessmentRequest.Status.OPEN, ReassessmentRequest.Status.SCHEDULED],
            section__in=sections,
        )
        .select_related("student", "target", "section__course")
        .order_by("created_at")
    )
