"""The recompute's SQL: one statement per policy, generated from the engine's settings.

Each calculation method of mastery/calculation.py has its SQL twin here. The statement reads a
school's evidence once, sorted by pair and newest first, and computes every method but mode and
power law in the same GROUP BY that counts the pair's evidence (`_one_pass_sql`): on the
2,000-student benchmark school that pass is most of the statement, next to a bare "latest score
per pair" floor over the same rows (make bench, docs/performance.md). Only validated Decimals and
ints are ever spliced into the text; everything else is a parameter.
"""

from __future__ import annotations

import math
from decimal import Decimal

from mastery import calculation


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


def _order(p: calculation.Policy, *, newest_first: bool) -> str:
    """A pair's evidence order: by date, a day's self-assessments after its scores (`src` 1, only
    read when the policy counts them), then by id; the engine's order (grading.school)."""
    desc = " DESC" if newest_first else ""
    src = f"src{desc}, " if p.count_self_assessment else ""
    return f"assessed_on{desc}, {src}id{desc}"


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
    WINDOW w AS (PARTITION BY student_id, target_id ORDER BY counts DESC, {_order(p, newest_first=True)})
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
           row_number() OVER (PARTITION BY student_id, target_id ORDER BY {_order(p, newest_first=False)}) AS i,
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


def policy_statement(
    p: calculation.Policy,
    *,
    scope_sql: str,
    select_only: bool = False,
    window_sql: str = "",
    select_records: bool = False,
) -> str:
    """One INSERT … SELECT … ON CONFLICT computing every pair in `scope_sql` under policy `p`;
    it answers one row: (pairs computed, records written, records whose level changed).

    With select_only, just the SELECT of the computed rows (student_id, target_id, score, level,
    mastered), for a preview that writes nothing; with select_records, the SELECT of whole records
    (those five, evidence_count, last_evidence_on, explanation: a year's closing snapshot).

    `window_sql` (grading.policies.window_sql): a condition on the evidence `e` that the school
    year's window sets; evidence outside it is read like voided evidence (not live, not counted),
    so a pair whose evidence is all from earlier years is still computed, with none this year.
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
    live = f"e.voided_at IS NULL AND {window_sql}" if window_sql else "e.voided_at IS NULL"
    # A policy that counts self-assessments reads them as evidence of their own (src 1): scored,
    # of kind "self", which counted_kinds never names. Only a pair's latest live rating (by date,
    # then id: the engine's latest_rating_only) is read as one; its other live ratings are left
    # out, a rating again replacing the last. Not-live ratings stay (neither live nor counted),
    # so a pair whose ratings were all withdrawn is still computed. Any other policy never reads
    # the table.
    own = (
        f"""
    UNION ALL
    SELECT id, 1, student_id, target_id, assessed_on, live, s, live AS counts FROM (
        SELECT e.id, e.student_id, e.target_id, e.assessed_on, {live} AS live, e.score AS s,
               row_number() OVER (PARTITION BY e.student_id, e.target_id, {live}
                                  ORDER BY e.assessed_on DESC, e.id DESC) AS newest
        FROM gradebook_selfassessment e
        WHERE e.school_id = %(school_id)s {scope_sql}
    ) own WHERE newest = 1 OR NOT live"""
        if p.count_self_assessment
        else ""
    )
    src = "0 AS src, " if p.count_self_assessment else ""
    ctes = f"""
WITH ev AS MATERIALIZED (
    SELECT e.id, {src}e.student_id, e.target_id, e.assessed_on, {live} AS live,
           CASE WHEN e.status = 'scored' THEN e.score
                WHEN e.status = 'missing' AND {missing} THEN {_lit(p.scale_min)} END AS s,
           {live} AND ({kinds})
               AND (e.status = 'scored' OR (e.status = 'missing' AND {missing})) AS counts
    FROM gradebook_evidence e
    WHERE e.school_id = %(school_id)s {scope_sql}{own}
),
{body}final AS (
    SELECT x.*, {band} AS level,
           CASE WHEN x.c < {int(p.min_evidence)} THEN {insufficient}
                ELSE {summary} END AS explanation
    FROM x
)
"""
    if select_only or select_records:
        record = ", evidence_count, last_on, explanation" if select_records else ""
        return (
            ctes
            + f"""
SELECT student_id, target_id, score, CASE WHEN score IS NULL THEN NULL ELSE level END AS level,
       coalesce(score >= {_lit(p.mastery_threshold)}, FALSE) AS mastered{record}
FROM final
"""
        )
    # A policy that does not count self-assessments computes no pair that only the student rated
    # (it never reads their table), so a record such a pair got while ratings counted (a level
    # from the student's own rating, an older policy's id) is deleted: derived data, nothing
    # counts toward it now, and left it would keep the school stale for ever. The ratings'
    # pairs lead (few, or none: then nothing is read), so the statement stays cheap. No such
    # pair is in final, so no record is both deleted and written.
    dropped = (
        ""
        if p.count_self_assessment
        else f""",
dropped AS (
    DELETE FROM gradebook_mastery e
    USING (SELECT DISTINCT student_id, target_id FROM gradebook_selfassessment
           WHERE school_id = %(school_id)s) r
    WHERE e.school_id = %(school_id)s AND e.student_id = r.student_id
      AND e.target_id = r.target_id {scope_sql}
      AND NOT EXISTS (SELECT 1 FROM gradebook_evidence v WHERE v.school_id = %(school_id)s
                      AND v.student_id = e.student_id AND v.target_id = e.target_id)
    RETURNING e.level
)"""
    )
    # Deleted records count as written, and as a level changed where they had one.
    dropped_written = "" if p.count_self_assessment else " + (SELECT count(*) FROM dropped)"
    dropped_levels = (
        ""
        if p.count_self_assessment
        else " + (SELECT count(*) FROM dropped WHERE level IS NOT NULL)"
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
){dropped}
SELECT (SELECT count(*) FROM final), (SELECT count(*) FROM written){dropped_written},
       -- Every part of the statement reads the records as they were before it: old level vs new.
       (SELECT count(*) FROM final f
        LEFT JOIN gradebook_mastery old ON old.school_id = %(school_id)s
             AND old.student_id = f.student_id AND old.target_id = f.target_id
        WHERE old.level IS DISTINCT FROM (CASE WHEN f.score IS NULL THEN NULL ELSE f.level END))
       {dropped_levels}
"""
    )
