"""Report cards of record: what a student's teachers posted, as of a grading period.

A report card reads posted marks only (marks.models.PostedMark, each key's current version),
never live mastery or evidence: a mark once posted prints the same however much later work is
scored, and a re-post prints its new version. As of a grading period P it shows every section the
student has posted marks in during P's school year (the terms overlapping the SchoolYear that
holds P's term; without school years, P's term alone), each with the grading periods of its term
that ended by P's last day side by side (Q1, Q2… or S1, S2), so a card as of P prints the same
whenever it is printed. Rows: each target's posted level with its scale label, the course grade as
it was posted (letter, percent or grade points), the habits of work apart; the posted comments in
the reader's language; an overridden mark is flagged, its internal reason never shown.

`report_card` reads the active language (labels, statements, comments, number format), so build
a card inside `translation.override(lang)`; it runs a constant number of queries (seven) whatever
the number of sections, periods and marks.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db.models import Q, QuerySet
from django.utils import formats, translation

from gradebook.models import (
    CourseTarget,
    GradingPeriod,
    SchoolYear,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from marks.models import CourseGradeForm, PostedMark
from mastery.models import ScaleLevel, School
from mastery.selectors import achievement_levels
from reports.selectors import DEFAULT_HABIT_NAMES

TEMPLATE_VERSION = "1"  # bump when the card's layout changes: cached PDFs are then rendered anew

TARGET, COURSE, HABIT = PostedMark.Kind.TARGET, PostedMark.Kind.COURSE, PostedMark.Kind.HABIT


@dataclass(frozen=True)
class Cell:
    """One posted mark in one period's column ("" value and not posted: no mark that period)."""

    value: str  # as posted, in the reader's number format
    label: str = ""  # a target's scale level ("Proficient")
    overridden: bool = False
    posted: bool = False


EMPTY = Cell(value="")


@dataclass
class Row:
    """A target, the course grade or a habit: its marks by period, and its comments."""

    name: str
    code: str
    cells: list[Cell]
    comments: list[tuple[str, str]] = field(default_factory=list)  # (period name, text)


@dataclass
class CourseCard:
    section_id: int
    course_name: str
    section_name: str
    term_name: str
    teachers: list[str]
    periods: list[str]  # the columns' headings
    targets: list[Row]
    grade: Row
    grade_form: str  # the form of the latest posted course grade ("" none)
    habits: list[Row]

    @property
    def grade_form_label(self) -> str:
        return str(CourseGradeForm(self.grade_form).label) if self.grade_form else ""


@dataclass
class ReportCard:
    school: School
    student: Student
    period: GradingPeriod
    year_name: str
    language: str
    courses: list[CourseCard]
    levels: list[ScaleLevel]  # the achievement scale, for the card's key
    # The current versions printed: a mark re-posted is another id (fingerprint).
    mark_ids: list[int]

    @property
    def has_overrides(self) -> bool:
        return any(
            cell.overridden
            for course in self.courses
            for row in (*course.targets, course.grade, *course.habits)
            for cell in row.cells
        )

    @property
    def has_habits(self) -> bool:
        return any(course.habits for course in self.courses)

    def fingerprint(self) -> str:
        """A digest of everything the card prints: unchanged marks give the same PDF."""
        student = self.student
        data = {
            "v": TEMPLATE_VERSION,
            "lang": self.language,
            "school": self.school.name,
            "student": [student.id, student.display_name, student.local_id, student.grade_level],
            "period": [self.period.id, self.period.name, str(self.period.ends_on)],
            "year": self.year_name,
            "levels": [(str(lv.value), lv.display_label) for lv in self.levels],
            "marks": sorted(self.mark_ids),
            # Names a school may rename after posting (a course, a target's statement, a label).
            "courses": [
                [
                    c.course_name,
                    c.section_name,
                    c.teachers,
                    c.periods,
                    [[r.name, [(x.value, x.label) for x in r.cells]] for r in c.targets],
                    [r.name for r in c.habits],
                ]
                for c in self.courses
            ],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def year_terms(school: School, term: Term) -> tuple[str, QuerySet[Term]]:
    """(the school year's name, its terms): the terms overlapping the SchoolYear that holds
    `term`'s first day; without one, `term` alone under its own name."""
    year = (
        SchoolYear.objects.filter(
            school=school, starts_on__lte=term.starts_on, ends_on__gte=term.starts_on
        )
        .order_by("-starts_on")
        .first()
    )
    if year is None:
        return term.name, Term.objects.filter(school=school, pk=term.pk)
    return year.name, Term.objects.filter(
        school=school, starts_on__lte=year.ends_on, ends_on__gte=year.starts_on
    )


def released(today: date) -> Q:
    """Periods whose report cards families and students read: the day after the posting window
    closed, or after the period ended when the window has no closing day. Until then teachers
    are still posting, and a card would be half-posted; staff read it all along."""
    return Q(posting_closes_on__lt=today) | Q(posting_closes_on__isnull=True, ends_on__lt=today)


def posted_periods(
    *, school: School, student: Student, released_by: date | None = None
) -> list[GradingPeriod]:
    """The grading periods the student has posted marks in, latest first (the portal's list);
    with `released_by`, only those released to families by that day."""
    periods = GradingPeriod.objects.filter(
        school=school,
        id__in=PostedMark.objects.filter(school=school, student=student).values("period_id"),
    )
    if released_by is not None:
        periods = periods.filter(released(released_by))
    return list(periods.select_related("term").order_by("-ends_on", "-starts_on", "name"))


def posted_period(
    *, school: School, student: Student, period_id: int, released_by: date | None = None
) -> GradingPeriod | None:
    """The period if the student has posted marks in it (else None: no card to show); with
    `released_by`, only if its cards are released to families by that day."""
    periods = GradingPeriod.objects.filter(
        school=school,
        pk=period_id,
        id__in=PostedMark.objects.filter(
            school=school, student=student, period_id=period_id
        ).values("period_id"),
    )
    if released_by is not None:
        periods = periods.filter(released(released_by))
    return periods.select_related("term").first()


def shown_value(value: str, form: str = "") -> str:
    """A posted value as the reader writes numbers (2,5 in Spanish); a letter as posted."""
    if not value:
        return ""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    text = formats.number_format(number)
    return f"{text}%" if form == CourseGradeForm.PERCENT else text


def level_label(value: str, scale: list[ScaleLevel]) -> str:
    """The scale level a posted target value reached (a half point: the level below it)."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return ""
    reached = [lv for lv in scale if lv.value <= number]
    return reached[-1].display_label if reached else ""


def habit_name(name: str) -> str:
    """The default habits read in the reader's language; a school's own names as written."""
    return translation.gettext(name) if name in DEFAULT_HABIT_NAMES else name


def report_card(*, school: School, student: Student, period: GradingPeriod) -> ReportCard:
    """Everything the report card of `student` as of `period` prints, from posted marks only."""
    language = translation.get_language() or "en"
    fallback = school.default_language
    year_name, terms = year_terms(school, period.term)
    periods = list(
        GradingPeriod.objects.filter(
            school=school, term__in=terms, ends_on__lte=period.ends_on
        ).order_by("starts_on", "name")
    )
    by_term: dict[int, list[GradingPeriod]] = defaultdict(list)
    for p in periods:
        by_term[p.term_id].append(p)
    marks = list(
        PostedMark.objects.filter(
            school=school, student=student, period_id__in=[p.id for p in periods]
        )
        .current()
        .select_related("section__course", "section__term", "target", "habit")
    )
    sections: dict[int, Section] = {}
    by_section: dict[int, list[PostedMark]] = defaultdict(list)
    for mark in marks:
        sections[mark.section_id] = mark.section
        by_section[mark.section_id].append(mark)
    teachers: dict[int, list[str]] = defaultdict(list)
    positions: dict[tuple[int, int], int] = {}
    if sections:
        for section_id, name in (
            SectionTeacher.objects.filter(school=school, section_id__in=list(sections))
            .order_by("-is_primary", "teacher__full_name")
            .values_list("section_id", "teacher__full_name")
        ):
            teachers[section_id].append(name)
        for course_id, target_id, position in CourseTarget.objects.filter(
            school=school, course_id__in={s.course_id for s in sections.values()}
        ).values_list("course_id", "target_id", "position"):
            positions[(course_id, target_id)] = position
    scale = achievement_levels(school)

    courses = []
    ordered = sorted(
        sections.values(), key=lambda s: (s.course.name, s.term.starts_on, s.name, s.id)
    )
    for section in ordered:
        columns = by_term.get(section.term_id, [])
        index = {p.id: i for i, p in enumerate(columns)}
        names = {p.id: p.name for p in columns}
        rows: dict[tuple[str, int], Row] = {}
        subjects: dict[tuple[str, int], PostedMark] = {}
        comments: dict[tuple[str, int], list[tuple[int, str, str]]] = defaultdict(list)
        latest_form: tuple[date, str] | None = None
        for mark in by_section[section.id]:
            if mark.period_id not in index:  # never posted so (posting checks the term)
                continue
            key = (mark.kind, mark.subject_id)
            row = rows.get(key)
            if row is None:
                if mark.kind == TARGET and mark.target is not None:
                    row = Row(
                        mark.target.display_statement, mark.target.code, [EMPTY] * len(columns)
                    )
                elif mark.kind == HABIT and mark.habit is not None:
                    row = Row(habit_name(mark.habit.name), "", [EMPTY] * len(columns))
                else:
                    row = Row("", "", [EMPTY] * len(columns))
                rows[key], subjects[key] = row, mark
            form = mark.grade_form if mark.kind == COURSE else ""
            row.cells[index[mark.period_id]] = Cell(
                value=shown_value(mark.value, form),
                label=level_label(mark.value, scale) if mark.kind == TARGET else "",
                overridden=mark.overridden,
                posted=True,
            )
            comment = mark.comment_in(language, fallback)
            if comment:
                comments[key].append((index[mark.period_id], names[mark.period_id], comment))
            if mark.kind == COURSE and form:
                ends = columns[index[mark.period_id]].ends_on
                if latest_form is None or ends > latest_form[0]:
                    latest_form = (ends, form)
        for key, texts in comments.items():  # in the columns' order
            rows[key].comments = [(name, text) for _, name, text in sorted(texts)]
        target_keys = sorted(
            (k for k in rows if k[0] == TARGET),
            key=lambda k: (
                positions.get((section.course_id, k[1]), 10_000),
                rows[k].code,
            ),
        )
        habit_keys = sorted(
            (k for k in rows if k[0] == HABIT),
            key=lambda k: (
                getattr(subjects[k].habit, "position", 0),
                rows[k].name,
            ),
        )
        courses.append(
            CourseCard(
                section_id=section.id,
                course_name=section.course.name,
                section_name=section.name,
                term_name=section.term.name,
                teachers=teachers.get(section.id, []),
                periods=[p.name for p in columns],
                targets=[rows[k] for k in target_keys],
                grade=rows.get((COURSE, 0)) or Row("", "", [EMPTY] * len(columns)),
                grade_form=latest_form[1] if latest_form else "",
                # A habit never scored in this section (every period posted empty) is left
                # out: a course that does not score habits prints no table of dashes.
                habits=[rows[k] for k in habit_keys if any(c.value for c in rows[k].cells)],
            )
        )
    return ReportCard(
        school=school,
        student=student,
        period=period,
        year_name=year_name,
        language=language,
        courses=courses,
        levels=scale,
        mark_ids=[m.id for m in marks],
    )
