"""The department dashboard: what a PLC looks at in its data dialogue.

For each common target of the department (the targets of its courses taught this term): the
distribution of levels by section and by teacher, how the share of proficient students moved since
the term began and since the last intervention cycle began, the department's common assessments
compared across sections (and tiers), the students not yet proficient, target by target, and
how many students of each section are owed feedback (gradebook.selectors.feedback).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from gradebook.models import Section, Term
from gradebook.selectors.feedback import feedback_cadence
from intervention.models import WEEKDAY_NAMES, GroupKind, InterventionCycle
from mastery import calculation
from mastery.models import Department, LearningTarget, ScaleLevel, School
from mastery.selectors import achievement_levels, current_policies
from reports.baselines import baselines_ready, cycle_start_date, term_cycles, term_start_date
from reports.dashboards.figures import (
    NOT_ASSESSED_COLOR,
    Bar,
    Figure,
    Segment,
    mean,
    percent,
    section_label,
    share_bar,
    teacher_names,
)
from reports.dashboards.queries import fetch, in_list, mastered_sql, roster_pairs


@dataclass
class Comparison:
    """A past date the figures compare with: its label and its as-of date."""

    key: str
    label: str
    as_of: date


@dataclass
class DepartmentDashboard:
    department: Department
    term: Term
    figures: list[Figure]
    comparisons: list[Comparison] = field(default_factory=list)
    baselines_pending: bool = False
    cycle: InterventionCycle | None = None


def level_columns(levels: list[ScaleLevel]) -> list[str]:
    return [f"{calculation.fmt(lv.value)} {lv.display_label}" for lv in levels] + [
        _("Not yet assessed")
    ]


def distribution(
    label: str, counts: dict, levels: list[ScaleLevel]
) -> tuple[list[int], int, int, Bar]:
    """Counts per level (lowest first) and not assessed; proficient and assessed; the bar."""
    per_level = [counts.get(lv.value, 0) for lv in levels]
    not_assessed = counts.get(None, 0)
    segments = [
        Segment(lv.display_label, n, lv.color) for lv, n in zip(levels, per_level, strict=True)
    ]
    segments.append(Segment(_("Not yet assessed"), not_assessed, NOT_ASSESSED_COLOR))
    proficient = counts.get("mastered", 0)
    assessed = sum(per_level)
    value = percent(proficient, assessed)
    bar = Bar(label, segments, note="—" if value is None else f"{value}%")
    return [*per_level, not_assessed], proficient, assessed, bar


def comparisons_for(
    school: School, term: Term, today: date
) -> tuple[list[Comparison], InterventionCycle | None]:
    """Term start, and the start of the latest cycle of the term that has begun."""
    cycles = term_cycles(school, term, today)
    comparisons = [Comparison("term", _("At term start"), term_start_date(term))]
    last = cycles[-1] if cycles else None
    if last is not None:
        comparisons.append(
            Comparison(
                "cycle",
                _("At start of cycle %(number)s") % {"number": last.number},
                cycle_start_date(last),
            )
        )
    return comparisons, last


def department_dashboard(
    *,
    school: School,
    department: Department,
    term: Term,
    today: date,
    course_id: int | None = None,
    focus_target_id: int | None = None,
    every_target: bool = False,
) -> DepartmentDashboard:
    """The figures, over one course of the department (`course_id`: a PLC is usually a course
    team) or all of them; the list of students not yet proficient holds one target
    (`focus_target_id`, else the first) on the page, and every target with `every_target` (the
    CSV)."""
    levels = achievement_levels(school)
    default_policy = next(p for p in current_policies(school) if p.course_id is None)
    threshold = default_policy.mastery_threshold
    comparisons, cycle = comparisons_for(school, term, today)
    ready, pending = baselines_ready(school=school, dates=[c.as_of for c in comparisons])
    comparisons = [c for c in comparisons if c.as_of in ready]

    sections = {
        s.id: s
        for s in Section.objects.filter(school=school, term=term, course__department=department)
        .filter(**({"course_id": course_id} if course_id else {}))
        .select_related("course")
        .prefetch_related("teachers")
        .order_by("course__code", "period", "name")
    }
    targets = {
        t.id: t
        for t in LearningTarget.objects.filter(
            school=school,
            is_active=True,
            course_targets__course__sections__in=list(sections),
        )
        .distinct()
        .order_by("code")
    }
    if focus_target_id is not None and focus_target_id not in targets:
        raise Http404("No such target in this department's courses.")
    params = {
        "school_id": school.id,
        "term_id": term.id,
        "department_id": department.id,
        "course_id": course_id,
    }
    pairs = roster_pairs(
        department_id=department.id,
        extra=f"AND s.course_id = {int(course_id)}" if course_id else "",
    )
    figures = [
        _by_section(school, pairs, params, sections, targets, levels),
        _feedback_owed(school, sections, today),
        _by_teacher(pairs, params, sections, targets, levels),
        _change(pairs, params, targets, comparisons),
        _common_assessments(school, department, term, sections, threshold, course_id),
        *_not_yet_proficient(
            school,
            pairs,
            params,
            sections,
            targets,
            levels,
            cycle,
            focus=None if every_target else (focus_target_id or next(iter(targets), None)),
        ),
    ]
    return DepartmentDashboard(
        department=department,
        term=term,
        figures=figures,
        comparisons=comparisons,
        baselines_pending=pending,
        cycle=cycle,
    )


def _level_counts(rows) -> dict[tuple, dict]:
    """(target, group) -> students per level (None: not yet assessed) and "mastered", from rows
    of (target_id, group_id, level, students, mastered)."""
    counts: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    for target_id, group_id, level, n, mastered in rows:
        bucket = counts[(target_id, group_id)]
        bucket[Decimal(level) if level is not None else None] += n
        bucket["mastered"] += mastered or 0
    return counts


def _levels_figure(
    *, slug, title, description, group_columns, groups, counts, targets, levels
) -> Figure:
    """A row and a bar per target × group that has students; groups are (id, label, cells)."""
    figure = Figure(
        slug=slug,
        title=title,
        description=description,
        columns=[
            _("Target"),
            *group_columns,
            _("Students"),
            *level_columns(levels),
            _("% proficient (of assessed)"),
        ],
        rows=[],
        legend=[(lv.display_label, lv.color) for lv in levels]
        + [(_("Not yet assessed"), NOT_ASSESSED_COLOR)],
    )
    for target in targets.values():
        for group_id, label, group_cells in groups:
            if (target.id, group_id) not in counts:
                continue
            cells, proficient, assessed, bar = distribution(
                f"{target.code} · {label}", counts[(target.id, group_id)], levels
            )
            figure.rows.append(
                [target.code, *group_cells, sum(cells), *cells, percent(proficient, assessed)]
            )
            figure.bars.append(bar)
    return figure


def _by_section(school, pairs, params, sections, targets, levels) -> Figure:
    rows = fetch(
        f"""
        SELECT p.target_id, p.section_id, m.level, count(*), sum({mastered_sql()})
        FROM ({pairs}) p
        LEFT JOIN gradebook_mastery m ON m.school_id = %(school_id)s
             AND m.student_id = p.student_id AND m.target_id = p.target_id
        GROUP BY p.target_id, p.section_id, m.level
        """,
        params,
    )
    return _levels_figure(
        slug="levels-by-section",
        title=_("Levels by section"),
        description=_(
            "Every student enrolled in the section now, at the level they have reached on each "
            "target. Proficient counts students whose level meets the grading policy's mastery "
            "threshold, out of those with a level."
        ),
        group_columns=[_("Section"), _("Teachers")],
        groups=[
            (section.id, section_label(section), [section_label(section), teacher_names(section)])
            for section in sections.values()
        ],
        counts=_level_counts(rows),
        targets=targets,
        levels=levels,
    )


def _feedback_owed(school: School, sections: dict[int, Section], today: date) -> Figure:
    """Per section, its students and how many of them are owed feedback today (two queries)."""
    cadences = feedback_cadence(school=school, section_ids=list(sections), today=today)
    days = school.feedback_interval_days
    figure = Figure(
        slug="feedback-owed",
        title=_("Owed feedback, by section"),
        description=_(
            "Students enrolled in the section now who have had no feedback in its course (a "
            "comment, or a score with feedback) for more than the school's %(days)s days; a "
            "student who joined later counts from the day they joined. Archived sections, and "
            "sections whose term is not running today, owe none."
        )
        % {"days": days},
        columns=[_("Section"), _("Teachers"), _("Students"), _("Owed feedback")],
        rows=[],
        links={0: []},
        empty=_("No section of this department is running today."),
    )
    for section in sections.values():
        cadence = cadences.get(section.id)
        if cadence is None:
            continue
        figure.rows.append(
            [section_label(section), teacher_names(section), cadence.students, cadence.owed_count]
        )
        figure.links[0].append(reverse("gradebook:section_detail", args=[school.slug, section.id]))
        figure.bars.append(
            share_bar(section_label(section), cadence.owed_count, cadence.students, "#b5542c")
        )
    return figure


def _by_teacher(pairs, params, sections, targets, levels) -> Figure:
    # A student in two of one teacher's sections sharing a target counts once for that teacher.
    rows = fetch(
        f"""
        SELECT x.target_id, x.teacher_id, u.full_name, m.level, count(*), sum({mastered_sql()})
        FROM (SELECT DISTINCT p.student_id, p.target_id, sx.teacher_id
              FROM ({pairs}) p
              JOIN gradebook_sectionteacher sx ON sx.school_id = %(school_id)s
                   AND sx.section_id = p.section_id) x
        JOIN mastery_user u ON u.id = x.teacher_id
        LEFT JOIN gradebook_mastery m ON m.school_id = %(school_id)s
             AND m.student_id = x.student_id AND m.target_id = x.target_id
        GROUP BY x.target_id, x.teacher_id, u.full_name, m.level
        ORDER BY u.full_name, x.teacher_id
        """,
        params,
    )
    names = {teacher_id: name for _target, teacher_id, name, *_rest in rows}
    return _levels_figure(
        slug="levels-by-teacher",
        title=_("Levels by teacher"),
        description=_("The same counts over all the sections each teacher teaches."),
        group_columns=[_("Teacher")],
        groups=[(teacher_id, name, [name]) for teacher_id, name in names.items()],
        counts=_level_counts((t, tid, lvl, n, m) for t, tid, _name, lvl, n, m in rows),
        targets=targets,
        levels=levels,
    )


def _change(pairs, params, targets, comparisons: list[Comparison]) -> Figure:
    """Share proficient per target now and at the comparison dates, over today's students."""
    distinct = f"SELECT DISTINCT student_id, target_id FROM ({pairs}) p0"
    now = {
        target_id: (students, assessed or 0, mastered or 0)
        for target_id, students, assessed, mastered in fetch(
            f"""
            SELECT p.target_id, count(*), count(m.level), sum({mastered_sql()})
            FROM ({distinct}) p
            LEFT JOIN gradebook_mastery m ON m.school_id = %(school_id)s
                 AND m.student_id = p.student_id AND m.target_id = p.target_id
            GROUP BY p.target_id
            """,
            params,
        )
    }
    then: dict[tuple, tuple[int, int]] = {}
    if comparisons:
        dated = dict(params)
        dates = in_list([c.as_of for c in comparisons], "as_of", dated)
        for as_of, target_id, assessed, mastered in fetch(
            f"""
            SELECT m.as_of, p.target_id, count(m.level), sum({mastered_sql()})
            FROM ({distinct}) p
            JOIN reports_masterysnapshot m ON m.school_id = %(school_id)s
                 AND m.student_id = p.student_id AND m.target_id = p.target_id
            WHERE m.as_of IN {dates}
            GROUP BY m.as_of, p.target_id
            """,
            dated,
        ):
            then[(str(as_of), target_id)] = (assessed or 0, mastered or 0)
    columns = [_("Target"), _("Students")]
    for c in [*comparisons, Comparison("now", _("Now"), date.max)]:
        columns += [
            _("%(when)s: assessed") % {"when": c.label},
            _("%(when)s: proficient") % {"when": c.label},
            _("%(when)s: %% proficient") % {"when": c.label},
        ]
    figure = Figure(
        slug="change",
        title=_("How it changed"),
        description=_(
            "Today's students, proficient on each target at the start of the term, at the start "
            "of the latest intervention cycle and now (the share is of those assessed by then). "
            "Past levels apply today's grading policy to the evidence dated before that day."
        ),
        columns=columns,
        rows=[],
    )
    for target in targets.values():
        if target.id not in now:
            continue
        students, assessed_now, mastered_now = now[target.id]
        row = [target.code, students]
        for c in comparisons:
            assessed, mastered = then.get((str(c.as_of), target.id), (0, 0))
            row += [assessed, mastered, percent(mastered, assessed)]
            figure.bars.append(
                share_bar(f"{target.code} · {c.label}", mastered, assessed, "#8aa9c9")
            )
        row += [assessed_now, mastered_now, percent(mastered_now, assessed_now)]
        figure.bars.append(share_bar(f"{target.code} · {_('Now')}", mastered_now, assessed_now))
        figure.rows.append(row)
    return figure


def _common_assessments(school, department, term, sections, threshold, course_id) -> Figure:
    """Course-wide (common) assessments of the department (or one course) this term, section by
    section."""
    params = {
        "school_id": school.id,
        "term_id": term.id,
        "department_id": department.id,
        "starts": term.starts_on,
        "ends": term.ends_on,
        "threshold": threshold,
    }
    course = f"AND a.course_id = {int(course_id)}" if course_id else ""
    rows = fetch(
        f"""
        SELECT a.id, a.title, a.tier, a.assessed_on, s.id, count(DISTINCT e.student_id),
               count(e.id), sum(e.score),
               sum(CASE WHEN e.score >= %(threshold)s THEN 1 ELSE 0 END)
        FROM gradebook_assessment a
        JOIN gradebook_course c ON c.id = a.course_id AND c.school_id = a.school_id
        JOIN gradebook_section s ON s.course_id = a.course_id AND s.school_id = a.school_id
             AND s.term_id = %(term_id)s
        JOIN gradebook_enrollment en ON en.section_id = s.id AND en.school_id = a.school_id
             AND en.withdrawn_on IS NULL
        LEFT JOIN gradebook_evidence e ON e.school_id = a.school_id AND e.assessment_id = a.id
             AND e.student_id = en.student_id AND e.voided_at IS NULL AND e.status = 'scored'
        WHERE a.school_id = %(school_id)s AND a.section_id IS NULL AND a.original_id IS NULL
          AND c.department_id = %(department_id)s {course}
          AND a.assessed_on BETWEEN %(starts)s AND %(ends)s
        GROUP BY a.id, a.title, a.tier, a.assessed_on, s.id
        ORDER BY a.assessed_on, a.title, a.tier, a.id
        """,
        params,
    )
    figure = Figure(
        slug="common-assessments",
        title=_("Common assessments across sections"),
        description=_(
            "Assessments given to every section of a course (by tier where the task is tiered): "
            "students scored, the average score and the share of scores at or above the mastery "
            "threshold (%(threshold)s)."
        )
        % {"threshold": calculation.fmt(threshold)},
        columns=[
            _("Assessment"),
            _("Date"),
            _("Tier"),
            _("Section"),
            _("Students scored"),
            _("Scores"),
            _("Average score"),
            _("% of scores proficient"),
        ],
        rows=[],
        empty=_("No common assessment in this term yet."),
    )
    for _id, title, tier, on, section_id, students, n, total, proficient in rows:
        section = sections.get(section_id)
        if section is None:
            continue
        figure.rows.append(
            [
                title,
                on,
                tier,
                section_label(section),
                students,
                n,
                mean(total, n),
                percent(proficient or 0, n),
            ]
        )
        label = f"{title}{' · ' + tier if tier else ''} · {section_label(section)}"
        figure.bars.append(share_bar(label, proficient or 0, n))
    return figure


def _not_yet_proficient(
    school, pairs, params, sections, targets, levels, cycle, *, focus: int | None
) -> tuple[Figure, Figure]:
    """Students with a level below mastery on a target, and whether this cycle already has them:
    counts per target, and the students of the focus target (all targets when focus is None).

    One query for both: a department can have thousands of such rows, too many for one page."""
    dated = dict(params, cycle_id=cycle.id if cycle else 0, reteach=GroupKind.RETEACH)
    rows = fetch(
        f"""
        SELECT p.target_id, p.student_id, st.last_name, st.first_name, st.preferred_name,
               st.local_id, min(p.section_id), m.level, m.score, min(r.weekday)
        FROM ({pairs}) p
        JOIN gradebook_student st ON st.id = p.student_id AND st.school_id = %(school_id)s
        JOIN gradebook_mastery m ON m.school_id = %(school_id)s
             AND m.student_id = p.student_id AND m.target_id = p.target_id
        LEFT JOIN intervention_rosterentry r ON r.school_id = %(school_id)s
             AND r.cycle_id = %(cycle_id)s AND r.student_id = p.student_id
             AND r.target_id = p.target_id AND r.kind = %(reteach)s
        WHERE m.level IS NOT NULL AND NOT m.mastered
        GROUP BY p.target_id, p.student_id, st.last_name, st.first_name, st.preferred_name,
                 st.local_id, m.level, m.score
        ORDER BY p.target_id, m.score, st.last_name, st.first_name
        """,
        dated,
    )
    labels = {lv.value: lv.display_label for lv in levels}
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row[0]][0] += 1
        counts[row[0]][1] += row[9] is not None
    summary = Figure(
        slug="not-yet-by-target",
        title=_("Not yet proficient, by target"),
        description=_(
            "How many students have a level below mastery on each target, and how many of them "
            "the current intervention cycle has placed on it. Choose a target to list its students."
        ),
        columns=[_("Target"), _("Statement"), _("Not yet proficient"), _("In intervention")],
        rows=[],
        links={0: []},
        wrap=frozenset({1}),
        empty=_("Every assessed student is proficient."),
    )
    base = reverse("reports:dashboard_department", args=[school.slug, params["department_id"]])
    course_query = params.get("course_id") or "all"
    for target in targets.values():
        if target.id not in counts:
            continue
        waiting, placed = counts[target.id]
        summary.rows.append([target.code, target.statement, waiting, placed])
        summary.links[0].append(
            f"{base}?term={params['term_id']}&course={course_query}&target={target.id}"
            "#figure-not-yet-proficient"
        )
        summary.bars.append(share_bar(f"{target.code} · {_('placed')}", placed, waiting))
    if focus is not None:
        rows = [r for r in rows if r[0] == focus]
    focus_target = targets.get(focus) if focus is not None else None

    figure = Figure(
        slug="not-yet-proficient",
        title=_("Students not yet proficient: %(target)s") % {"target": focus_target.code}
        if focus_target
        else _("Students not yet proficient"),
        description=_(
            "Target by target, the students with a level below mastery, lowest score first, and "
            "whether the current intervention cycle has placed them on that target."
        ),
        columns=[
            _("Target"),
            _("Student"),
            _("Student number"),
            _("Section"),
            _("Score"),
            _("Level"),
            _("In intervention (this cycle)"),
        ],
        rows=[],
        links={1: [], 6: []},
        empty=_("Every assessed student is proficient."),
    )
    order = {t: i for i, t in enumerate(targets)}
    rows = sorted(rows, key=lambda r: order.get(r[0], len(order)))
    for (
        target_id,
        student_id,
        last,
        first,
        preferred,
        local_id,
        section_id,
        level,
        score,
        day,
    ) in rows:
        target = targets.get(target_id)
        if target is None:
            continue
        level = Decimal(level)
        placed = str(WEEKDAY_NAMES.get(day, "")) if day is not None else ""
        figure.rows.append(
            [
                target.code,
                f"{last}, {preferred or first}",
                local_id,
                section_label(sections[section_id]),
                Decimal(score) if score is not None else None,
                f"{calculation.fmt(level)} {labels.get(level, '')}".strip(),
                placed or _("No"),
            ]
        )
        figure.links[1].append(reverse("intervention:history", args=[school.slug, student_id]))
        figure.links[6].append(
            reverse("intervention:day", args=[school.slug, cycle.id, day])
            if cycle is not None and day is not None
            else (reverse("intervention:home", args=[school.slug]) if cycle is not None else "")
        )
    return summary, figure
