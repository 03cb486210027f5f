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
from datetime import date, timedelta

from django.utils.translation import gettext as _

from gradebook.models import Term
from mastery.models import District, School
from reports.dashboards.figures import Figure, percent, share_bar
from reports.dashboards.queries import fetch, in_list, mastered_sql

# Every active enrollment in a section of its school's current term × the course's targets.
DISTRICT_PAIRS = """
SELECT s.school_id, en.student_id, ct.target_id, s.id AS section_id
FROM gradebook_section s
JOIN gradebook_enrollment en ON en.section_id = s.id AND en.school_id = s.school_id
     AND en.withdrawn_on IS NULL
JOIN gradebook_student st ON st.id = en.student_id AND st.school_id = s.school_id AND st.is_active
JOIN gradebook_coursetarget ct ON ct.course_id = s.course_id AND ct.school_id = s.school_id
JOIN mastery_learningtarget t ON t.id = ct.target_id AND t.school_id = s.school_id AND t.is_active
WHERE s.school_id IN {schools} AND s.term_id IN {terms}
"""


@dataclass
class DistrictDashboard:
    district: District
    schools: list[School]
    terms: dict[int, Term]
    figures: list[Figure] = field(default_factory=list)


def current_terms(school_ids: list[int], today: date) -> dict[int, Term]:
    """Each school's term containing today, else its latest begun, else its first (one query)."""
    best: dict[int, Term] = {}
    for term in Term.objects.filter(school_id__in=school_ids).order_by("school_id", "starts_on"):
        held = best.get(term.school_id)
        rank = (term.starts_on <= today <= term.ends_on, term.starts_on <= today, term.starts_on)
        if held is None or rank > (
            held.starts_on <= today <= held.ends_on,
            held.starts_on <= today,
            held.starts_on,
        ):
            best[term.school_id] = term
    return best


def district_dashboard(*, district: District, today: date) -> DistrictDashboard:
    schools = list(School.objects.filter(district=district).order_by("name"))
    terms = current_terms([s.id for s in schools], today)
    dashboard = DistrictDashboard(district=district, schools=schools, terms=terms)
    params: dict = {
        "since_14": today - timedelta(days=14),
        "since_28": today - timedelta(days=28),
        "today": today,
    }
    school_list = in_list([s.id for s in schools], "school", params)
    term_list = in_list([t.id for t in terms.values()], "term", params)
    pairs = DISTRICT_PAIRS.format(schools=school_list, terms=term_list)
    dashboard.figures = [
        _schools(schools, terms, pairs, params, school_list, term_list),
        _standards(schools, pairs, params),
    ]
    return dashboard


def _schools(schools, terms, pairs, params, school_list, term_list) -> Figure:
    mastery = {
        school_id: (students, pairs_n, assessed, mastered or 0)
        for school_id, students, pairs_n, assessed, mastered in fetch(
            f"""
            SELECT p.school_id, count(DISTINCT p.student_id), count(*), count(m.level),
                   sum({mastered_sql()})
            FROM (SELECT DISTINCT school_id, student_id, target_id FROM ({pairs}) p0) p
            LEFT JOIN gradebook_mastery m ON m.school_id = p.school_id
                 AND m.student_id = p.student_id AND m.target_id = p.target_id
            GROUP BY p.school_id
            """,
            params,
        )
    }
    # Live evidence of the term's students, recorded within each school's term dates.
    evidence = {
        school_id: (n_28 or 0, n_term or 0)
        for school_id, n_28, n_term in fetch(
            f"""
            SELECT e.school_id,
                   sum(CASE WHEN e.assessed_on >= %(since_28)s THEN 1 ELSE 0 END), count(*)
            FROM gradebook_evidence e
            JOIN gradebook_term tm ON tm.school_id = e.school_id AND tm.id IN {term_list}
            WHERE e.school_id IN {school_list} AND e.voided_at IS NULL
              AND e.assessed_on BETWEEN tm.starts_on AND %(today)s
              AND e.student_id IN (SELECT student_id FROM ({pairs}) p1)
            GROUP BY e.school_id
            """,
            params,
        )
    }
    # Sections of the term with students and no evidence in the last 14 days.
    quiet = {
        school_id: (sections, silent)
        for school_id, sections, silent in fetch(
            f"""
            SELECT sec.school_id, count(*),
                   sum(CASE WHEN sec.recent = 0 THEN 1 ELSE 0 END)
            FROM (
                SELECT p.school_id, p.section_id,
                       count(e.id) AS recent
                FROM (SELECT DISTINCT school_id, section_id, student_id, target_id
                      FROM ({pairs}) p2) p
                LEFT JOIN gradebook_evidence e ON e.school_id = p.school_id
                     AND e.student_id = p.student_id AND e.target_id = p.target_id
                     AND e.voided_at IS NULL AND e.assessed_on >= %(since_14)s
                GROUP BY p.school_id, p.section_id
            ) sec
            GROUP BY sec.school_id
            """,
            params,
        )
    }
    intervention = {
        school_id: (entered or 0, exited or 0, continuing or 0)
        for school_id, entered, exited, continuing in fetch(
            f"""
            SELECT x.school_id, count(*), sum(x.exited), sum(x.continuing)
            FROM (
                SELECT r.school_id, r.cycle_id, r.student_id, r.target_id,
                       max(CASE WHEN r.outcome = 'exited' THEN 1 ELSE 0 END) AS exited,
                       max(CASE WHEN r.outcome = 'continuing' THEN 1 ELSE 0 END) AS continuing
                FROM intervention_rosterentry r
                JOIN intervention_interventioncycle c ON c.id = r.cycle_id
                     AND c.school_id = r.school_id
                JOIN gradebook_term tm ON tm.school_id = r.school_id AND tm.id IN {term_list}
                WHERE r.school_id IN {school_list} AND r.kind = 'reteach'
                  AND c.starts_on BETWEEN tm.starts_on AND tm.ends_on
                GROUP BY r.school_id, r.cycle_id, r.student_id, r.target_id
            ) x
            GROUP BY x.school_id
            """,
            params,
        )
    }
    figure = Figure(
        slug="schools",
        title=_("The district's schools"),
        description=_(
            "Each school in its current term: students enrolled, the share of student × target "
            "pairs proficient (of those assessed), evidence recorded in the last 28 days per "
            "student, sections without evidence in the last 14 days, and intervention this term "
            "(exit rate = exited of those whose cycle closed)."
        ),
        columns=[
            _("School"),
            _("Term"),
            _("Students"),
            _("Student × target pairs"),
            _("Assessed"),
            _("Proficient"),
            _("% proficient (of assessed)"),
            _("Evidence, last 28 days"),
            _("Evidence per student, last 28 days"),
            _("Evidence this term"),
            _("Sections"),
            _("Sections without evidence in 14 days"),
            _("Intervention placements"),
            _("Exited"),
            _("Exit rate %"),
        ],
        rows=[],
        empty=_("This district has no school yet."),
    )
    for school in schools:
        term = terms.get(school.id)
        students, pairs_n, assessed, mastered = mastery.get(school.id, (0, 0, 0, 0))
        n_28, n_term = evidence.get(school.id, (0, 0))
        sections, silent = quiet.get(school.id, (0, 0))
        entered, exited, continuing = intervention.get(school.id, (0, 0, 0))
        per_student = round(n_28 / students, 1) if students else None
        figure.rows.append(
            [
                school.name,
                term.name if term else "",
                students,
                pairs_n,
                assessed,
                mastered,
                percent(mastered, assessed),
                n_28,
                per_student,
                n_term,
                sections,
                silent or 0,
                entered,
                exited,
                percent(exited, exited + continuing),
            ]
        )
        figure.bars.append(share_bar(school.name, mastered, assessed))
    return figure


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
