"""The school dashboard: what the school's leadership looks at across departments.

Four figures for one term: how the share of proficient students moved (per department and per
target, from the term's start through each intervention cycle to now), course pass rates (and the
students on track in every course), habits of work month by month, and how much evidence each
section records (which sections are not assessing).

The numbers come from the set-based readers of reports.dashboards.counts, called here with one
school (the district view calls them with the district's schools).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from gradebook.models import Section, Term
from intervention.models import InterventionCycle
from mastery.models import School
from reports.baselines import baselines_ready, cycle_start_date, term_cycles, term_start_date
from reports.dashboards.counts import (
    CoursePass,
    HabitMonth,
    OnTrack,
    SectionVolume,
    TermScope,
    course_pass_counts,
    evidence_volume,
    habit_months,
    policy_engines,
    proficiency_counts,
)
from reports.dashboards.figures import (
    Bar,
    Figure,
    Segment,
    mean,
    section_label,
    share_bar,
    teacher_names,
)
from reports.dashboards.figures import percent as share_percent

PAST_COLOR = "#8aa9c9"
VOLUME_COLOR = "#1f6f43"
QUIET_COLOR = "#b3261e"
EMPTY_COLOR = "#f4f6f8"


# --- The school dashboard -----------------------------------------------------------------------


@dataclass
class Comparison:
    """A past date the proficiency figure compares with: its label and its as-of date."""

    label: str
    as_of: date


@dataclass
class SchoolDashboard:
    school: School
    term: Term
    figures: list[Figure]
    comparisons: list[Comparison] = field(default_factory=list)
    baselines_pending: bool = False
    cycles: list[InterventionCycle] = field(default_factory=list)


def comparisons_for(cycles: list[InterventionCycle], term: Term) -> list[Comparison]:
    """The term's start and the start of each of its cycles that has begun, oldest first."""
    comparisons = [Comparison(_("At term start"), term_start_date(term))]
    for cycle in cycles:
        comparisons.append(
            Comparison(
                _("At start of cycle %(number)s") % {"number": cycle.number},
                cycle_start_date(cycle),
            )
        )
    return comparisons


def term_months(term: Term, today: date) -> list[str]:
    """'YYYY-MM' of every month from the term's first up to today (or its last, if over)."""
    last = min(term.ends_on, today)
    months = []
    year, month = term.starts_on.year, term.starts_on.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def school_dashboard(*, school: School, term: Term, today: date) -> SchoolDashboard:
    scope = TermScope(terms=(term,), today=today)
    cycles = term_cycles(school, term, today)
    comparisons = comparisons_for(cycles, term)
    # Every baseline date in one call: the missing ones are queued together; until they are
    # computed the figure shows the dates that are ready.
    ready, pending = baselines_ready(school=school, dates=[c.as_of for c in comparisons])
    comparisons = [c for c in comparisons if c.as_of in ready]
    sections = list(
        Section.objects.filter(school=school, term=term)
        .select_related("course")
        .prefetch_related("teachers")
        .order_by("course__code", "period", "name")
    )
    courses, on_track = course_pass_counts(scope, policy_engines([school]))
    habits, months = habit_months(scope)
    figures = [
        proficient_over_time_figure(
            proficiency_counts(scope, [c.as_of for c in comparisons]), school.id, comparisons
        ),
        course_pass_figure(courses, on_track.get(school.id, OnTrack()), school.id, sections),
        habits_trend_figure(habits.get(school.id, []), months, term_months(term, today)),
        evidence_volume_figure(evidence_volume(scope), sections, term, today),
    ]
    return SchoolDashboard(
        school=school,
        term=term,
        figures=figures,
        comparisons=comparisons,
        baselines_pending=pending,
        cycles=cycles,
    )


def proficient_over_time_figure(
    counts: dict, school_id: int, comparisons: list[Comparison]
) -> Figure:
    columns = [_("Department"), _("Target"), _("Students"), _("Student × target pairs")]
    for label in [c.label for c in comparisons] + [_("Now")]:
        columns += [
            _("%(when)s: assessed") % {"when": label},
            _("%(when)s: proficient") % {"when": label},
            _("%(when)s: %% proficient") % {"when": label},
        ]
    figure = Figure(
        slug="proficient-over-time",
        title=_("Proficient over time"),
        description=_(
            "Today's students, proficient at the start of the term, at the start of each "
            "intervention cycle and now, for the whole school, each department (all its student × "
            "target pairs) and each target. The share is of those assessed by then; past levels "
            "apply today's grading policy to the evidence dated before that day."
        ),
        columns=columns,
        rows=[],
        empty=_("No student is enrolled in this term yet."),
    )
    now = {
        key[2:]: value for key, value in counts.items() if key[0] == school_id and key[1] is None
    }
    if not now:
        return figure
    # Department rows (target None) by name, each followed by its targets by code.
    departments = sorted(
        ((k[0], v) for k, v in now.items() if k[0] is not None and k[1] is None),
        key=lambda kv: (kv[1].department, kv[0]),
    )
    order: list[tuple[int | None, int | None]] = [(None, None)]
    for department_id, _row in departments:
        order.append((department_id, None))
        order += sorted(
            (k for k in now if k[0] == department_id and k[1] is not None),
            key=lambda k: (now[k].target, k[1]),
        )
    for department_id, target_id in order:
        row_now = now[(department_id, target_id)]
        whole = department_id is None
        department = _("Whole school") if whole else row_now.department
        target = row_now.target if target_id is not None else _("All targets")
        row = [department, target, row_now.students, row_now.pairs]
        summary = target_id is None
        for c in comparisons:
            then = counts.get((school_id, c.as_of, department_id, target_id))
            assessed, proficient = (then.assessed, then.proficient) if then else (0, 0)
            row += [assessed, proficient, share_percent(proficient, assessed)]
            if summary:
                figure.bars.append(
                    share_bar(f"{department} · {c.label}", proficient, assessed, PAST_COLOR)
                )
        row += [
            row_now.assessed,
            row_now.proficient,
            share_percent(row_now.proficient, row_now.assessed),
        ]
        if summary:
            figure.bars.append(
                share_bar(f"{department} · {_('Now')}", row_now.proficient, row_now.assessed)
            )
        figure.rows.append(row)
    return figure


def course_pass_figure(
    courses: dict[tuple[int, int], CoursePass],
    on_track: OnTrack,
    school_id: int,
    sections: list[Section],
) -> Figure:
    figure = Figure(
        slug="course-pass-rates",
        title=_("Course pass rates"),
        description=_(
            "Per course of the term: the students enrolled now, those with a course grade (a score "
            "on at least one target) and those passing (a grade above the grading policy's lowest "
            "letter). The last line counts the students passing every course they have a grade in, "
            "out of those with at least one course grade."
        ),
        columns=[
            _("Course"),
            _("Sections"),
            _("Students"),
            _("Students with a course grade"),
            _("Passing"),
            _("Pass rate %"),
        ],
        rows=[],
        empty=_("No course has sections in this term."),
    )
    by_course: dict[int, list[Section]] = defaultdict(list)
    for section in sections:
        by_course[section.course_id].append(section)
    for course_id, course_sections in by_course.items():
        course = course_sections[0].course
        counts = courses.get((school_id, course_id), CoursePass())
        label = f"{course.code} {course.name}"
        figure.rows.append(
            [
                label,
                len(course_sections),
                counts.students,
                counts.graded,
                counts.passing,
                share_percent(counts.passing, counts.graded),
            ]
        )
        figure.bars.append(share_bar(label, counts.passing, counts.graded))
    if by_course:
        label = _("On track in every course")
        figure.rows.append(
            [
                label,
                len(sections),
                on_track.students,
                on_track.graded,
                on_track.on_track,
                share_percent(on_track.on_track, on_track.graded),
            ]
        )
        figure.bars.append(share_bar(label, on_track.on_track, on_track.graded, PAST_COLOR))
    return figure


def habits_trend_figure(
    habits: list[tuple[int, str]], months: dict[tuple[int, str], HabitMonth], term_months: list[str]
) -> Figure:
    figure = Figure(
        slug="habits-trend",
        title=_("Habits of work, month by month"),
        description=_(
            "Per habit and month of the term (up to today): how many habit scores teachers "
            "recorded in the term's sections and their average, on the habits scale. Voided "
            "scores are left out."
        ),
        columns=[_("Habit"), _("Month"), _("Scores"), _("Average score")],
        rows=[],
        empty=_("The school has no habits of work, or the term has not begun."),
    )
    for habit_id, name in habits:
        for month in term_months:
            cell = months.get((habit_id, month))
            n = cell.scores if cell else 0
            figure.rows.append([name, month, n, mean(cell.total, n) if cell else None])
    return figure


def evidence_volume_figure(
    volumes: dict[int, SectionVolume], sections: list[Section], term: Term, today: date
) -> Figure:
    running = term.starts_on <= today <= term.ends_on
    figure = Figure(
        slug="evidence-volume",
        title=_("Evidence recorded, section by section"),
        description=_(
            "Per section of the term: the evidence (scores and statuses, voided ones left out) of "
            "its students on its course's targets, dated in the last 14 days, the last 28 days and "
            "the whole term, per student over the term, and the latest date. While the term runs, "
            "a section with students and no evidence in the last 14 days is flagged as not "
            "assessing. The bars show the last 28 days."
        ),
        columns=[
            _("Section"),
            _("Teachers"),
            _("Students"),
            _("Evidence, last 14 days"),
            _("Evidence, last 28 days"),
            _("Evidence this term"),
            _("Evidence per student this term"),
            _("Latest evidence"),
            _("Flag"),
        ],
        rows=[],
        empty=_("No section in this term."),
    )
    most = max((v.volume for v in volumes.values()), default=0)
    for section in sections:
        v = volumes.get(section.id) or SectionVolume(section.school_id)
        quiet = running and v.students > 0 and v.recent == 0
        label = section_label(section)
        figure.rows.append(
            [
                label,
                teacher_names(section),
                v.students,
                v.recent,
                v.volume,
                v.term,
                mean(v.term, v.students),
                v.last_on,
                _("Not assessing") if quiet else "",
            ]
        )
        figure.bars.append(
            Bar(
                label,
                [
                    Segment(
                        _("Evidence, last 28 days"),
                        v.volume,
                        QUIET_COLOR if quiet else VOLUME_COLOR,
                    ),
                    Segment(_("Below the busiest section"), most - v.volume, EMPTY_COLOR),
                ],
                note=f"{v.volume}" + (f" · {_('Not assessing')}" if quiet else ""),
            )
        )
    return figure
