"""Feedback cadence: the students who have gone longer than the school's interval without feedback.

The school expects every student to receive feedback at least every `School.feedback_interval_days`
(default 14: "at least every other week"). Feedback is either
- a teacher's comment to the student on an assessment (AssessmentFeedback), dated by `updated_at`;
- live evidence with feedback text (Evidence, not voided, `feedback` not empty), dated by
  `recorded_at`, not `assessed_on`: the student receives the feedback when the teacher records it,
  and a task from two weeks ago scored with comments today is feedback given today. Both moments
  are read as dates in the site's time zone.

A student counts in a section while enrolled in it (not withdrawn, an active student) and only
for feedback of that section's course: the feedback's assessment belongs to the course and is
common to its sections or the section's own. Sections archived, or whose term is not running on
`today`, owe nothing and are left out.

The clock runs from the latest of: the last feedback, the enrolment date, the term's first day;
so a student who joined three days ago is not yet owed. A student is owed feedback when more
than the interval has passed (`days > interval`): feedback 14 days ago is still on time.

Two queries whatever the number of sections and students: the enrolments (with each section's
latest assessment, where the teacher writes a comment), and the latest feedback per student,
course and section-of-the-assessment (evidence and comments in one UNION ALL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, TypedDict

from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentKind,
    Enrollment,
    Evidence,
    Section,
    SectionTeacher,
    Student,
)
from mastery.models import Department, School, User

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


@dataclass(frozen=True, slots=True)
class OwedStudent:
    """A student of a section who has had no feedback within the interval."""

    student: Student
    section_id: int
    # The last feedback in this section's course, None when there has never been any.
    last_feedback_on: date | None
    # Where the clock runs from: the last feedback, or the enrolment or term start when later.
    since: date
    days: int
    # The section's latest assessment (its scoring page takes a comment per student), if any.
    assessment_id: int | None

    @property
    def never(self) -> bool:
        return self.last_feedback_on is None

    @property
    def since_joining(self) -> bool:
        """The clock runs from the enrolment (or the term's start), not from a feedback."""
        return self.last_feedback_on is None or self.last_feedback_on < self.since


@dataclass(slots=True)
class SectionCadence:
    """One section's students counted, and those owed feedback (longest wait first)."""

    section_id: int
    interval_days: int
    students: int = 0
    owed: list[OwedStudent] = field(default_factory=list)

    @property
    def owed_count(self) -> int:
        return len(self.owed)


class _EnrollmentExtra(TypedDict):
    course_id: int
    term_starts_on: date
    assessment_id: int | None


SectionIds = Iterable[int] | QuerySet


def feedback_cadence(
    *, school: School, section_ids: SectionIds, today: date | None = None
) -> dict[int, SectionCadence]:
    """Section id → its cadence, for the given sections that owe feedback at all (not archived,
    term running on `today`). Two queries."""
    today = today or timezone.localdate()
    ids = section_ids if isinstance(section_ids, QuerySet) else list(section_ids)
    if not isinstance(ids, QuerySet) and not ids:
        return {}
    interval = school.feedback_interval_days
    enrollments = _enrollments(school, ids, today)
    latest = _latest_feedback(school, ids)
    cadences: dict[int, SectionCadence] = {}
    for enrollment in enrollments:
        cadence = cadences.get(enrollment.section_id)
        if cadence is None:
            cadence = cadences[enrollment.section_id] = SectionCadence(
                enrollment.section_id, interval
            )
        cadence.students += 1
        feedback = [
            on
            for own_section, on in latest.get((enrollment.student_id, enrollment.course_id), ())
            if own_section is None or own_section == enrollment.section_id
        ]
        last = max(feedback, default=None)
        since = max(d for d in (last, enrollment.enrolled_on, enrollment.term_starts_on) if d)
        days = (today - since).days
        if days > interval:
            cadence.owed.append(
                OwedStudent(
                    student=enrollment.student,
                    section_id=enrollment.section_id,
                    last_feedback_on=last,
                    since=since,
                    days=days,
                    assessment_id=enrollment.assessment_id,
                )
            )
    for cadence in cadences.values():
        cadence.owed.sort(key=lambda o: (-o.days, o.student.last_name, o.student.first_name))
    return cadences


def section_feedback_owed(
    *, school: School, section: Section, today: date | None = None
) -> SectionCadence | None:
    """One section's cadence (the grid); None for a section that owes nothing (archived, term
    not running). Two queries."""
    return feedback_cadence(school=school, section_ids=[section.id], today=today).get(section.id)


def teacher_feedback_owed(
    *, school: School, user: User, today: date | None = None
) -> dict[int, SectionCadence]:
    """The cadence of every section the user teaches (the teacher's home). Two queries."""
    taught = SectionTeacher.objects.filter(school=school, teacher=user).values("section_id")
    return feedback_cadence(school=school, section_ids=taught, today=today)


def school_feedback_owed(
    *, school: School, department: Department | None = None, today: date | None = None
) -> dict[int, SectionCadence]:
    """The cadence of every section of the school, or of one department. Two queries."""
    sections = Section.objects.filter(school=school)
    if department is not None:
        sections = sections.filter(course__department=department)
    return feedback_cadence(school=school, section_ids=sections.values("id"), today=today)


def _enrollments(
    school: School, section_ids: list[int] | QuerySet, today: date
) -> list[WithAnnotations[Enrollment, _EnrollmentExtra]]:
    """The counted enrolments, with their student, their section's course and term start, and
    the section's latest assessment on or before today (not a reassessment: only some students
    sit one)."""
    latest_assessment = (
        Assessment.objects.filter(
            school=school, course_id=OuterRef("section__course_id"), assessed_on__lte=today
        )
        .filter(Q(section__isnull=True) | Q(section_id=OuterRef("section_id")))
        .exclude(kind=AssessmentKind.REASSESSMENT)
        .order_by("-assessed_on", "-id")
        .values("id")[:1]
    )
    return list(
        Enrollment.objects.filter(
            school=school,
            section_id__in=section_ids,
            withdrawn_on__isnull=True,
            student__school=school,
            student__is_active=True,
            section__school=school,
            section__archived_at__isnull=True,
            section__term__starts_on__lte=today,
            section__term__ends_on__gte=today,
        )
        .select_related("student")
        .annotate(
            course_id=F("section__course_id"),
            term_starts_on=F("section__term__starts_on"),
            assessment_id=Subquery(latest_assessment),
        )
        .order_by("section_id", "student__last_name", "student__first_name")
    )


def _latest_feedback(
    school: School, section_ids: list[int] | QuerySet
) -> dict[tuple[int, int], list[tuple[int | None, date]]]:
    """(student, course) → (section of the assessment or None when common, date of the latest
    feedback), over the sections' students and courses: one UNION ALL of grouped reads."""
    students = Enrollment.objects.filter(
        school=school, section_id__in=section_ids, withdrawn_on__isnull=True
    ).values("student_id")
    courses = Section.objects.filter(school=school, id__in=section_ids).values("course_id")
    evidence = (
        Evidence.objects.filter(
            school=school,
            voided_at__isnull=True,
            student_id__in=students,
            assessment__school=school,
            assessment__course_id__in=courses,
        )
        .exclude(feedback="")
        .values("student_id", "assessment__course_id", "assessment__section_id")
        .annotate(last=Max("recorded_at"))
        .order_by()
    )
    comments = (
        AssessmentFeedback.objects.filter(
            school=school,
            student_id__in=students,
            assessment__school=school,
            assessment__course_id__in=courses,
        )
        .exclude(text="")
        .values("student_id", "assessment__course_id", "assessment__section_id")
        .annotate(last=Max("updated_at"))
        .order_by()
    )
    found: dict[tuple[int, int], list[tuple[int | None, date]]] = defaultdict(list)
    for row in evidence.union(comments, all=True):
        found[(row["student_id"], row["assessment__course_id"])].append(
            (row["assessment__section_id"], _local_date(row["last"]))
        )
    return found


def _local_date(moment: datetime) -> date:
    return timezone.localdate(moment)
