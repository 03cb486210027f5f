"""The district view: the schools of one district side by side, and targets compared by standard.

Each school teaches its own current term (the term containing today, else its latest begun), so
every figure counts each school's active enrollments of that term. Targets of different schools
are comparable only where they carry the same standard code; that comparison is its own figure.
The queries name the district's schools explicitly (`school_id IN …`): the district admin reads
across schools on purpose, inside `all_schools()` in the view, and never beyond their district.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from gradebook.models import Term
from mastery.models import District, School
from reports.dashboards.figures import Figure, mean, percent, share_bar
from reports.dashboards.queries import fetch, mastered_sql, roster_pairs
from reports.dashboards.school import (
    TermScope,
    course_pass_counts,
    evidence_volume,
    habit_months,
    policy_engines,
    proficiency_counts,
)


@dataclass
class DistrictDashboard:
    district: District
    schools: list[School]
    terms: dict[int, Term]
    figures: list[Figure] = field(default_factory=list)


def term_rank(term: Term, today: date) -> tuple:
    """Which term a school's dashboards show by default: the one containing today (the latest to
    begin if two do), else the latest begun, else the first to come."""
    begun = term.starts_on <= today
    return (
        begun and today <= term.ends_on,
        begun,
        term.starts_on.toordinal() * (1 if begun else -1),
    )


def current_terms(school_ids: list[int], today: date) -> dict[int, Term]:
    """Each school's current term (term_rank), one query for every school."""
    best: dict[int, Term] = {}
    for term in Term.objects.filter(school_id__in=school_ids):
        held = best.get(term.school_id)
        if held is None or term_rank(term, today) > term_rank(held, today):
            best[term.school_id] = term
    return best


def district_dashboard(*, district: District, today: date) -> DistrictDashboard:
    """The district's schools side by side, with the school dashboard's own readers (each a fixed
    number of queries over `school_id IN …`, whatever the number of schools)."""
    schools = list(School.objects.filter(district=district).order_by("name"))
    terms = current_terms([s.id for s in schools], today)
    dashboard = DistrictDashboard(district=district, schools=schools, terms=terms)
    scope = TermScope(terms=tuple(terms.values()), today=today)
    if not terms:
        dashboard.figures = [
            _schools(schools, terms, {}, ({}, {}), {}, {}),
            _habits(schools, ({}, {})),
            _empty_standards(),
        ]
        return dashboard
    proficiency = proficiency_counts(scope, [])
    passing = course_pass_counts(scope, policy_engines(schools))
    volume = evidence_volume(scope)
    habits = habit_months(scope)
    params, school_list, term_list = scope.params()
    intervention = _intervention(params, school_list, term_list)
    pairs = roster_pairs(schools=school_list, terms=term_list)
    dashboard.figures = [
        _schools(schools, terms, proficiency, passing, volume, intervention),
        _habits(schools, habits),
        _standards(schools, pairs, params),
    ]
    return dashboard


def _intervention(params, school_list, term_list) -> dict[int, tuple[int, int, int]]:
    """Per school: re-teaching placements of the term's cycles (a student on two days counts once
    per cycle and target), how many exited and how many continue."""
    return {
        school_id: (entered or 0, exited or 0, continuing or 0)
        for school_id, entered, exited, continuing in fetch(
            f"""
            SELECT x.school_id, count(*),
                   sum(CASE WHEN x.outcome_rank = 2 THEN 1 ELSE 0 END),
                   sum(CASE WHEN x.outcome_rank = 1 THEN 1 ELSE 0 END)
            FROM (
                -- As the intervention dashboard ranks a placement's entries: in progress while
                -- any entry is, else continuing while any is, else exited.
                SELECT r.school_id, r.cycle_id, r.student_id, r.target_id,
                       min(CASE r.outcome WHEN 'exited' THEN 2 WHEN 'continuing' THEN 1
                           ELSE 0 END) AS outcome_rank
                FROM intervention_rosterentry r
                JOIN intervention_interventioncycle c ON c.id = r.cycle_id
                     AND c.school_id = r.school_id
                JOIN gradebook_term tm ON tm.school_id = r.school_id AND tm.id IN {term_list}
                WHERE r.school_id IN {school_list} AND r.kind = 'reteach'
                  AND r.target_id IS NOT NULL
                  AND c.starts_on BETWEEN tm.starts_on AND tm.ends_on
                  AND c.starts_on <= %(today)s
                GROUP BY r.school_id, r.cycle_id, r.student_id, r.target_id
            ) x
            GROUP BY x.school_id
            """,
            params,
        )
    }


def _schools(schools, terms, proficiency, passing, volume, intervention) -> Figure:
    _courses, on_track = passing
    sections: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, quiet, 28 days, term
    for v in volume.values():
        if not v.students:
            continue
        tally = sections[v.school_id]
        tally[0] += 1
        tally[1] += v.recent == 0
        tally[2] += v.volume
        tally[3] += v.term
    figure = Figure(
        slug="schools",
        title=_("The district's schools"),
        description=_(
            "Each school in its current term, counted as its own school dashboard counts: "
            "students, the share of student × target pairs proficient (of those assessed), "
            "students on track in every course (of those with a course grade), evidence per "
            "section in the last 28 days, sections without evidence in the last 14 days, and "
            "intervention this term (exit rate = exited of those whose cycle closed)."
        ),
        columns=[
            _("School"),
            _("Term"),
            _("Students"),
            _("Student × target pairs"),
            _("Assessed"),
            _("Proficient"),
            _("% proficient (of assessed)"),
            _("Students with a course grade"),
            _("On track in every course"),
            _("% on track"),
            _("Sections"),
            _("Sections without evidence in 14 days"),
            _("Evidence in sections, last 28 days"),
            _("Evidence in sections, this term"),
            _("Intervention placements"),
            _("Exited"),
            _("Exit rate %"),
        ],
        rows=[],
        empty=_("This district has no school yet."),
    )
    for school in schools:
        term = terms.get(school.id)
        p = proficiency.get((school.id, None, None, None))
        students, pairs_n, assessed, proficient = (
            (p.students, p.pairs, p.assessed, p.proficient) if p else (0, 0, 0, 0)
        )
        track = on_track.get(school.id)
        graded, tracked = (track.graded, track.on_track) if track else (0, 0)
        n_sections, quiet, n_28, n_term = sections.get(school.id, [0, 0, 0, 0])
        entered, exited, continuing = intervention.get(school.id, (0, 0, 0))
        figure.rows.append(
            [
                school.name,
                term.name if term else "",
                students,
                pairs_n,
                assessed,
                proficient,
                percent(proficient, assessed),
                graded,
                tracked,
                percent(tracked, graded),
                n_sections,
                quiet,
                n_28,
                n_term,
                entered,
                exited,
                percent(exited, exited + continuing),
            ]
        )
        figure.bars.append(share_bar(school.name, proficient, assessed))
    return figure


def _habits(schools, habits) -> Figure:
    """Each school's habits of work this term: the average of the live scores, and how many."""
    names, months = habits
    figure = Figure(
        slug="habits",
        title=_("Habits of work"),
        description=_(
            "Each school's habits of work over its current term: how many scores were recorded "
            "and their average. Habits compare across schools only where they mean the same."
        ),
        columns=[_("School"), _("Habit"), _("Scores"), _("Average score")],
        rows=[],
        empty=_("No school records habits of work."),
    )
    totals: dict[int, list] = defaultdict(lambda: [0, 0])
    for (habit_id, _month), month in months.items():
        totals[habit_id][0] += month.scores
        totals[habit_id][1] += month.total or 0
    for school in schools:
        for habit_id, name in names.get(school.id, []):
            n, total = totals.get(habit_id, (0, 0))
            figure.rows.append([school.name, name, n, mean(total, n)])
    return figure


def _empty_standards() -> Figure:
    return Figure(
        slug="standards",
        title=_("Targets compared by standard"),
        columns=[],
        rows=[],
        empty=_("No school of this district has a term yet."),
    )


def _standards(schools, pairs, params) -> Figure:
    """Targets that carry one standard code, compared school by school (codes in 2+ schools)."""
    rows = fetch(
        f"""
        SELECT t.standard_code, p.school_id, count(DISTINCT t.code), count(m.level),
               sum({mastered_sql()})
        FROM (SELECT DISTINCT school_id, student_id, target_id FROM ({pairs}) p0) p
        JOIN mastery_learningtarget t ON t.id = p.target_id AND t.school_id = p.school_id
        LEFT JOIN gradebook_mastery m ON m.school_id = p.school_id
             AND m.student_id = p.student_id AND m.target_id = p.target_id
        WHERE t.standard_code <> ''
          AND t.standard_code IN (
              SELECT t2.standard_code FROM mastery_learningtarget t2
              WHERE t2.school_id IN (SELECT DISTINCT school_id FROM ({pairs}) p3)
                AND t2.standard_code <> '' AND t2.is_active
              GROUP BY t2.standard_code HAVING count(DISTINCT t2.school_id) > 1)
        GROUP BY t.standard_code, p.school_id
        ORDER BY t.standard_code
        """,
        params,
    )
    names = {s.id: s.name for s in schools}
    figure = Figure(
        slug="standards",
        title=_("Targets compared by standard"),
        description=_(
            "Where targets of two or more schools carry the same standard code, the share of "
            "students proficient on them in each school (of those assessed)."
        ),
        columns=[
            _("Standard"),
            _("School"),
            _("Targets"),
            _("Student × target pairs assessed"),
            _("Proficient"),
            _("% proficient (of assessed)"),
        ],
        rows=[],
        empty=_("No standard code is shared by targets of two schools."),
    )
    grouped = defaultdict(list)
    for code, school_id, n_targets, assessed, mastered in rows:
        grouped[code].append((names.get(school_id, ""), n_targets, assessed, mastered or 0))
    for code, entries in grouped.items():
        for name, n_targets, assessed, mastered in sorted(entries):
            figure.rows.append(
                [code, name, n_targets, assessed, mastered, percent(mastered, assessed)]
            )
            figure.bars.append(share_bar(f"{code} · {name}", mastered, assessed))
    return figure
