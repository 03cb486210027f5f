"""Reads of the marks of record: a section's current marks, a key's history, a period's progress,
a student's report card, the overrides a school admin reviews."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, F, Max, Q, QuerySet

from gradebook.models import GradingPeriod, Section, SectionTeacher
from marks.computing import Key
from marks.models import CommentBankEntry, PostedMark
from mastery.models import School


def current_marks(
    *, school: School, section: Section, period: GradingPeriod
) -> dict[Key, PostedMark]:
    """The section's current (latest) posted mark of each key in the period, in one query."""
    return {
        mark.key: mark
        for mark in PostedMark.objects.filter(school=school, section=section, period=period)
        .current()
        .select_related("posted_by")
    }


def mark_history(
    *, school: School, section: Section, period: GradingPeriod, key: Key
) -> list[PostedMark]:
    """Every version of one mark, newest first."""
    student_id, kind, subject_id = key
    return list(
        PostedMark.objects.filter(
            school=school,
            section=section,
            period=period,
            student_id=student_id,
            kind=kind,
            subject_id=subject_id,
        )
        .select_related("posted_by", "student", "target", "habit")
        .order_by("-version")
    )


def periods_of(school: School, section: Section) -> list[GradingPeriod]:
    return list(GradingPeriod.objects.filter(school=school, term_id=section.term_id))


def open_period(periods: list[GradingPeriod], today: date) -> GradingPeriod | None:
    """The period to show first: the one whose window is open today, else the latest begun."""
    for period in periods:
        if period.posting_open_on(today) and (period.posting_opens_on or period.posting_closes_on):
            return period
    begun = [p for p in periods if p.starts_on <= today]
    return begun[-1] if begun else (periods[0] if periods else None)


def comment_bank(school: School, *, department_id: int | None = None) -> list[CommentBankEntry]:
    """The bank's live entries a course of `department_id` may use (its own and the school's)."""
    entries = CommentBankEntry.objects.filter(school=school, retired_at__isnull=True)
    if department_id is not None:
        entries = entries.filter(Q(department__isnull=True) | Q(department_id=department_id))
    return list(entries.order_by("code"))


@dataclass(frozen=True)
class SectionProgress:
    section: Section
    teachers: list[str]
    students: int
    posted_students: int  # students with at least one current posted mark
    overridden: int  # current marks whose value is not the computed one
    last_posted_at: object  # datetime | None

    @property
    def state(self) -> str:
        if self.posted_students == 0:
            return "not posted"
        if self.posted_students < self.students:
            return "partly posted"
        return "posted"


def period_progress(*, school: School, period: GradingPeriod) -> list[SectionProgress]:
    """Each section of the period's term: how many of its students have posted marks, how many
    marks are overridden (four queries, whatever the school's size)."""
    sections = list(
        Section.objects.filter(school=school, term_id=period.term_id)
        .select_related("course")
        .annotate(
            enrolled=Count(
                "enrollments",
                filter=Q(enrollments__enrolled_on__lte=period.ends_on)
                & (
                    Q(enrollments__withdrawn_on__isnull=True)
                    | Q(enrollments__withdrawn_on__gte=period.starts_on)
                ),
            )
        )
        .order_by("course__code", "period", "name")
    )
    teachers: dict[int, list[str]] = defaultdict(list)
    for section_id, name in (
        SectionTeacher.objects.filter(school=school, section__term_id=period.term_id)
        .order_by("-is_primary", "teacher__full_name")
        .values_list("section_id", "teacher__full_name")
    ):
        teachers[section_id].append(name)
    current = PostedMark.objects.filter(school=school, period=period).current()
    posted: dict[int, tuple[int, int, object]] = {}
    for row in current.values("section_id").annotate(
        students=Count("student_id", distinct=True),
        overridden=Count("id", filter=~Q(value=F("computed_value"))),
        last=Max("posted_at"),
    ):
        posted[row["section_id"]] = (row["students"], row["overridden"], row["last"])
    return [
        SectionProgress(
            section=s,
            teachers=teachers.get(s.id, []),
            students=s.enrolled,
            posted_students=posted.get(s.id, (0, 0, None))[0],
            overridden=posted.get(s.id, (0, 0, None))[1],
            last_posted_at=posted.get(s.id, (0, 0, None))[2],
        )
        for s in sections
    ]


def overridden_marks(*, school: School, period: GradingPeriod | None = None) -> QuerySet:
    """The current overridden marks (a school admin's review), newest first."""
    marks = PostedMark.objects.filter(school=school)
    if period is not None:
        marks = marks.filter(period=period)
    return (
        marks.current()
        .overridden()
        .select_related("student", "section__course", "period", "target", "habit", "posted_by")
        .order_by("-posted_at", "-id")
    )


def student_marks(*, school: School, student_id: int) -> list[PostedMark]:
    """A student's current posted marks in every section and period (the report card)."""
    return list(
        PostedMark.objects.filter(school=school, student_id=student_id)
        .current()
        .select_related("section__course", "section__term", "period", "target", "habit")
        .order_by("period__starts_on", "section__course__code", "kind", "subject_id")
    )
