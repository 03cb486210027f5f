"""The district view: the schools of one district side by side, and targets compared by standard.

Each school teaches its own current term (the term containing today, else its latest begun), so
every figure counts each school's active enrollments of that term. Targets of different schools
are comparable only where they teach the same standard: the same framework item (CASE
identifier) where they are aligned, else the same typed standard code; that comparison is its own
figure.
The page reads one stored row per school (SchoolFigures): counting 25 schools of 2,000 students
in the request took minutes, so each school is counted in Celery, with the school dashboard's own
readers, when the page finds its row older than FRESH_FOR (and nightly). The page names the
district's schools explicitly: the district admin reads across schools on purpose, inside
`district_schools(district)` in the view, whose row-level security admits that district's schools
and no other.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gradebook.models import Term
from mastery.models import District, School
from reports.dashboards.counts import (
    TermScope,
    course_pass_counts,
    evidence_volume,
    habit_months,
    policy_engines,
    proficiency_counts,
)
from reports.dashboards.figures import Figure, mean, percent, share_bar
from reports.dashboards.queries import fetch, mastered_sql, roster_pairs
from reports.models import SchoolFigures
from reports.tasks import compute_school_figures

logger = logging.getLogger(__name__)

# A school's stored figures are shown for an hour; after that the page queues a new count (and
# shows the stored one meanwhile). A count queued but not done after REQUEUE_AFTER is queued again
# (a worker restarted, a lost message).
FRESH_FOR = timedelta(hours=1)
REQUEUE_AFTER = timedelta(minutes=15)


@dataclass
class DistrictDashboard:
    district: District
    schools: list[School]
    stored: dict[int, SchoolFigures] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        """Whether some school has no figures yet (their count is queued)."""
        return any(
            self.stored.get(s.id) is None or not self.stored[s.id].computed_at for s in self.schools
        )


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
    """The district's schools side by side, from each school's stored figures (a fixed number of
    queries whatever the number of schools); stale or missing ones are queued for a new count."""
    schools = list(School.objects.filter(district=district).order_by("name"))
    dashboard = DistrictDashboard(district=district, schools=schools)
    dashboard.stored = school_figures_ready(schools=schools, today=today)
    dashboard.figures = [
        _schools(schools, dashboard.stored),
        _habits(schools, dashboard.stored),
        _standards(schools, dashboard.stored),
    ]
    return dashboard


def school_figures_ready(*, schools: list[School], today: date) -> dict[int, SchoolFigures]:
    """Each school's stored figures; a school whose figures are missing, of another day or older
    than FRESH_FOR is queued for a new count (once: its row says queued, so a second visit or a
    reload does not queue it again until REQUEUE_AFTER)."""
    now = timezone.now()
    stored = {f.school_id: f for f in SchoolFigures.objects.filter(school__in=schools)}
    due = []
    for school in schools:
        found = stored.get(school.id)
        if found is None:
            due.append(school.id)
            continue
        # Figures counted before targets were compared by aligned standard lack its keys: they
        # are counted again rather than shown without the comparison for up to an hour.
        fresh = (
            found.computed_at is not None
            and found.as_of == today
            and now - found.computed_at < FRESH_FOR
            and "compared_keys" in (found.figures or {})
        )
        queued = (
            found.status == SchoolFigures.Status.QUEUED and now - found.queued_at < REQUEUE_AFTER
        )
        if not fresh and not queued:
            due.append(school.id)
    if not due:
        return stored
    SchoolFigures.objects.bulk_create(
        [SchoolFigures(school_id=i, queued_at=now) for i in due if i not in stored],
        ignore_conflicts=True,
    )
    SchoolFigures.objects.filter(school_id__in=[i for i in due if i in stored]).update(
        status=SchoolFigures.Status.QUEUED, queued_at=now
    )

    def queue():
        for school_id in due:
            try:
                compute_school_figures.delay(school_id=school_id, today=today.isoformat())
            except Exception:  # a dead broker: show what is stored, queue again later
                logger.exception("Could not queue the district figures of school %s", school_id)
                return

    transaction.on_commit(queue)
    # Outside a transaction the tasks were queued at once, and ran if Celery is eager (the demo).
    return {f.school_id: f for f in SchoolFigures.objects.filter(school__in=schools)}


def school_figures_compute(*, school: School, today: date) -> SchoolFigures:
    """Count one school's row of the district page and store it (idempotent: it replaces it).
    Runs in the school (its Celery task enters it), with the school dashboard's own readers."""
    figures = school_figures(school=school, today=today)
    stored, _ = SchoolFigures.objects.update_or_create(
        school=school,
        defaults={
            "status": SchoolFigures.Status.DONE,
            "computed_at": timezone.now(),
            "as_of": today,
            "figures": figures,
        },
    )
    return stored


def school_figures(*, school: School, today: date) -> dict:
    """One school's figures for the district page, JSON-ready, in its current term."""
    term = current_terms([school.id], today).get(school.id)
    empty = {
        "term": "",
        "students": 0,
        "pairs": 0,
        "assessed": 0,
        "proficient": 0,
        "graded": 0,
        "on_track": 0,
        "sections": 0,
        "quiet": 0,
        "evidence_28": 0,
        "evidence_term": 0,
        "entered": 0,
        "exited": 0,
        "continuing": 0,
        "habits": [],
        "compared": [],
        "compared_keys": [],
    }
    if term is None:
        return empty
    scope = TermScope(terms=(term,), today=today)
    p = proficiency_counts(scope, []).get((school.id, None, None, None))
    _courses, on_track = course_pass_counts(scope, policy_engines([school]))
    track = on_track.get(school.id)
    volume = [v for v in evidence_volume(scope).values() if v.students]
    habit_names, months = habit_months(scope)
    totals: dict[int, list] = defaultdict(lambda: [0, 0])
    for (habit_id, _month), month in months.items():
        totals[habit_id][0] += month.scores
        totals[habit_id][1] += month.total or 0
    params, school_list, term_list = scope.params()
    entered, exited, continuing = _intervention(params, school_list, term_list).get(
        school.id, (0, 0, 0)
    )
    pairs = roster_pairs(schools=school_list, terms=term_list)
    return {
        **empty,
        "term": term.name,
        "students": p.students if p else 0,
        "pairs": p.pairs if p else 0,
        "assessed": p.assessed if p else 0,
        "proficient": p.proficient if p else 0,
        "graded": track.graded if track else 0,
        "on_track": track.on_track if track else 0,
        "sections": len(volume),
        "quiet": sum(1 for v in volume if v.recent == 0),
        "evidence_28": sum(v.volume for v in volume),
        "evidence_term": sum(v.term for v in volume),
        "entered": entered,
        "exited": exited,
        "continuing": continuing,
        # (name, scores, their total as text: a Decimal survives the JSON exactly)
        "habits": [
            [name, totals[habit_id][0], str(totals[habit_id][1])]
            for habit_id, name in habit_names.get(school.id, [])
        ],
        **_school_standards(school, pairs, params),
    }


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


def _school_standards(school: School, pairs: str, params: dict) -> dict:
    """Per standard the school's targets teach: targets, pairs assessed, proficient; and the
    standards of its active targets (the page compares one only where two schools teach it).

    A standard is a framework item's CASE identifier where the target is aligned (a target aligned
    to several items counts under each), else the target's typed standard code: spelling decides
    only where no alignment does. Each row carries its label (the item's code and statement), so
    the district page reads nothing but the stored figures."""
    rows = fetch(
        f"""
        SELECT {STANDARD_KEY}, max(i.human_coding_scheme), max(i.full_statement),
               count(DISTINCT t.code), count(m.level), sum({mastered_sql()})
        FROM (SELECT DISTINCT school_id, student_id, target_id FROM ({pairs}) p0) p
        JOIN mastery_learningtarget t ON t.id = p.target_id AND t.school_id = p.school_id
        {ALIGNED_ITEMS}
        LEFT JOIN gradebook_mastery m ON m.school_id = p.school_id
             AND m.student_id = p.student_id AND m.target_id = p.target_id
        WHERE i.id IS NOT NULL OR t.standard_code <> ''
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        params,
    )
    if not rows and not fetch(f"SELECT 1 FROM ({pairs}) p LIMIT 1", params):
        return {"compared": [], "compared_keys": []}  # nobody to count: nothing to compare
    taught = fetch(
        f"""
        SELECT DISTINCT {STANDARD_KEY}
        FROM mastery_learningtarget t
        {ALIGNED_ITEMS}
        WHERE t.school_id = %(standards_school)s AND t.is_active
          AND (i.id IS NOT NULL OR t.standard_code <> '')
        """,
        {"standards_school": school.id},
    )
    return {
        # [key, label, targets, assessed, proficient]; key "item:<identifier>" or "code:<code>"
        "compared": [
            [
                _standard_key(kind, value),
                _standard_label(value, code, statement),
                n,
                assessed,
                mastered or 0,
            ]
            for kind, value, code, statement, n, assessed, mastered in rows
        ],
        "compared_keys": sorted({_standard_key(kind, value) for kind, value in taught}),
    }


# Which standard a target row counts under: ('item', identifier) where aligned, else ('code', its
# standard code). The alignment join multiplies a target by its items, on purpose.
STANDARD_KEY = """CASE WHEN i.id IS NULL THEN 'code' ELSE 'item' END,
       CASE WHEN i.id IS NULL THEN t.standard_code ELSE CAST(i.identifier AS varchar(36)) END"""
ALIGNED_ITEMS = """LEFT JOIN mastery_targetalignment a ON a.school_id = t.school_id
             AND a.target_id = t.id
        LEFT JOIN mastery_frameworkitem i ON i.id = a.item_id"""
LABEL_LENGTH = 80


def _standard_key(kind: str, value: str) -> str:
    # PostgreSQL writes a uuid with dashes, SQLite stores 32 hex digits: one spelling for both.
    return f"item:{uuid.UUID(value)}" if kind == "item" else f"code:{value}"


def _standard_label(value: str, code: str | None, statement: str | None) -> str:
    """The item's code and the start of its statement; a typed standard code as it is."""
    if statement is None:
        return value
    short = statement if len(statement) <= LABEL_LENGTH else f"{statement[: LABEL_LENGTH - 1]}…"
    return f"{code} {short}" if code else short


def _figures_of(stored: dict[int, SchoolFigures], school: School) -> dict | None:
    found = stored.get(school.id)
    return found.figures if found is not None and found.computed_at is not None else None


def _schools(schools, stored: dict[int, SchoolFigures]) -> Figure:
    figure = Figure(
        slug="schools",
        title=_("The district's schools"),
        description=_(
            "Each school in its current term, counted as its own school dashboard counts: "
            "students, the share of student × target pairs proficient (of those assessed), "
            "students on track in every course (of those with a course grade), evidence per "
            "section in the last 28 days, sections without evidence in the last 14 days, and "
            "intervention this term (exit rate = exited of those whose cycle closed). Each "
            "school is counted in the background and shown with the time it was counted; "
            "counts older than an hour are renewed when the page is opened."
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
            _("Counted at"),
        ],
        rows=[],
        empty=_("This district has no school yet."),
    )
    for school in schools:
        f = _figures_of(stored, school)
        if f is None:
            figure.rows.append([school.name, _("being counted…"), *[None] * 16])
            continue
        counted = timezone.localtime(stored[school.id].computed_at)
        figure.rows.append(
            [
                school.name,
                f["term"],
                f["students"],
                f["pairs"],
                f["assessed"],
                f["proficient"],
                percent(f["proficient"], f["assessed"]),
                f["graded"],
                f["on_track"],
                percent(f["on_track"], f["graded"]),
                f["sections"],
                f["quiet"],
                f["evidence_28"],
                f["evidence_term"],
                f["entered"],
                f["exited"],
                percent(f["exited"], f["exited"] + f["continuing"]),
                counted.strftime("%Y-%m-%d %H:%M"),
            ]
        )
        figure.bars.append(share_bar(school.name, f["proficient"], f["assessed"]))
    return figure


def _habits(schools, stored: dict[int, SchoolFigures]) -> Figure:
    """Each school's habits of work this term: the average of the live scores, and how many."""
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
    for school in schools:
        for name, n, total in (_figures_of(stored, school) or {}).get("habits", []):
            figure.rows.append([school.name, name, n, mean(Decimal(total), n)])
    return figure


def _standards(schools, stored: dict[int, SchoolFigures]) -> Figure:
    """Targets that teach one standard, compared school by school (standards of 2+ schools): by
    aligned framework item (CASE identifier), else by the typed standard code."""
    figure = Figure(
        slug="standards",
        title=_("Targets compared by standard"),
        description=_(
            "Where targets of two or more schools teach the same standard, the share of students "
            "proficient on them in each school (of those assessed). A target aligned to a "
            "framework's standard is compared by that standard's identifier (whatever its code "
            "is typed as), under each standard it is aligned to; a target with no aligned "
            "standard is compared by its standard code."
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
        empty=_("No standard is taught by targets of two schools."),
    )
    teaching: dict[str, int] = defaultdict(int)
    for school in schools:
        for key in (_figures_of(stored, school) or {}).get("compared_keys", []):
            teaching[key] += 1
    grouped = defaultdict(list)
    labels: dict[str, str] = {}
    for school in schools:
        for key, label, n_targets, assessed, mastered in (_figures_of(stored, school) or {}).get(
            "compared", []
        ):
            if teaching[key] > 1:
                labels.setdefault(key, label)
                grouped[key].append((school.name, n_targets, assessed, mastered))
    for key in sorted(grouped, key=lambda k: (labels[k], k)):
        label = labels[key]
        for name, n_targets, assessed, mastered in sorted(grouped[key]):
            figure.rows.append(
                [label, name, n_targets, assessed, mastered, percent(mastered, assessed)]
            )
            figure.bars.append(share_bar(f"{label} · {name}", mastered, assessed))
    return figure
