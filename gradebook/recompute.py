"""Recomputing Mastery records: one pair in Python, a whole school in set-based SQL.

Two implementations of one contract (mastery/calculation.py):

- `pair_recompute` runs the Python engine over one student × target; `evidence_record` uses it, in
  the same transaction as the write.
- `school_recompute_sql` computes every pair of a school in a few SQL statements on PostgreSQL
  (one per current policy), and writes the results with one INSERT … ON CONFLICT that skips rows
  whose values did not change. `school_recompute_python` does the same in batches through the
  engine; it serves SQLite (the demo) and is the reference the SQL path is tested against.

Both order evidence by (evidence date, id) and round the same way (10 places, then half up to 2),
so they agree to the cent; tests/test_recompute.py checks that for every method.

The SQL reads a school's evidence once, sorted by pair and newest first, and computes every method
but mode and power law in the same GROUP BY that counts the pair's evidence (_one_pass_sql): on
the 2,000-student benchmark school that pass is most of the statement, next to a bare
"latest score per pair" floor over the same rows (make bench, docs/performance.md).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from gradebook.models import Course, CourseTarget, Enrollment, Evidence, Mastery
from mastery import calculation, pagecache
from mastery.models import GradingPolicy, LearningTarget, ScaleLevel, School
from mastery.selectors import achievement_levels, current_policies
from mastery.tenancy import all_schools, enter_school

MASTERY_FIELDS = (
    "score",
    "level",
    "mastered",
    "evidence_count",
    "scores_counted",
    "last_evidence_on",
    "explanation",
    "policy",
    "computed_at",
)
BATCH = 2000


class PolicyMissing(Exception):
    """The school has no current grading policy (school_provision was never run)."""


@dataclass
class RecomputeResult:
    pairs: int
    written: int  # records rewritten: any field, the computing policy version included
    method: str  # "sql" or "python"
    parts: int = 1  # connections that computed it side by side (school_recompute_parts)
    level_changes: int = 0  # records whose level changed (what a policy preview predicts)

    def as_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "written": self.written,
            "method": self.method,
            "parts": self.parts,
            "level_changes": self.level_changes,
        }


@dataclass(frozen=True)
class Part:
    """One of `of` disjoint shares of a school's students: those whose id modulo `of` is
    `index`. A student's records all fall in one share, so shares never write the same row."""

    index: int
    of: int

    def sql(self) -> str:
        # %% because the statements run with parameters.
        return f" AND e.student_id %% {int(self.of)} = {int(self.index)}"


# --- Which policy applies to a pair ------------------------------------------------------------


def policy_for_pair(*, school: School, student_id: int, target_id: int) -> GradingPolicy:
    """The current policy for one student × target (the current policies, memoized per request,
    and one more query only when the school has course overrides).

    A course override applies to the targets of that course for the students enrolled in it;
    otherwise the school default. When two overriding courses share a target (rare), the course
    with the lowest id wins, the same rule as the SQL recompute.
    """
    policies = current_policies(school)  # once per request (mastery.selectors)
    overrides = {p.course_id: p for p in policies if p.course_id is not None}
    if overrides:
        course_ids = Course.objects.filter(
            school=school,
            id__in=overrides,
            sections__enrollments__student_id=student_id,
            course_targets__target_id=target_id,
        ).values_list("id", flat=True)
        if course_ids:
            return overrides[min(course_ids)]
    default = next((p for p in policies if p.course_id is None), None)
    if default is None:
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    return default


def override_assignments(school: School) -> dict[tuple[int, int], int]:
    """(student_id, target_id) -> overriding policy id, for pairs under a course override."""
    overrides = {p.course_id: p.id for p in current_policies(school) if p.course_id is not None}
    if not overrides:
        return {}
    targets_by_course: dict[int, list[int]] = defaultdict(list)
    for course_id, target_id in CourseTarget.objects.filter(
        school=school, course_id__in=overrides
    ).values_list("course_id", "target_id"):
        targets_by_course[course_id].append(target_id)
    assigned: dict[tuple[int, int], int] = {}
    rows = (
        Enrollment.objects.filter(school=school, section__course_id__in=overrides)
        .values_list("student_id", "section__course_id")
        .order_by("section__course_id")
    )
    for student_id, course_id in rows:
        for target_id in targets_by_course[course_id]:
            assigned.setdefault((student_id, target_id), overrides[course_id])
    return assigned


# --- One pair, in Python -------------------------------------------------------------------


def pair_evidence(*, school: School, student_id: int, target_id: int) -> list[calculation.Evidence]:
    rows = (
        Evidence.objects.filter(
            school=school, student_id=student_id, target_id=target_id, voided_at__isnull=True
        )
        .order_by("assessed_on", "id")
        .values_list("score", "assessed_on", "kind", "status")
    )
    return [
        calculation.Evidence(score=score, assessed_on=day, kind=kind, status=status)
        for score, day, kind, status in rows
    ]


def mastery_from_outcome(
    *, school: School, student_id: int, target_id: int, outcome: calculation.Outcome, policy_id: int
) -> Mastery:
    return Mastery(
        school=school,
        student_id=student_id,
        target_id=target_id,
        score=outcome.score,
        level=Decimal(outcome.level) if outcome.level is not None else None,
        mastered=outcome.mastered,
        evidence_count=outcome.evidence_count,
        scores_counted=outcome.counted,
        last_evidence_on=outcome.last_assessed_on,
        explanation=outcome.summary,
        policy_id=policy_id,
        computed_at=timezone.now(),
    )


def mastery_upsert(records: list[Mastery], *, announce: bool = True) -> None:
    if announce and records:
        # The students' portal pages show these records (see mastery/pagecache.py).
        by_school: dict[int, set[int]] = defaultdict(set)
        for record in records:
            by_school[record.school_id].add(record.student_id)
        for school_id, student_ids in by_school.items():
            pagecache.students_changed(school_id, student_ids)
    Mastery.objects.bulk_create(
        records,
        update_conflicts=True,
        unique_fields=["school", "student", "target"],
        update_fields=list(MASTERY_FIELDS),
    )


def pair_recompute(
    *, school: School, student_id: int, target_id: int, levels: list[ScaleLevel] | None = None
) -> Mastery:
    """Recompute one Mastery record from its evidence: a constant 3 queries (+1 without levels)."""
    levels = levels if levels is not None else achievement_levels(school)
    policy = policy_for_pair(school=school, student_id=student_id, target_id=target_id)
    outcome = calculation.compute(
        pair_evidence(school=school, student_id=student_id, target_id=target_id),
        policy.to_engine(levels),
    )
    record = mastery_from_outcome(
        school=school,
        student_id=student_id,
        target_id=target_id,
        outcome=outcome,
        policy_id=policy.id,
    )
    mastery_upsert([record])
    return record


# --- A whole school, in Python batches (SQLite, and the reference) ------------------------------


def _pairs_in_order(school: School, until=None) -> Iterator[tuple[int, int, list[tuple]]]:
    """Every (student, target) with evidence (voided included), with its live evidence rows;
    with `until`, only the evidence dated on or before it."""
    evidence = Evidence.objects.filter(school=school)
    if until is not None:
        evidence = evidence.filter(assessed_on__lte=until)
    rows = (
        evidence.order_by("student_id", "target_id", "assessed_on", "id")
        .values_list(
            "student_id", "target_id", "score", "assessed_on", "kind", "status", "voided_at"
        )
        .iterator(chunk_size=10000)
    )
    current_key, bucket = None, []
    for student_id, target_id, score, day, kind, status, voided_at in rows:
        key = (student_id, target_id)
        if key != current_key:
            if current_key is not None:
                yield (*current_key, bucket)
            current_key, bucket = key, []
        if voided_at is None:
            bucket.append((score, day, kind, status))
    if current_key is not None:
        yield (*current_key, bucket)


def school_recompute_python(school: School) -> RecomputeResult:
    levels = achievement_levels(school)
    policies = current_policies(school)
    default = next((p for p in policies if p.course_id is None), None)
    if default is None:
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    engines = {p.id: p.to_engine(levels) for p in policies}
    assigned = override_assignments(school)
    existing = {
        (m.student_id, m.target_id): m
        for m in Mastery.objects.filter(school=school).only(*MASTERY_FIELDS, "student", "target")
    }
    pending: list[Mastery] = []
    pairs = written = level_changes = 0
    for student_id, target_id, rows in _pairs_in_order(school):
        pairs += 1
        policy_id = assigned.get((student_id, target_id), default.id)
        outcome = calculation.compute(
            (
                calculation.Evidence(score=s, assessed_on=d, kind=k, status=st)
                for s, d, k, st in rows
            ),
            engines[policy_id],
        )
        record = mastery_from_outcome(
            school=school,
            student_id=student_id,
            target_id=target_id,
            outcome=outcome,
            policy_id=policy_id,
        )
        old = existing.get((student_id, target_id))
        if (old.level if old else None) != record.level:
            level_changes += 1
        if _unchanged(old, record):
            continue
        pending.append(record)
        if len(pending) >= BATCH:
            mastery_upsert(pending, announce=False)
            written += len(pending)
            pending = []
    if pending:
        mastery_upsert(pending, announce=False)
        written += len(pending)
    pagecache.school_changed(school.id)
    return RecomputeResult(
        pairs=pairs, written=written, method="python", level_changes=level_changes
    )


def _unchanged(old: Mastery | None, new: Mastery) -> bool:
    if old is None:
        return False
    return (
        all(
            getattr(old, f) == getattr(new, f)
            for f in MASTERY_FIELDS
            if f not in ("computed_at", "policy")
        )
        and old.policy_id == new.policy_id
    )


# --- A whole school, in set-based SQL (PostgreSQL) ------------------------------------------------


def _lit(value: Decimal | int) -> str:
    """A numeric literal for generated SQL: only ever built from validated Decimals and ints."""
    return f"{Decimal(value):f}"


def _fmt_sql(expr: str) -> str:
    # The SQL twin of calculation.fmt: 3, 2.5, 2.65.
    return f"trim_scale(round(({expr})::numeric, 2))::text"


def _phrase_sql(expr: str) -> str:
    # The SQL twin of calculation.scores_phrase.
    return f"(CASE WHEN ({expr}) = 1 THEN '1 score' ELSE ({expr})::text || ' scores' END)"


def _quote(text: str) -> str:
    # A string literal for generated SQL; % is doubled because the statement runs with parameters.
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def _method_sql(p: calculation.Policy) -> tuple[str, str, list[str]]:
    """(the res CTE body, the summary expression, extra columns selected from res)."""
    w, q = _lit(p.w), _lit(1 - p.w)
    weight = calculation.fmt(p.weight)
    recent = f"WHERE i > k - {int(p.recent)}" if p.recent else ""
    of = (
        f"(CASE WHEN x.used < x.c THEN 'the last ' || x.used || ' of ' || {_phrase_sql('x.c')}"
        f" ELSE {_phrase_sql('x.c')} END)"
    )
    score = _fmt_sql("x.score")
    cap = _decay_cap(1 - p.w)
    decaying_sum = (
        f"sum(s::float8 * CASE WHEN i = 1 THEN power({q}::float8, least(k - 1, {cap}))"
        f" ELSE {w}::float8 * power({q}::float8, least(k - i, {cap})) END)"
    )
    m = p.method
    if m == "latest":
        return (
            "SELECT student_id, target_id, s AS raw FROM sc WHERE i = k",
            f"'Most recent of ' || {_phrase_sql('x.c')} || ': ' || {score}",
            [],
        )
    if m == "highest":
        return (
            "SELECT student_id, target_id, max(s) AS raw FROM sc GROUP BY 1, 2",
            f"'Highest of ' || {_phrase_sql('x.c')} || ': ' || {score}",
            [],
        )
    if m == "mean":
        return (
            f"SELECT student_id, target_id, avg(s) AS raw, count(*) AS used FROM sc {recent} GROUP BY 1, 2",
            f"'Average of ' || {of} || ': ' || {score}",
            ["used"],
        )
    if m == "median":
        return (
            "SELECT student_id, target_id, "
            "(percentile_cont(0.5) WITHIN GROUP (ORDER BY s))::numeric AS raw, count(*) AS used "
            f"FROM sc {recent} GROUP BY 1, 2",
            f"'Median of ' || {of} || ': ' || {score}",
            ["used"],
        )
    if m == "mode":
        tie = "s DESC" if p.mode_ties == "higher" else "last_i DESC"
        return (
            "SELECT DISTINCT ON (student_id, target_id) student_id, target_id, s AS raw, used FROM ("
            "  SELECT student_id, target_id, s, count(*) AS f, max(i) AS last_i,"
            "         sum(count(*)) OVER (PARTITION BY student_id, target_id) AS used"
            f"  FROM sc {recent} GROUP BY student_id, target_id, s"
            f") freq ORDER BY student_id, target_id, f DESC, {tie}",
            f"'Most frequent of ' || {of} || ': ' || {score}",
            ["used"],
        )
    if m == "decaying_average":
        return (
            f"SELECT student_id, target_id, {decaying_sum} AS raw FROM sc GROUP BY 1, 2",
            f"{_quote(f'Decaying average ({weight}% on the newest) of ')} || {_phrase_sql('x.c')}"
            f" || ': ' || {score}",
            [],
        )
    if m == "weighted_average":
        return (
            "SELECT student_id, target_id, CASE WHEN max(k) = 1 THEN max(s) ELSE "
            f"{w} * max(s) FILTER (WHERE i = k) + {_lit(1 - p.w)} * "
            "(sum(s) - max(s) FILTER (WHERE i = k)) / (max(k) - 1) END AS raw "
            "FROM sc GROUP BY 1, 2",
            f"{_quote(f'Weighted average ({weight}% on the newest) of ')} || {_phrase_sql('x.c')}"
            f" || ': ' || {score}",
            [],
        )
    if m == "n_times":
        t = _lit(p.mastery_threshold)
        tf = calculation.fmt(p.mastery_threshold)
        return (
            f"SELECT student_id, target_id, count(*) FILTER (WHERE s >= {t}) AS met, "
            f"CASE WHEN count(*) FILTER (WHERE s >= {t}) >= {int(p.n)} "
            f"THEN avg(s) FILTER (WHERE s >= {t}) END AS raw FROM sc GROUP BY 1, 2",
            f"CASE WHEN x.raw IS NULL THEN coalesce(x.met, 0) || {_quote(f' of {p.n} needed scores at {tf} or above so far')}"
            f" ELSE x.met || {_quote(f' scores at {tf} or above ({p.n} needed); their average: ')} || {score} END",
            ["met"],
        )
    if m == "power_law":
        at = "(max(k) + 1)" if p.power_law_at == "next" else "max(k)"
        where = "next" if p.power_law_at == "next" else "latest"
        n = "max(k)::float8"
        sx, sy = "sum(ln(i::float8))", "sum(ln(s::float8))"
        sxx, sxy = "sum(ln(i::float8) ^ 2)", "sum(ln(i::float8) * ln(s::float8))"
        b = f"(({n} * {sxy} - {sx} * {sy}) / nullif({n} * {sxx} - {sx} ^ 2, 0))"
        trend = f"exp(({sy} - {b} * {sx}) / {n} + {b} * ln({at}::float8))"
        return (
            f"SELECT student_id, target_id, CASE WHEN max(k) >= {calculation.POWER_LAW_MIN_SCORES} "
            f"THEN {trend} ELSE {decaying_sum} END AS raw FROM sc GROUP BY 1, 2",
            f"CASE WHEN x.c >= {calculation.POWER_LAW_MIN_SCORES} THEN 'Power-law trend of ' || "
            f"{_phrase_sql('x.c')} || {_quote(f', at the {where} attempt: ')} || {score} ELSE "
            f"{_quote(f'Decaying average ({weight}% on the newest) of ')} || {_phrase_sql('x.c')} || "
            f"{_quote(f' (fewer than {calculation.POWER_LAW_MIN_SCORES} for a trend): ')} || {score} END",
            [],
        )
    raise ValueError(m)  # pragma: no cover - Policy validates methods


def _decay_cap(q: Decimal) -> int:
    """The largest exponent of q worth computing: beyond it q^j is below 1e-300.

    PostgreSQL's power() raises "underflow" rather than returning 0 (past q^675 at q = 0.35), so
    the exponent stops there; the weights it drops are below 1e-300, far under the rounding.
    """
    if q <= 0:
        return 1
    return max(1, int(-300 / math.log10(float(q))))


def _one_pass_sql(p: calculation.Policy) -> tuple[str, bool] | None:
    """The method's columns as aggregates over one ordered pass, or None (mode, power law).

    The pass numbers a pair's counted evidence newest first (j = 1 the newest; `oldest` marks
    the last counted row), so every method that needs only j reads its result in the same
    GROUP BY that counts the pair's evidence: no second aggregate over the evidence, no join.
    Returns (the aggregate columns: raw and the method's extras, whether `oldest` is used).
    """
    counted = "FILTER (WHERE counts)"
    recent = f"FILTER (WHERE counts AND j <= {int(p.recent)})" if p.recent else counted
    m = p.method
    if m == "latest":
        return "max(s) FILTER (WHERE counts AND j = 1) AS raw", False
    if m == "highest":
        return f"max(s) {counted} AS raw", False
    if m == "mean":
        return f"avg(s) {recent} AS raw, count(*) {recent} AS used", False
    if m == "median":
        return (
            f"(percentile_cont(0.5) WITHIN GROUP (ORDER BY s) {recent})::numeric AS raw, "
            f"count(*) {recent} AS used",
            False,
        )
    if m == "decaying_average":
        # The recurrence d = q·d + w·s, unrolled newest first: Σ w·q^(j-1)·s_j + q^k·s_oldest
        # (the oldest score starts the average at its full value).
        q, cap = _lit(1 - p.w), _decay_cap(1 - p.w)
        return (
            f"sum(s::float8 * {_lit(p.w)}::float8 * power({q}::float8, least(j - 1, {cap}))) {counted}"
            f" + max(s::float8 * power({q}::float8, least(j, {cap})))"
            " FILTER (WHERE counts AND oldest) AS raw",
            True,
        )
    if m == "weighted_average":
        newest, k = "max(s) FILTER (WHERE counts AND j = 1)", f"count(*) {counted}"
        return (
            f"CASE WHEN {k} = 1 THEN {newest} ELSE {_lit(p.w)} * {newest} + {_lit(1 - p.w)} * "
            f"(sum(s) {counted} - {newest}) / nullif({k} - 1, 0) END AS raw",
            False,
        )
    if m == "n_times":
        t = _lit(p.mastery_threshold)
        met = f"count(*) FILTER (WHERE counts AND s >= {t})"
        return (
            f"{met} AS met, CASE WHEN {met} >= {int(p.n)} "
            f"THEN avg(s) FILTER (WHERE counts AND s >= {t}) END AS raw",
            False,
        )
    return None


def _score_sql(p: calculation.Policy, *, count: str, raw: str) -> str:
    """The pair's score: the method's raw value clamped to the scale, rounded as the engine does."""
    return (
        f"CASE WHEN {count} >= {int(p.min_evidence)} AND {raw} IS NOT NULL"
        f" THEN round(round(least(greatest({raw}::numeric, {_lit(p.scale_min)}),"
        f" {_lit(p.scale_max)}), 10), 2) END"
    )


# In both bodies x ends with OFFSET 0, a fence that makes it compute each pair's score once.
# Without it PostgreSQL pulls x up into final and the INSERT and copies the score's numeric
# rounding into every use (the level's band, mastered, the explanation, the NULL test): about
# eight evaluations per pair, 0.35 s of a 2.2 s recompute of the benchmark school. The fence keeps
# x a subquery of its own without materializing it.


def _one_pass_body(p: calculation.Policy, extra: list[str]) -> str | None:
    """pair and x in one ordered pass over ev (see _one_pass_sql); None if the method needs two."""
    found = _one_pass_sql(p)
    if found is None:
        return None
    columns, needs_oldest = found
    oldest = ", lead(counts) OVER w IS NOT TRUE AS oldest" if needs_oldest else ""
    extra_cols = "".join(f", pair.{c}" for c in extra)
    return f"""sc AS (
    SELECT student_id, target_id, live, assessed_on, counts, s, row_number() OVER w AS j{oldest}
    FROM ev
    WINDOW w AS (PARTITION BY student_id, target_id ORDER BY counts DESC, assessed_on DESC, id DESC)
),
pair AS (
    SELECT student_id, target_id,
           count(*) FILTER (WHERE live) AS evidence_count,
           max(assessed_on) FILTER (WHERE live) AS last_on,
           count(*) FILTER (WHERE counts) AS c,
           {columns}
    FROM sc GROUP BY student_id, target_id
),
x AS (
    SELECT pair.student_id, pair.target_id, pair.evidence_count, pair.last_on, pair.c, pair.raw,
           {_score_sql(p, count="pair.c", raw="pair.raw")} AS score {extra_cols}
    FROM pair
    OFFSET 0
),
"""


def _two_pass_body(p: calculation.Policy, res: str, extra: list[str]) -> str:
    """pair, the method's res over the counted evidence numbered oldest first, and their join."""
    extra_cols = "".join(f", res.{c}" for c in extra)
    return f"""pair AS (
    SELECT student_id, target_id,
           count(*) FILTER (WHERE live) AS evidence_count,
           max(assessed_on) FILTER (WHERE live) AS last_on,
           count(*) FILTER (WHERE counts) AS c
    FROM ev GROUP BY student_id, target_id
),
sc AS (
    SELECT student_id, target_id, s, id,
           row_number() OVER (PARTITION BY student_id, target_id ORDER BY assessed_on, id) AS i,
           count(*) OVER (PARTITION BY student_id, target_id) AS k
    FROM ev WHERE counts
),
res AS ({res}),
x AS (
    SELECT pair.student_id, pair.target_id, pair.evidence_count, pair.last_on, pair.c, res.raw,
           {_score_sql(p, count="pair.c", raw="res.raw")} AS score {extra_cols}
    FROM pair LEFT JOIN res ON res.student_id = pair.student_id AND res.target_id = pair.target_id
    OFFSET 0
),
"""


def _policy_statement(p: calculation.Policy, *, scope_sql: str, select_only: bool = False) -> str:
    """One INSERT … SELECT … ON CONFLICT computing every pair in `scope_sql` under policy `p`;
    it answers one row: (pairs computed, records written, records whose level changed).

    With select_only, just the SELECT of the computed rows (student_id, target_id, score, level,
    mastered), for a preview that writes nothing.
    """
    kinds = (
        "TRUE"
        if p.counted_kinds is None
        else "e.kind IN (" + ", ".join(_quote(k) for k in p.counted_kinds) + ")"
    )
    missing = "TRUE" if p.missing_counts_as_minimum else "FALSE"
    res, summary, extra = _method_sql(p)
    band = (
        "CASE "
        + " ".join(
            f"WHEN x.score >= {_lit(lv.cutoff)} THEN {_lit(lv)}" for lv in reversed(p.levels)
        )
        + f" ELSE {_lit(p.levels[0])} END"
    )
    body = _one_pass_body(p, extra) or _two_pass_body(p, res, extra)
    insufficient = f"'Not enough evidence: ' || {_phrase_sql('x.c')} || {_quote(f' counted, {p.min_evidence} needed')}"
    ctes = f"""
WITH ev AS MATERIALIZED (
    SELECT e.id, e.student_id, e.target_id, e.assessed_on, e.voided_at IS NULL AS live,
           CASE WHEN e.status = 'scored' THEN e.score
                WHEN e.status = 'missing' AND {missing} THEN {_lit(p.scale_min)} END AS s,
           e.voided_at IS NULL AND ({kinds})
               AND (e.status = 'scored' OR (e.status = 'missing' AND {missing})) AS counts
    FROM gradebook_evidence e
    WHERE e.school_id = %(school_id)s {scope_sql}
),
{body}final AS (
    SELECT x.*, {band} AS level,
           CASE WHEN x.c < {int(p.min_evidence)} THEN {insufficient}
                ELSE {summary} END AS explanation
    FROM x
)
"""
    if select_only:
        return (
            ctes
            + f"""
SELECT student_id, target_id, score, CASE WHEN score IS NULL THEN NULL ELSE level END AS level,
       coalesce(score >= {_lit(p.mastery_threshold)}, FALSE) AS mastered
FROM final
"""
        )
    # Counting the pairs here keeps an in-memory copy of final (measured no slower than streaming
    # final into the INSERT); counting the school's Mastery rows afterwards cost 0.17 s on the
    # benchmark school, every row version having just changed.
    return (
        ctes
        + f""",
written AS (
    INSERT INTO gradebook_mastery AS m (school_id, student_id, target_id, score, level, mastered,
        evidence_count, scores_counted, last_evidence_on, explanation, policy_id, computed_at)
    SELECT %(school_id)s, student_id, target_id, score,
           CASE WHEN score IS NULL THEN NULL ELSE level END,
           coalesce(score >= {_lit(p.mastery_threshold)}, FALSE), evidence_count, c, last_on,
           explanation, %(policy_id)s, now()
    FROM final
    ON CONFLICT (school_id, student_id, target_id) DO UPDATE SET
        score = EXCLUDED.score, level = EXCLUDED.level, mastered = EXCLUDED.mastered,
        evidence_count = EXCLUDED.evidence_count, scores_counted = EXCLUDED.scores_counted,
        last_evidence_on = EXCLUDED.last_evidence_on, explanation = EXCLUDED.explanation,
        policy_id = EXCLUDED.policy_id, computed_at = EXCLUDED.computed_at
    WHERE (m.score, m.level, m.mastered, m.evidence_count, m.scores_counted, m.last_evidence_on,
           m.explanation, m.policy_id)
      IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.level, EXCLUDED.mastered, EXCLUDED.evidence_count,
           EXCLUDED.scores_counted, EXCLUDED.last_evidence_on, EXCLUDED.explanation,
           EXCLUDED.policy_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM final), (SELECT count(*) FROM written),
       -- Every part of the statement reads the records as they were before it: old level vs new.
       (SELECT count(*) FROM final f
        LEFT JOIN gradebook_mastery old ON old.school_id = %(school_id)s
             AND old.student_id = f.student_id AND old.target_id = f.target_id
        WHERE old.level IS DISTINCT FROM (CASE WHEN f.score IS NULL THEN NULL ELSE f.level END))
"""
    )


def _create_pair_policy(cursor, school: School) -> None:
    """Temp table of the pairs under a course override (lowest course id wins), for the statements."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.pair_policy")
    cursor.execute(
        """
        CREATE TEMP TABLE pair_policy ON COMMIT DROP AS
        SELECT DISTINCT ON (en.student_id, ct.target_id)
               en.student_id, ct.target_id, p.id AS policy_id
        FROM mastery_gradingpolicy p
        JOIN gradebook_section s ON s.school_id = p.school_id AND s.course_id = p.course_id
        JOIN gradebook_enrollment en ON en.school_id = p.school_id AND en.section_id = s.id
        JOIN gradebook_coursetarget ct ON ct.school_id = p.school_id AND ct.course_id = p.course_id
        WHERE p.school_id = %(school_id)s AND p.is_current AND p.course_id IS NOT NULL
        ORDER BY en.student_id, ct.target_id, p.course_id
        """,
        {"school_id": school.id},
    )
    cursor.execute("CREATE INDEX ON pair_policy (student_id, target_id)")
    cursor.execute("ANALYZE pair_policy")


# Memory for the recompute's sorts and hashes (a school's evidence sorted by pair: ~75 MB at
# 2,000 students). PostgreSQL's default 4 MB spills them to temporary files on disk; set for the
# recompute's transaction only, never for request-serving sessions.
RECOMPUTE_WORK_MEM = "128MB"


def school_recompute_sql(school: School, *, part: Part | None = None) -> RecomputeResult:
    """Recompute every Mastery record of the school in one statement per current policy (with
    `part`, the records of that share of its students only).

    Call it inside a transaction (mastery_recompute_school does), so that its memory setting
    applies.
    """
    levels = achievement_levels(school)
    policies = current_policies(school)
    default = next((p for p in policies if p.course_id is None), None)
    if default is None:
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    pairs = written = level_changes = 0
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"SET LOCAL work_mem = '{RECOMPUTE_WORK_MEM}'")
        # Each policy governs its own pairs (its scope), so the counts add up to every pair with
        # evidence (voided included), which is every Mastery record of the school.
        for policy, scope_sql in _policy_scopes(cursor, school, policies):
            if part is not None:
                scope_sql += part.sql()
            cursor.execute(
                _policy_statement(policy.to_engine(levels), scope_sql=scope_sql),
                {"school_id": school.id, "policy_id": policy.id},
            )
            computed, changed, leveled = cursor.fetchone()
            pairs += computed
            written += changed
            level_changes += leveled
    if written:
        pagecache.school_changed(school.id)
    return RecomputeResult(pairs=pairs, written=written, method="sql", level_changes=level_changes)


def school_recompute_parts(school: School, *, parts: int | None = None) -> RecomputeResult:
    """school_recompute_sql split over `parts` connections (default: settings.RECOMPUTE_PARTS)
    working side by side: this one computes the first share of the students inside the caller's
    transaction, and a thread per other share computes it on a connection and in a transaction
    of its own.

    Why: PostgreSQL runs no data-modifying statement in parallel, so one INSERT … SELECT uses one
    core however many the server has, while a bare aggregate over the same rows gets parallel
    workers. On the 2-core benchmark machine two shares took the school's recompute from 2.65 s
    to 1.5 s (docs/performance.md).

    Call it inside the transaction that holds the school's exclusive recompute lock
    (mastery_recompute_school): score writes wait on that lock, so every share computes from the
    same evidence. The other shares commit when they finish, before the caller's transaction:
    if one fails, the error is raised here once every share has finished, and the shares that
    committed stay. They are correct records under the current policy, and a rerun (the task's
    retry, or the periodic catch-up, which finds the records still stale) writes the rest.
    The other shares' connections only see committed rows, so inside any transaction but the
    caller's own (a caller's pending writes, a test's) it stays on this connection.
    """
    if parts is None:
        parts = settings.RECOMPUTE_PARTS
    if parts <= 1 or len(connection.atomic_blocks) != 1:
        return school_recompute_sql(school)
    results: list[RecomputeResult | None] = [None] * parts
    errors: list[BaseException] = []

    def share(index: int) -> None:
        try:
            with enter_school(school), transaction.atomic():
                results[index] = school_recompute_sql(school, part=Part(index, parts))
        except BaseException as exc:  # raised in the caller's thread below
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connection: not left to the pool

    threads = [
        threading.Thread(target=share, args=(index,), name=f"recompute-{school.id}-{index}")
        for index in range(1, parts)
    ]
    for thread in threads:
        thread.start()
    try:
        results[0] = school_recompute_sql(school, part=Part(0, parts))
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return RecomputeResult(
        pairs=sum(r.pairs for r in results),
        written=sum(r.written for r in results),
        method="sql",
        level_changes=sum(r.level_changes for r in results),
        parts=parts,
    )


def _policy_scopes(cursor, school: School, policies: list[GradingPolicy]) -> list[tuple]:
    """(policy, scope_sql) for each current policy: which evidence rows each governs."""
    overrides = [p for p in policies if p.course_id is not None]
    if overrides:
        _create_pair_policy(cursor, school)
    scopes = []
    for policy in policies:
        if not overrides:
            scope_sql = ""
        elif policy.course_id is None:
            scope_sql = (
                "AND NOT EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                " AND pp.target_id = e.target_id)"
            )
        else:
            scope_sql = (
                "AND EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                f" AND pp.target_id = e.target_id AND pp.policy_id = {int(policy.id)})"
            )
        scopes.append((policy, scope_sql))
    return scopes


def outcomes_as_of_sql(cursor, school: School) -> list[str]:
    """SELECTs of (student_id, target_id, score, level, mastered) as of %(as_of)s, one per policy.

    The recompute's own statements, over the evidence dated on or before %(as_of)s: what a
    student's level was on that date under today's policy. Run inside a transaction (the course
    overrides' temporary table lives until its commit); parameters school_id and as_of.
    """
    levels = achievement_levels(school)
    policies = current_policies(school)
    if not any(p.course_id is None for p in policies):
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    return [
        _policy_statement(
            policy.to_engine(levels),
            scope_sql=scope_sql + " AND e.assessed_on <= %(as_of)s",
            select_only=True,
        )
        for policy, scope_sql in _policy_scopes(cursor, school, policies)
    ]


def outcomes_as_of_python(school: School, as_of) -> Iterator[tuple]:
    """The engine's (student_id, target_id, score, level, mastered) as of a date (SQLite, reference)."""
    levels = achievement_levels(school)
    policies = current_policies(school)
    default = next((p for p in policies if p.course_id is None), None)
    if default is None:
        raise PolicyMissing(f"School {school.slug} has no grading policy; run school_provision.")
    engines = {p.id: p.to_engine(levels) for p in policies}
    assigned = override_assignments(school)
    for student_id, target_id, rows in _pairs_in_order(school, until=as_of):
        outcome = calculation.compute(
            (
                calculation.Evidence(score=s, assessed_on=d, kind=k, status=st)
                for s, d, k, st in rows
            ),
            engines[assigned.get((student_id, target_id), default.id)],
        )
        level = Decimal(outcome.level) if outcome.level is not None else None
        yield student_id, target_id, outcome.score, level, outcome.mastered


def stale_school_ids() -> list[int]:
    """Schools with Mastery records computed under a policy version that is no longer current.

    Deliberately across schools (it feeds the catch-up dispatcher); it returns only ids.
    """
    with all_schools():
        return list(
            Mastery.objects.filter(policy__is_current=False)
            .values_list("school_id", flat=True)
            .distinct()
        )


def iter_chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Previewing a policy change ----------------------------------------------------------------------


@dataclass
class PolicyPreview:
    pairs: int = 0
    level_changes: int = 0
    students_changing: int = 0
    targets_changing: int = 0
    mastered_gained: int = 0
    mastered_lost: int = 0
    grade_changes: int = 0
    students_with_grade_change: int = 0
    examples: list[str] = field(default_factory=list)


def _candidate_outcomes(
    school: School, candidate: GradingPolicy, engine: calculation.Policy
) -> dict:
    """(student, target) -> (score, level, mastered) under the candidate, for the pairs it governs."""
    course_id = candidate.course_id
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            if course_id is None:
                _create_pair_policy(cursor, school)
                scope_sql = (
                    "AND NOT EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                    " AND pp.target_id = e.target_id)"
                )
            else:
                scope_sql = (
                    f"AND e.target_id IN (SELECT target_id FROM gradebook_coursetarget WHERE school_id = %(school_id)s"
                    f" AND course_id = {int(course_id)}) AND e.student_id IN (SELECT en.student_id FROM"
                    " gradebook_enrollment en JOIN gradebook_section s ON s.id = en.section_id"
                    f" WHERE en.school_id = %(school_id)s AND s.course_id = {int(course_id)})"
                )
            cursor.execute(
                _policy_statement(engine, scope_sql=scope_sql, select_only=True),
                {"school_id": school.id},
            )
            return {(r[0], r[1]): (r[2], r[3], r[4]) for r in cursor.fetchall()}
    # SQLite (the demo): the engine over the governed pairs.
    assigned = override_assignments(school)
    if course_id is not None:
        targets = set(
            CourseTarget.objects.filter(school=school, course_id=course_id).values_list(
                "target_id", flat=True
            )
        )
        students = set(
            Enrollment.objects.filter(school=school, section__course_id=course_id).values_list(
                "student_id", flat=True
            )
        )
    outcomes = {}
    for student_id, target_id, rows in _pairs_in_order(school):
        pair = (student_id, target_id)
        if course_id is None and pair in assigned:
            continue
        if course_id is not None and (student_id not in students or target_id not in targets):
            continue
        o = calculation.compute(
            (
                calculation.Evidence(score=sc, assessed_on=d, kind=k, status=st)
                for sc, d, k, st in rows
            ),
            engine,
        )
        outcomes[pair] = (o.score, Decimal(o.level) if o.level is not None else None, o.mastered)
    return outcomes


def policy_preview(*, school: School, candidate: GradingPolicy) -> PolicyPreview:
    """What saving `candidate` (an unsaved policy version) would change on the school's data now."""
    from gradebook.models import Student

    levels = achievement_levels(school)
    engine = candidate.to_engine(levels)
    new = _candidate_outcomes(school, candidate, engine)
    old = {
        (m.student_id, m.target_id): (m.score, m.level, m.mastered)
        for m in Mastery.objects.filter(school=school).only(
            "student", "target", "score", "level", "mastered"
        )
    }
    preview = PolicyPreview(pairs=len(new))
    changed_students, changed_targets, samples = set(), set(), []
    for pair, (score, level, mastered) in new.items():
        before = old.get(pair, (None, None, False))
        if before[1] != level:
            preview.level_changes += 1
            changed_students.add(pair[0])
            changed_targets.add(pair[1])
            if len(samples) < 5:
                samples.append((pair, before, (score, level)))
        if mastered and not before[2]:
            preview.mastered_gained += 1
        if before[2] and not mastered:
            preview.mastered_lost += 1
    preview.students_changing, preview.targets_changing = (
        len(changed_students),
        len(changed_targets),
    )

    # Course grades: every (student, course) that a changed result belongs to, old vs new rule.
    policies = {p.course_id: p for p in current_policies(school)}
    course_targets_map: dict[int, list[int]] = defaultdict(list)
    for course_id, target_id in CourseTarget.objects.filter(school=school).values_list(
        "course_id", "target_id"
    ):
        course_targets_map[course_id].append(target_id)
    engines_old = {cid: p.to_engine(levels) for cid, p in policies.items()}
    graded_students = set()
    # Every course grade the candidate governs: letters come from scores, so a new band or method can
    # change a grade without changing any level.
    governed = (
        [candidate.course_id]
        if candidate.course_id is not None
        else [cid for cid in course_targets_map if cid not in policies]
    )
    for student_id, course_id in (
        Enrollment.objects.filter(
            school=school, withdrawn_on__isnull=True, section__course_id__in=governed
        )
        .values_list("student_id", "section__course_id")
        .distinct()
    ):
        targets = course_targets_map[course_id]
        old_engine = engines_old.get(course_id, engines_old[None])
        before = calculation.course_grade(
            [old.get((student_id, t), (None,))[0] for t in targets], old_engine
        )
        after = calculation.course_grade(
            [new.get((student_id, t), old.get((student_id, t), (None,)))[0] for t in targets],
            engine,
        )
        if before.letter != after.letter:
            preview.grade_changes += 1
            graded_students.add(student_id)
    preview.students_with_grade_change = len(graded_students)

    names = {
        s.id: s.display_name
        for s in Student.objects.filter(school=school, id__in=[p[0] for p, _, _ in samples])
    }
    codes = dict(
        LearningTarget.objects.filter(
            school=school, id__in=[p[1] for p, _, _ in samples]
        ).values_list("id", "code")
    )
    labels = {lv.value: lv.label for lv in levels}

    def shown(score, level):
        return (
            "no level"
            if level is None
            else f"{calculation.fmt(score)} {labels.get(level, '')}".strip()
        )

    preview.examples = [
        f"{names.get(pair[0], pair[0])}, {codes.get(pair[1], pair[1])}: {shown(*before[:2])} → {shown(*after)}"
        for pair, before, after in samples
    ]
    return preview
