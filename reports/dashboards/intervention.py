"""The intervention effectiveness dashboard: does re-teaching work?

For every intervention cycle of the term that has begun, target by target: how many students were
placed, how many exited, continued or are still in progress, and how much their score on the target
grew over the cycle compared with similar students who were not placed (same target, same level at
the start of the cycle). Then the cycles' totals, and the students placed on the same target for the
third time (or more), who need something other than another cycle of the same.

Counting follows `intervention.selectors.cycle_stats`: re-teaching entries only (wait list
included), exit rate = exited / (exited + continuing). A student on two weekdays for one target in
one cycle is one placement; if those entries' outcomes differ (edited by hand), the placement is in
progress while any entry is, else continuing while any entry is, else exited.

Growth = score at the cycle's end minus score at its start. The start is the baseline as of the day
before the cycle began; the end is the baseline as of the cycle's last day once it has ended, else
today's score. Comparison at equal starting levels: per starting level, the mean growth of the
similar students, weighted by how many placed students started at that level.

Six statements whatever the size of the school (fewer for a term without cycles; see
QUERIES_INTERVENTION in the tests), every table filtered by school_id, plain SQL that PostgreSQL and
SQLite both run. While a cycle's baselines are being computed its growth columns stay empty.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.humanize.templatetags.humanize import ordinal
from django.urls import reverse
from django.utils.translation import gettext as _

from gradebook.models import Term
from intervention.models import GroupKind, InterventionCycle, RosterEntry
from mastery.models import School
from reports.baselines import baselines_ready, cycle_end_date, cycle_start_date, term_cycles
from reports.dashboards.figures import NOT_ASSESSED_COLOR, Bar, Figure, Segment, percent
from reports.dashboards.queries import fetch, in_list, roster_pairs

EXITED_COLOR = "#1f6f43"
CONTINUING_COLOR = "#d9a441"
THIRD_CYCLE = 3  # placed on the same target in this many cycles (or more): flagged
TWO_PLACES = Decimal("0.01")

# One placement per cycle × student × target (a student on two weekdays counts once), with its
# outcome ranked: 0 in progress, 1 continuing, 2 exited (the lowest of the student's entries).
OUTCOME_RANK = "min(CASE r.outcome WHEN %(exited)s THEN 2 WHEN %(continuing)s THEN 1 ELSE 0 END)"
PLACEMENTS = f"""
SELECT r.cycle_id, r.student_id, r.target_id, {OUTCOME_RANK} AS outcome_rank
FROM intervention_rosterentry r
WHERE r.school_id = %(school_id)s AND r.kind = %(reteach)s AND r.target_id IS NOT NULL
  AND r.cycle_id IN {{cycles}}
GROUP BY r.cycle_id, r.student_id, r.target_id
"""


@dataclass
class Growth:
    """Mean growth of the placed students and of similar students, compared at equal levels."""

    intervention: Decimal | None = None
    intervention_n: int = 0
    similar: Decimal | None = None
    similar_n: int = 0

    @property
    def difference(self) -> Decimal | None:
        if self.intervention is None or self.similar is None:
            return None
        return self.intervention - self.similar


@dataclass
class Counts:
    entered: int = 0
    exited: int = 0
    continuing: int = 0
    pending: int = 0

    def add(self, other: Counts) -> None:
        self.entered += other.entered
        self.exited += other.exited
        self.continuing += other.continuing
        self.pending += other.pending

    @property
    def exit_rate(self) -> int | None:
        return percent(self.exited, self.exited + self.continuing)


@dataclass
class InterventionDashboard:
    term: Term
    figures: list[Figure]
    cycles: list[InterventionCycle] = field(default_factory=list)
    baselines_pending: bool = False


def intervention_dashboard(*, school: School, term: Term, today: date) -> InterventionDashboard:
    cycles = term_cycles(school, term, today)
    ended = {c.id: cycle_end_date(c) < today for c in cycles}
    wanted = {
        c.id: [cycle_start_date(c)] + ([cycle_end_date(c)] if ended[c.id] else []) for c in cycles
    }
    ready, pending = baselines_ready(
        school=school, dates=[d for dates in wanted.values() for d in dates]
    )
    # Growth for the cycles whose baselines are all computed (every cycle once none is pending).
    measurable = [c for c in cycles if all(d in ready for d in wanted[c.id])]

    params = {
        "school_id": school.id,
        "term_id": term.id,
        "reteach": GroupKind.RETEACH.value,
        "exited": RosterEntry.Outcome.EXITED.value,
        "continuing": RosterEntry.Outcome.CONTINUING.value,
    }
    cycle_ids = in_list([c.id for c in cycles], "cycle", params)
    counts, codes = _placement_counts(params, cycle_ids)
    students = _students_per_cycle(params, cycle_ids)
    growth = _growth(params, measurable, ended, today)
    figures = [
        _by_cycle_target(cycles, counts, codes, growth, {c.id for c in measurable}),
        _per_cycle(cycles, counts, students),
        _third_cycle(school, params, cycle_ids),
    ]
    return InterventionDashboard(
        term=term, figures=figures, cycles=cycles, baselines_pending=pending
    )


def _number(value) -> Decimal:
    """A database number as a Decimal (SQLite hands back floats and ints)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _placement_counts(params, cycle_ids) -> tuple[dict[tuple[int, int], Counts], dict[int, str]]:
    rows = fetch(
        f"""
        SELECT x.cycle_id, x.target_id, t.code, count(*),
               sum(CASE WHEN x.outcome_rank = 2 THEN 1 ELSE 0 END),
               sum(CASE WHEN x.outcome_rank = 1 THEN 1 ELSE 0 END),
               sum(CASE WHEN x.outcome_rank = 0 THEN 1 ELSE 0 END)
        FROM ({PLACEMENTS.format(cycles=cycle_ids)}) x
        JOIN mastery_learningtarget t ON t.id = x.target_id AND t.school_id = %(school_id)s
        GROUP BY x.cycle_id, x.target_id, t.code
        """,
        params,
    )
    counts = {}
    codes = {}
    for cycle_id, target_id, code, entered, exited, continuing, pending in rows:
        counts[(cycle_id, target_id)] = Counts(entered, exited or 0, continuing or 0, pending or 0)
        codes[target_id] = code
    return counts, codes


def _students_per_cycle(params, cycle_ids) -> dict[int, int]:
    return dict(
        fetch(
            f"""
            SELECT r.cycle_id, count(DISTINCT r.student_id)
            FROM intervention_rosterentry r
            WHERE r.school_id = %(school_id)s AND r.kind = %(reteach)s
              AND r.target_id IS NOT NULL AND r.cycle_id IN {cycle_ids}
            GROUP BY r.cycle_id
            """,
            params,
        )
    )


def _growth(
    params, cycles: list[InterventionCycle], ended: dict[int, bool], today: date
) -> dict[tuple[int, int], Growth]:
    """Per cycle × target, the placed students' growth against similar students'.

    One statement: the cycles' baseline dates as an inline table, the placed students and the
    similar ones (taught the target this term, not placed on it in that cycle) as one population,
    each with its snapshot at the cycle's start and its score at the end, grouped by cycle, target,
    placed or not, and level at the start. The weighting by level happens here, on the grouped rows.
    """
    if not cycles:
        return {}
    dated = dict(params)
    selects = []
    for i, cycle in enumerate(cycles):
        live = 0 if ended[cycle.id] else 1
        dated |= {
            f"cy_id_{i}": cycle.id,
            f"cy_start_{i}": cycle_start_date(cycle),
            # A running cycle ends today (its end score is today's, read from Mastery).
            f"cy_end_{i}": cycle_end_date(cycle) if not live else today,
            f"cy_live_{i}": live,
        }
        selects.append(
            f"SELECT %(cy_id_{i})s AS cycle_id, %(cy_start_{i})s AS start_on,"
            f" %(cy_end_{i})s AS end_on, %(cy_live_{i})s AS live"
        )
    cycle_dates = " UNION ALL ".join(selects)
    rows = fetch(
        f"""
        WITH cy AS ({cycle_dates}),
        placed AS (
            SELECT DISTINCT r.cycle_id, r.student_id, r.target_id
            FROM intervention_rosterentry r
            JOIN cy ON cy.cycle_id = r.cycle_id
            WHERE r.school_id = %(school_id)s AND r.kind = %(reteach)s
              AND r.target_id IS NOT NULL
        ),
        taught AS (SELECT DISTINCT p0.student_id, p0.target_id FROM ({roster_pairs()}) p0),
        pop AS (
            SELECT cycle_id, student_id, target_id, 1 AS is_placed FROM placed
            UNION ALL
            SELECT g.cycle_id, tp.student_id, tp.target_id, 0
            FROM (SELECT DISTINCT cycle_id, target_id FROM placed) g
            JOIN taught tp ON tp.target_id = g.target_id
            WHERE NOT EXISTS (
                SELECT 1 FROM intervention_rosterentry r2
                WHERE r2.school_id = %(school_id)s AND r2.cycle_id = g.cycle_id
                  AND r2.student_id = tp.student_id AND r2.target_id = tp.target_id
            )
        )
        SELECT pop.cycle_id, pop.target_id, pop.is_placed, s0.level, count(*),
               sum(COALESCE(s1.score, m.score) - s0.score)
        FROM pop
        JOIN cy ON cy.cycle_id = pop.cycle_id
        JOIN reports_masterysnapshot s0 ON s0.school_id = %(school_id)s
             AND s0.as_of = cy.start_on
             AND s0.student_id = pop.student_id AND s0.target_id = pop.target_id
        LEFT JOIN reports_masterysnapshot s1 ON s1.school_id = %(school_id)s AND cy.live = 0
             AND s1.as_of = cy.end_on
             AND s1.student_id = pop.student_id AND s1.target_id = pop.target_id
        LEFT JOIN gradebook_mastery m ON m.school_id = %(school_id)s AND cy.live = 1
             AND m.student_id = pop.student_id AND m.target_id = pop.target_id
        WHERE s0.score IS NOT NULL AND s0.level IS NOT NULL
          AND COALESCE(s1.score, m.score) IS NOT NULL
        GROUP BY pop.cycle_id, pop.target_id, pop.is_placed, s0.level
        """,
        dated,
    )
    # (cycle, target) -> level -> [placed (n, total), similar (n, total)]
    groups: dict[tuple[int, int], dict] = defaultdict(
        lambda: defaultdict(lambda: [[0, Decimal(0)], [0, Decimal(0)]])
    )
    for cycle_id, target_id, is_placed, level, n, total in rows:
        side = groups[(cycle_id, target_id)][_number(level)][0 if is_placed else 1]
        side[0] += n
        side[1] += _number(total)
    return {key: _compare(by_level) for key, by_level in groups.items()}


def _compare(by_level: dict) -> Growth:
    """Both means over the starting levels that have placed AND similar students; the similar
    students' mean of each level weighted by the placed students' count at that level."""
    placed_n, placed_total, similar_n, similar_weighted = 0, Decimal(0), 0, Decimal(0)
    for (p_n, p_total), (s_n, s_total) in by_level.values():
        if not p_n or not s_n:
            continue
        placed_n += p_n
        placed_total += p_total
        similar_n += s_n
        similar_weighted += p_n * s_total / s_n
    if not placed_n:
        return Growth()
    return Growth(
        intervention=(placed_total / placed_n).quantize(TWO_PLACES, ROUND_HALF_UP),
        intervention_n=placed_n,
        similar=(similar_weighted / placed_n).quantize(TWO_PLACES, ROUND_HALF_UP),
        similar_n=similar_n,
    )


def _outcome_bar(label: str, counts: Counts) -> Bar:
    rate = counts.exit_rate
    return Bar(
        label,
        [
            Segment(_("Exited"), counts.exited, EXITED_COLOR),
            Segment(_("Continuing"), counts.continuing, CONTINUING_COLOR),
            Segment(_("In progress"), counts.pending, NOT_ASSESSED_COLOR),
        ],
        note="—" if rate is None else f"{rate}%",
    )


def _outcome_legend() -> list[tuple[str, str]]:
    return [
        (_("Exited"), EXITED_COLOR),
        (_("Continuing"), CONTINUING_COLOR),
        (_("In progress"), NOT_ASSESSED_COLOR),
    ]


def _cycle_label(cycle: InterventionCycle) -> str:
    return _("Cycle %(number)s") % {"number": cycle.number}


def _by_cycle_target(cycles, counts, codes, growth, measurable: set[int]) -> Figure:
    figure = Figure(
        slug="by-cycle-target",
        title=_("By cycle and target"),
        description=_(
            "Students placed in re-teaching on each target (a student on two days counts once), "
            "their outcome and the exit rate (exited out of exited and continuing). Growth is the "
            "score at the end of the cycle (today for a cycle still running) minus the score the "
            "day before it began, for students with a score at both ends; similar students were "
            "taught the target this term, were not placed on it in that cycle and started at the "
            "same level. Starting levels without any similar student are left out of both "
            "averages. The bars show the outcomes; the number after each bar is the exit rate."
        ),
        columns=[
            _("Cycle"),
            _("Target"),
            _("Entered"),
            _("Exited"),
            _("Continuing"),
            _("In progress"),
            _("Exit rate (%)"),
            _("Growth: placed"),
            _("n placed"),
            _("Growth: similar students"),
            _("n similar"),
            _("Difference"),
        ],
        rows=[],
        legend=_outcome_legend(),
        empty=_("No student was placed in re-teaching in this term's cycles yet."),
    )
    targets = sorted(codes.items(), key=lambda item: item[1])
    for cycle in cycles:
        for target_id, code in targets:
            item = counts.get((cycle.id, target_id))
            if item is None:
                continue
            g = growth.get((cycle.id, target_id), Growth())
            shown = cycle.id in measurable
            figure.rows.append(
                [
                    cycle.number,
                    code,
                    item.entered,
                    item.exited,
                    item.continuing,
                    item.pending,
                    item.exit_rate,
                    g.intervention,
                    g.intervention_n if shown else None,
                    g.similar,
                    g.similar_n if shown else None,
                    g.difference,
                ]
            )
            figure.bars.append(_outcome_bar(f"{_cycle_label(cycle)} · {code}", item))
    return figure


def _per_cycle(cycles, counts, students) -> Figure:
    figure = Figure(
        slug="per-cycle",
        title=_("Per cycle"),
        description=_(
            "Each cycle of the term that has begun: the students in re-teaching (each once), their "
            "placements over all targets (a student on two targets counts twice), the outcomes "
            "and the exit rate."
        ),
        columns=[
            _("Cycle"),
            _("Starts"),
            _("Ends"),
            _("Status"),
            _("Students in re-teaching"),
            _("Entered"),
            _("Exited"),
            _("Continuing"),
            _("In progress"),
            _("Exit rate (%)"),
        ],
        rows=[],
        legend=_outcome_legend(),
        empty=_("No intervention cycle has begun in this term yet."),
    )
    for cycle in cycles:
        total = Counts()
        for (cycle_id, _target), item in counts.items():
            if cycle_id == cycle.id:
                total.add(item)
        figure.rows.append(
            [
                cycle.number,
                cycle.starts_on,
                cycle.ends_on,
                cycle.get_status_display(),
                students.get(cycle.id, 0),
                total.entered,
                total.exited,
                total.continuing,
                total.pending,
                total.exit_rate,
            ]
        )
        figure.bars.append(_outcome_bar(_cycle_label(cycle), total))
    return figure


def _third_cycle(school: School, params, cycle_ids: str) -> Figure:
    """Placements of this term's cycles that are the student's third (or later) on the target,
    counting every cycle of the school up to that one."""
    rows = fetch(
        f"""
        WITH placed AS (
            SELECT r.cycle_id, cy.number AS cycle_number, r.student_id, r.target_id, {OUTCOME_RANK} AS outcome_rank
            FROM intervention_rosterentry r
            JOIN intervention_interventioncycle cy ON cy.id = r.cycle_id
                 AND cy.school_id = %(school_id)s
            WHERE r.school_id = %(school_id)s AND r.kind = %(reteach)s
              AND r.target_id IS NOT NULL
            GROUP BY r.cycle_id, cy.number, r.student_id, r.target_id
        ),
        flagged AS (
            SELECT cur.cycle_number, cur.student_id, cur.target_id, cur.outcome_rank
            FROM placed cur
            JOIN placed prev ON prev.student_id = cur.student_id
                 AND prev.target_id = cur.target_id AND prev.cycle_number <= cur.cycle_number
            WHERE cur.cycle_id IN {cycle_ids}
            GROUP BY cur.cycle_number, cur.student_id, cur.target_id, cur.outcome_rank
            HAVING count(*) >= {THIRD_CYCLE}
        )
        SELECT f.cycle_number, f.student_id, st.last_name, st.first_name, st.preferred_name,
               st.local_id, t.code, f.outcome_rank, prev.cycle_number
        FROM flagged f
        JOIN placed prev ON prev.student_id = f.student_id AND prev.target_id = f.target_id
             AND prev.cycle_number <= f.cycle_number
        JOIN gradebook_student st ON st.id = f.student_id AND st.school_id = %(school_id)s
        JOIN mastery_learningtarget t ON t.id = f.target_id AND t.school_id = %(school_id)s
        ORDER BY f.cycle_number, t.code, st.last_name, st.first_name, f.student_id,
                 prev.cycle_number
        """,
        params,
    )
    figure = Figure(
        slug="third-cycle",
        title=_("Third cycle (or later) on the same target"),
        description=_(
            "Students placed on a target in this term's cycles who had been placed on the same "
            "target in at least two earlier cycles of the school (not necessarily in a row): "
            "another cycle of the same re-teaching is unlikely to be the answer."
        ),
        columns=[
            _("Cycle"),
            _("Student"),
            _("Student number"),
            _("Target"),
            _("Cycles on this target"),
            _("Outcome"),
            _("Flag"),
        ],
        rows=[],
        links={1: []},
        empty=_("No student is in a third cycle on the same target."),
    )
    outcomes = {
        0: RosterEntry.Outcome.PENDING.label,
        1: RosterEntry.Outcome.CONTINUING.label,
        2: RosterEntry.Outcome.EXITED.label,
    }
    grouped: dict[tuple, list[int]] = {}
    for number, student_id, last, first, preferred, local_id, code, rank, earlier in rows:
        key = (number, student_id, f"{last}, {preferred or first}", local_id, code, rank)
        grouped.setdefault(key, []).append(earlier)
    for (number, student_id, name, local_id, code, rank), numbers in grouped.items():
        figure.rows.append(
            [
                number,
                name,
                local_id,
                code,
                ", ".join(str(n) for n in numbers),
                str(outcomes[rank]),
                _("%(nth)s cycle") % {"nth": ordinal(len(numbers))},
            ]
        )
        figure.links[1].append(reverse("intervention:history", args=[school.slug, student_id]))
    return figure
