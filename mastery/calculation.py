"""The mastery calculation engine: how evidence becomes a score, a level and a course grade.

Pure Python with Decimal arithmetic; it imports nothing from Django so that the same rules can be
read, tested and reused anywhere (the app, the SQL recompute's parity tests, a teacher's notebook).

    from mastery.calculation import Evidence, Policy, compute
    outcome = compute([Evidence(score=2, assessed_on=date(2026, 9, 1)), ...],
                      Policy(method="decaying_average", weight=65))
    outcome.score        # Decimal rounded half up to 2 places, or None (not enough evidence)
    outcome.level        # the scale Level the score bands into (a Decimal with .label), or None
    outcome.mastered     # bool
    outcome.explanation  # plain-language steps

Every number that leaves this module is rounded in two steps: first to 10 places (which removes the
noise of the Decimal ln/exp and of floating point in the SQL recompute), then half up to 2 places.
`summary` is a one-line form of the explanation that the set-based SQL recompute reproduces
exactly; `explanation` adds the worked steps.

One module (~800 lines) on purpose: the engine is the contract (docs/design.md section 5), read
and reused as one self-contained file with no imports from the project or Django.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import cast, overload

METHODS = (
    "latest",
    "highest",
    "mean",
    "decaying_average",
    "weighted_average",
    "n_times",
    "power_law",
    "mode",
    "median",
)
METHOD_LABELS = {
    "latest": "Most recent score",
    "highest": "Highest score",
    "mean": "Average",
    "decaying_average": "Decaying average",
    "weighted_average": "Weighted average",
    "n_times": "Mastered n times",
    "power_law": "Power law (trend)",
    "mode": "Most frequent score",
    "median": "Median",
}
KINDS = ("pre", "formative", "summative", "interim", "reassessment")
# A student's rating of themselves: evidence of its own kind that only the policy's
# `count_self_assessment` lets count. It is not one of KINDS, so `counted_kinds` cannot name it,
# and `counted_kinds=None` ("every kind") does not reach it.
SELF = "self"
EVIDENCE_KINDS = (*KINDS, SELF)
KIND_LABELS = {
    "pre": "pre-assessment",
    "formative": "formative",
    "summative": "summative",
    "interim": "interim",
    "reassessment": "reassessment",
    SELF: "self-assessment",
}
# "scored" carries a score; the others are statuses shown to everyone and never counted as zero.
STATUSES = ("scored", "missing", "excused", "incomplete", "insufficient")
STATUS_LABELS = {
    "scored": "scored",
    "missing": "missing",
    "excused": "excused",
    "incomplete": "incomplete",
    "insufficient": "insufficient evidence",
}
# A pre-assessment shows where a student started; it never counts toward mastery by default.
DEFAULT_COUNTED_KINDS = ("formative", "summative", "interim", "reassessment")
COURSE_GRADE_RULES = ("mean_band", "threshold_count")
POWER_LAW_MIN_SCORES = 3

TWO_PLACES = Decimal("0.01")
TEN_PLACES = Decimal("1E-10")


class CalculationError(ValueError):
    """Input the engine refuses: an unknown method, a score off the scale, a bad parameter."""


def to_decimal(value: Decimal | int | float | str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise CalculationError(f"{value!r} is not a number")
    if isinstance(value, int | str):
        try:
            result = Decimal(value)
        except ArithmeticError as exc:
            raise CalculationError(f"{value!r} is not a number") from exc
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise CalculationError(f"{value!r} is not a number")
    if not result.is_finite():
        raise CalculationError(f"{value!r} is not a finite number")
    return result


def round_score(value: Decimal) -> Decimal:
    """Round half up to 2 places, after removing noise beyond 10 places."""
    return value.quantize(TEN_PLACES, rounding=ROUND_HALF_UP).quantize(
        TWO_PLACES, rounding=ROUND_HALF_UP
    )


def fmt(value: Decimal | int) -> str:
    """A number as people write it: 3, 2.5, 2.65 (never 3.00)."""
    value = to_decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def scores_phrase(count: int) -> str:
    return "1 score" if count == 1 else f"{count} scores"


class Level(Decimal):
    """A level of a proficiency scale.

    It is a Decimal (so `outcome.level == 3` holds) that also carries its label and the cut-off
    at which a computed score bands into it.
    """

    label: str
    cutoff: Decimal

    def __new__(
        cls,
        value: Decimal | int | float | str,
        label: str = "",
        cutoff: Decimal | int | float | str | None = None,
    ) -> Level:
        obj = super().__new__(cls, to_decimal(value))
        obj.label = label
        obj.cutoff = to_decimal(cutoff) if cutoff is not None else Decimal(obj)
        return obj

    def __repr__(self) -> str:
        return f"Level({fmt(self)}, {self.label!r}, cutoff={fmt(self.cutoff)})"

    def __str__(self) -> str:
        return f"{fmt(self)} {self.label}".strip()

    # Level is rebuilt from three strings; Decimal's stub types its __reduce__ with one.
    def __reduce__(self) -> tuple[type[Level], tuple[str, str, str]]:  # type: ignore[override]
        return (Level, (str(Decimal(self)), self.label, str(self.cutoff)))


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(1, "Beginning", cutoff=1),
    Level(2, "Developing", cutoff=2),
    Level(3, "Proficient", cutoff=3),
    Level(4, "Advanced", cutoff="3.5"),
)


@dataclass(frozen=True)
class GradeBand:
    """mean_band: the letter for a mean of target scores at or above `min_score`."""

    letter: str
    min_score: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_score", to_decimal(self.min_score))


@dataclass(frozen=True)
class ThresholdBand:
    """threshold_count: the letter when, among targets with a level,

    for every (level, percent) in `at_least` at least `percent`% are at that level or above,
    and (when `none_below` is set) no target is below that level.
    """

    letter: str
    at_least: tuple[tuple[Decimal, Decimal], ...] = ()
    none_below: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "at_least",
            tuple((to_decimal(level), to_decimal(pct)) for level, pct in self.at_least),
        )
        if self.none_below is not None:
            object.__setattr__(self, "none_below", to_decimal(self.none_below))

    def describe(self) -> str:
        parts = [
            f"at least {fmt(pct)}% of targets at {fmt(lvl)} or above" for lvl, pct in self.at_least
        ]
        if self.none_below is not None:
            parts.append(f"none below {fmt(self.none_below)}")
        return f"{self.letter}: " + (", ".join(parts) if parts else "otherwise")


DEFAULT_GRADE_BANDS: tuple[GradeBand, ...] = (
    GradeBand("A", Decimal("3.0")),
    GradeBand("B", Decimal("2.5")),
    GradeBand("C", Decimal("2.0")),
    GradeBand("D", Decimal("1.5")),
)
DEFAULT_THRESHOLD_BANDS: tuple[ThresholdBand, ...] = (
    ThresholdBand(
        "A", at_least=((Decimal(3), Decimal(90)), (Decimal(4), Decimal(50))), none_below=Decimal(2)
    ),
    ThresholdBand("B", at_least=((Decimal(3), Decimal(80)),), none_below=Decimal(2)),
    ThresholdBand("C", at_least=((Decimal(3), Decimal(60)),)),
    ThresholdBand("D", at_least=((Decimal(3), Decimal(40)),)),
)
DEFAULT_FALLBACK_LETTER = "F"
# Transcript conversions where a district needs them: piecewise linear from the 4-point mean to
# 0-100 (anchors chosen so that the default letter cut-offs land on 90/80/70/60), and letter -> 4.0.
DEFAULT_PERCENT_ANCHORS: tuple[tuple[Decimal, Decimal], ...] = tuple(
    (Decimal(s), Decimal(p))
    for s, p in (("1", "50"), ("1.5", "60"), ("2", "70"), ("2.5", "80"), ("3", "90"), ("4", "100"))
)
DEFAULT_GPA_POINTS: tuple[tuple[str, Decimal], ...] = tuple(
    (letter, Decimal(points))
    for letter, points in (("A", "4.0"), ("B", "3.0"), ("C", "2.0"), ("D", "1.0"), ("F", "0.0"))
)


@dataclass(frozen=True)
class Evidence:
    """One attempt: a score on the scale, or a status without one."""

    score: Decimal | int | float | str | None
    assessed_on: date
    kind: str = "summative"
    status: str = "scored"

    def __post_init__(self) -> None:
        if self.kind not in EVIDENCE_KINDS:
            raise CalculationError(
                f"Unknown evidence kind {self.kind!r}; use one of {', '.join(EVIDENCE_KINDS)}"
            )
        if self.status not in STATUSES:
            raise CalculationError(
                f"Unknown evidence status {self.status!r}; use one of {', '.join(STATUSES)}"
            )
        if not isinstance(self.assessed_on, date):
            raise CalculationError("assessed_on must be a date")
        if self.status == "scored":
            if self.score is None:
                raise CalculationError("Scored evidence needs a score")
            object.__setattr__(self, "score", to_decimal(self.score))
        elif self.score is not None:
            object.__setattr__(self, "score", to_decimal(self.score))


@dataclass(frozen=True)
class Policy:
    """How evidence becomes mastery, and how mastery becomes a course grade (DESIGN section 5)."""

    method: str = "decaying_average"
    weight: Decimal | int = 65  # percent on the newest score (decaying / weighted average)
    n: int = 3  # n_times: scores at or above the threshold needed
    recent: int | None = None  # mean / mode / median: only the last N counted scores
    power_law_at: str = "last"  # evaluate the fitted trend at the last attempt or the next one
    mode_ties: str = "higher"  # "higher" or "recent"
    counted_kinds: tuple[str, ...] | None = DEFAULT_COUNTED_KINDS  # None: every kind counts
    min_evidence: int = 1
    mastery_threshold: Decimal | int = 3
    scale_min: Decimal | int = 1
    scale_max: Decimal | int = 4
    missing_counts_as_minimum: bool = False
    # Students' ratings of themselves (kind "self") count only when this says so.
    count_self_assessment: bool = False
    levels: tuple[Level, ...] = DEFAULT_LEVELS
    course_grade_rule: str = "mean_band"
    grade_bands: tuple[GradeBand, ...] = DEFAULT_GRADE_BANDS
    threshold_bands: tuple[ThresholdBand, ...] = DEFAULT_THRESHOLD_BANDS
    fallback_letter: str = DEFAULT_FALLBACK_LETTER
    percent_anchors: tuple[tuple[Decimal, Decimal], ...] = DEFAULT_PERCENT_ANCHORS
    gpa_points: tuple[tuple[str, Decimal], ...] = DEFAULT_GPA_POINTS

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.method not in METHODS:
            raise CalculationError(
                f"Unknown method {self.method!r}; use one of {', '.join(METHODS)}"
            )
        for name in ("weight", "mastery_threshold", "scale_min", "scale_max"):
            set_(self, name, to_decimal(getattr(self, name)))
        if not Decimal(0) < self.weight <= Decimal(100):
            raise CalculationError("weight is a percent above 0 and at most 100")
        if int(self.n) != self.n or self.n < 1:
            raise CalculationError("n must be a whole number of at least 1")
        if self.recent is not None and (int(self.recent) != self.recent or self.recent < 1):
            raise CalculationError("recent must be empty or a whole number of at least 1")
        if self.power_law_at not in ("last", "next"):
            raise CalculationError('power_law_at is "last" or "next"')
        if self.mode_ties not in ("higher", "recent"):
            raise CalculationError('mode_ties is "higher" or "recent"')
        if int(self.min_evidence) != self.min_evidence or self.min_evidence < 1:
            raise CalculationError("min_evidence must be a whole number of at least 1")
        if self.scale_min >= self.scale_max:
            raise CalculationError("scale_min must be below scale_max")
        if not self.scale_min <= self.mastery_threshold <= self.scale_max:
            raise CalculationError("mastery_threshold must lie on the scale")
        if self.method == "power_law" and self.scale_min <= 0:
            raise CalculationError("power_law needs a scale whose lowest score is above 0")
        if self.counted_kinds is not None:
            kinds = tuple(self.counted_kinds)
            unknown = [k for k in kinds if k not in KINDS]
            if SELF in unknown:
                raise CalculationError(
                    "Self-assessments are counted by count_self_assessment, not counted_kinds"
                )
            if unknown:
                raise CalculationError(f"Unknown kinds in counted_kinds: {', '.join(unknown)}")
            if not kinds:
                raise CalculationError("counted_kinds must name at least one kind (or be None)")
            set_(self, "counted_kinds", kinds)
        levels = tuple(sorted(self.levels, key=lambda lv: lv.cutoff))
        if not levels:
            raise CalculationError("a scale needs at least one level")
        if [Decimal(lv) for lv in levels] != sorted(Decimal(lv) for lv in levels):
            raise CalculationError("level cut-offs must rise with the level values")
        set_(self, "levels", levels)
        if self.course_grade_rule not in COURSE_GRADE_RULES:
            raise CalculationError(
                f"Unknown course grade rule {self.course_grade_rule!r}; "
                f"use one of {', '.join(COURSE_GRADE_RULES)}"
            )
        set_(self, "grade_bands", tuple(sorted(self.grade_bands, key=lambda b: -b.min_score)))
        set_(
            self,
            "percent_anchors",
            tuple(sorted((to_decimal(s), to_decimal(p)) for s, p in self.percent_anchors)),
        )

    @property
    def w(self) -> Decimal:
        return cast(Decimal, self.weight) / 100  # a Decimal after __post_init__

    @overload
    def band(self, score: Decimal) -> Level: ...
    @overload
    def band(self, score: Decimal | None) -> Level | None: ...
    def band(self, score: Decimal | None) -> Level | None:
        """The highest level whose cut-off is at or below the score (the lowest level if none)."""
        if score is None:
            return None
        chosen = self.levels[0]
        for level in self.levels:
            if level.cutoff <= score:
                chosen = level
        return chosen

    def counts(self, evidence: Evidence) -> bool:
        if evidence.kind == SELF:
            return self.count_self_assessment
        return self.counted_kinds is None or evidence.kind in self.counted_kinds


@dataclass(frozen=True)
class Outcome:
    score: Decimal | None
    level: Level | None
    mastered: bool
    explanation: str
    summary: str
    steps: tuple[str, ...]
    counted: int  # scores that entered the calculation
    evidence_count: int  # every piece of evidence given (any status)
    last_assessed_on: date | None

    @property
    def insufficient(self) -> bool:
        return self.score is None


def _ordered(evidence: Iterable[Evidence]) -> list[Evidence]:
    # Evidence is ordered by date; ties keep the order given (the app passes its insertion order).
    return sorted(evidence, key=lambda e: e.assessed_on)


def latest_rating_only(evidence: list[Evidence]) -> list[Evidence]:
    """`evidence` in the engine's order, with only the last of the student's own ratings (kind
    "self"): the latest, by date and then as given (every path passes them oldest first, by date
    then id, as the SQL numbers them). A student who rates themselves again replaces their
    rating; twenty ratings of 4 are not twenty scores that drown the teacher's. Every path goes
    through `compute`, so each counts at most one rating a pair: the latest it was given (as of
    a date: the latest on or before it)."""
    last = next((i for i in range(len(evidence) - 1, -1, -1) if evidence[i].kind == SELF), None)
    return [e for i, e in enumerate(evidence) if e.kind != SELF or i == last]


def compute(evidence: Iterable[Evidence], policy: Policy | None = None) -> Outcome:
    """Compute one student's result on one learning target from all their (unvoided) evidence;
    of the student's own ratings, only the latest (`latest_rating_only`)."""
    policy = policy or Policy()
    items = latest_rating_only(_ordered(evidence))
    scores: list[Decimal] = []
    dates: list[date] = []
    skipped: Counter[str] = Counter()
    own = 0  # the student's own ratings counted (self-assessments, when the policy counts them)
    for item in items:
        if item.status == "scored":
            item_score = cast(Decimal, item.score)  # scored evidence: a Decimal after __post_init__
            if not policy.scale_min <= item_score <= policy.scale_max:
                raise CalculationError(
                    f"Score {fmt(item_score)} is off the scale "
                    f"({fmt(policy.scale_min)}-{fmt(policy.scale_max)})"
                )
            if policy.counts(item):
                scores.append(item_score)
                dates.append(item.assessed_on)
                own += item.kind == SELF
            else:
                skipped[KIND_LABELS[item.kind]] += 1
        elif item.status == "missing" and policy.missing_counts_as_minimum and policy.counts(item):
            scores.append(cast(Decimal, policy.scale_min))
            dates.append(item.assessed_on)
        else:
            skipped[STATUS_LABELS[item.status]] += 1

    steps: list[str] = []
    if skipped:
        described = ", ".join(f"{count} {label}" for label, count in sorted(skipped.items()))
        steps.append(f"Not counted: {described}. Missing work is never counted as a zero.")
    if own:
        steps.append(
            "Your own ratings count as evidence under this policy: only your latest rating on "
            "this target counts, as one score."
        )
    if policy.missing_counts_as_minimum and any(i.status == "missing" for i in items):
        steps.append(
            f"Missing work counts as {fmt(policy.scale_min)}, the lowest score, under this policy."
        )

    with localcontext() as ctx:
        ctx.prec = 40
        raw, summary, method_steps = _apply(policy, scores, dates)
    steps.extend(method_steps)

    score = None
    if raw is not None:
        raw = min(max(raw, cast(Decimal, policy.scale_min)), cast(Decimal, policy.scale_max))
        score = round_score(raw)
    level = policy.band(score)
    mastered = score is not None and score >= policy.mastery_threshold
    if score is not None and level is not None:
        steps.append(
            f"{fmt(score)} is level {fmt(level)} ({level.label}); mastery is "
            f"{fmt(policy.mastery_threshold)} or above: "
            + ("mastered." if mastered else "not yet mastered.")
        )
    return Outcome(
        score=score,
        level=level,
        mastered=mastered,
        explanation="\n".join(steps),
        summary=summary,
        steps=tuple(steps),
        counted=len(scores),
        evidence_count=len(items),
        last_assessed_on=items[-1].assessed_on if items else None,
    )


def _apply(
    policy: Policy, scores: list[Decimal], dates: list[date]
) -> tuple[Decimal | None, str, list[str]]:
    """(unrounded score or None, one-line summary, worked steps) for the policy's method."""
    count = len(scores)
    method = policy.method
    if count < policy.min_evidence:
        return (
            None,
            f"Not enough evidence: {scores_phrase(count)} counted, {policy.min_evidence} needed",
            [
                f"Not enough evidence yet: {scores_phrase(count)} counted, at least "
                f"{policy.min_evidence} needed for a level."
            ],
        )
    listed = ", ".join(fmt(s) for s in scores)

    if method == "latest":
        value = scores[-1]
        return (
            value,
            f"Most recent of {scores_phrase(count)}: {fmt(value)}",
            [f"Most recent score (from {dates[-1].isoformat()}): {fmt(value)}"],
        )
    if method == "highest":
        value = max(scores)
        return (
            value,
            f"Highest of {scores_phrase(count)}: {fmt(value)}",
            [f"Highest of {listed}: {fmt(value)}"],
        )
    if method in ("mean", "mode", "median"):
        used = scores[-policy.recent :] if policy.recent else scores
        of = (
            f"the last {len(used)} of {scores_phrase(count)}"
            if len(used) < count
            else scores_phrase(count)
        )
        used_listed = ", ".join(fmt(s) for s in used)
        if method == "mean":
            total = sum(used, Decimal(0))
            value = total / len(used)
            return (
                value,
                f"Average of {of}: {fmt(round_score(value))}",
                [
                    f"Average of {used_listed} = {fmt(total)} ÷ {len(used)} = "
                    f"{fmt(round_score(value))}"
                ],
            )
        if method == "median":
            ordered = sorted(used)
            mid = len(ordered) // 2
            if len(ordered) % 2:
                value = ordered[mid]
                how = f"the middle value is {fmt(value)}"
            else:
                value = (ordered[mid - 1] + ordered[mid]) / 2
                how = (
                    f"halfway between {fmt(ordered[mid - 1])} and {fmt(ordered[mid])}: {fmt(value)}"
                )
            return (
                value,
                f"Median of {of}: {fmt(round_score(value))}",
                [f"Median of {', '.join(fmt(s) for s in ordered)} (in order): {how}"],
            )
        # mode
        frequency = Counter(used)
        top = max(frequency.values())
        tied = [s for s in frequency if frequency[s] == top]
        if len(tied) == 1:
            value = tied[0]
            how = (
                f"{fmt(value)} appears {top} times"
                if top > 1
                else f"every score appears once; {fmt(value)}"
            )
        elif policy.mode_ties == "higher":
            value = max(tied)
            how = (
                f"{' and '.join(fmt(s) for s in sorted(tied))} each appear {top} "
                f"{'time' if top == 1 else 'times'}; the higher counts: {fmt(value)}"
            )
        else:
            last_seen = {s: i for i, s in enumerate(used)}
            value = max(tied, key=lambda s: last_seen[s])
            how = (
                f"{' and '.join(fmt(s) for s in sorted(tied))} each appear {top} "
                f"{'time' if top == 1 else 'times'}; the most recent counts: {fmt(value)}"
            )
        return (
            value,
            f"Most frequent of {of}: {fmt(value)}",
            [f"Most frequent of {used_listed}: {how}"],
        )
    if method == "decaying_average":
        return _decaying(policy, scores)
    if method == "weighted_average":
        w = policy.w
        if count == 1:
            value = scores[0]
            step = f"Weighted average of a single score: {fmt(value)}"
        else:
            earlier = sum(scores[:-1], Decimal(0)) / (count - 1)
            value = w * scores[-1] + (1 - w) * earlier
            step = (
                f"Weighted average: {fmt(policy.weight)}% × newest {fmt(scores[-1])} + "
                f"{fmt(100 - policy.weight)}% × average of earlier scores "
                f"{fmt(round_score(earlier))} = {fmt(round_score(value))}"
            )
        return (
            value,
            f"Weighted average ({fmt(policy.weight)}% on the newest) of {scores_phrase(count)}: "
            f"{fmt(round_score(value))}",
            [step],
        )
    if method == "n_times":
        threshold = policy.mastery_threshold
        meeting = [s for s in scores if s >= threshold]
        if len(meeting) < policy.n:
            return (
                None,
                f"{len(meeting)} of {policy.n} needed scores at {fmt(threshold)} or above so far",
                [
                    f"Mastery is shown {policy.n} times at {fmt(threshold)} or above; so far "
                    f"{len(meeting)} of {listed} {'is' if len(meeting) == 1 else 'are'}: "
                    "not enough evidence yet."
                ],
            )
        value = sum(meeting, Decimal(0)) / len(meeting)
        return (
            value,
            f"{len(meeting)} scores at {fmt(threshold)} or above ({policy.n} needed); "
            f"their average: {fmt(round_score(value))}",
            [
                f"Scores at {fmt(threshold)} or above: {', '.join(fmt(s) for s in meeting)} "
                f"({policy.n} needed); their average: {fmt(round_score(value))}"
            ],
        )
    if method == "power_law":
        if count < POWER_LAW_MIN_SCORES:
            value, _, steps = _decaying(policy, scores)
            return (
                value,
                f"Decaying average ({fmt(policy.weight)}% on the newest) of "
                f"{scores_phrase(count)} (fewer than {POWER_LAW_MIN_SCORES} for a trend): "
                f"{fmt(round_score(value))}",
                [
                    f"Fewer than {POWER_LAW_MIN_SCORES} scores for a power-law trend, "
                    "so the decaying average is used.",
                    *steps,
                ],
            )
        value, a, b = power_law_fit(scores, at_next=policy.power_law_at == "next")
        at = count + 1 if policy.power_law_at == "next" else count
        clamped = min(max(value, cast(Decimal, policy.scale_min)), cast(Decimal, policy.scale_max))
        where = "next" if policy.power_law_at == "next" else "latest"
        steps = [
            f"Power-law trend of {listed}: score ≈ {fmt(round_score(a))} × attempt^{fmt(round_score(b))}; "
            f"at attempt {at} ({where}): {fmt(round_score(value))}"
        ]
        if clamped != value:
            steps.append(f"The trend is held to the scale: {fmt(clamped)}")
        return (
            clamped,
            f"Power-law trend of {scores_phrase(count)}, at the {where} attempt: "
            f"{fmt(round_score(clamped))}",
            steps,
        )
    raise CalculationError(f"Unknown method {method!r}")  # pragma: no cover - checked by Policy


def _decaying(policy: Policy, scores: list[Decimal]) -> tuple[Decimal, str, list[str]]:
    w = policy.w
    running = scores[0]
    trail = [fmt(round_score(running))]
    for s in scores[1:]:
        running = (1 - w) * running + w * s
        trail.append(fmt(round_score(running)))
    return (
        running,
        f"Decaying average ({fmt(policy.weight)}% on the newest) of {scores_phrase(len(scores))}: "
        f"{fmt(round_score(running))}",
        [f"Decaying average ({fmt(policy.weight)}% on the newest): {' → '.join(trail)}"],
    )


def power_law_fit(
    scores: Sequence[Decimal], *, at_next: bool = False
) -> tuple[Decimal, Decimal, Decimal]:
    """Least squares fit of ln s = ln a + b ln x over attempts x = 1..n.

    Returns (the trend at x = n, or n + 1 when at_next, a, b). Needs at least 2 positive scores.
    """
    n = len(scores)
    lx = [Decimal(x).ln() for x in range(1, n + 1)]
    ly = [to_decimal(s).ln() for s in scores]
    sx, sy = sum(lx, Decimal(0)), sum(ly, Decimal(0))
    sxx = sum((v * v for v in lx), Decimal(0))
    sxy = sum((x * y for x, y in zip(lx, ly, strict=True)), Decimal(0))
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    ln_a = (sy - b * sx) / n
    at = Decimal(n + 1 if at_next else n)
    return (ln_a + b * at.ln()).exp(), ln_a.exp(), b


# --- Course grade ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseGrade:
    letter: str | None
    mean: Decimal | None  # mean of the counted target scores
    percent: Decimal | None
    gpa: Decimal | None
    explanation: str
    targets_counted: int
    targets_without_level: int
    mastered: int = 0  # targets at the mastery threshold or above


def course_grade(
    scores: Iterable[Decimal | int | str | None], policy: Policy | None = None
) -> CourseGrade:
    """A course grade from the course's target scores (None: not enough evidence on that target)."""
    policy = policy or Policy()
    all_scores = [None if s is None else to_decimal(s) for s in scores]
    counted = [s for s in all_scores if s is not None]
    without = len(all_scores) - len(counted)
    note = (
        f" {without} target{'s' if without != 1 else ''} without enough evidence "
        f"{'are' if without != 1 else 'is'} not counted."
        if without
        else ""
    )
    if not counted:
        return CourseGrade(
            None,
            None,
            None,
            None,
            "No course grade yet: no target has enough evidence." + note,
            0,
            without,
        )
    mean = round_score(sum(counted, Decimal(0)) / len(counted))
    percent = to_percent(mean, policy)
    if policy.course_grade_rule == "mean_band":
        letter = policy.fallback_letter
        for band in policy.grade_bands:
            if mean >= band.min_score:
                letter = band.letter
                break
        cutoffs = ", ".join(f"{b.letter} from {fmt(b.min_score)}" for b in policy.grade_bands)
        explanation = (
            f"The average of {len(counted)} target score{'s' if len(counted) != 1 else ''} is "
            f"{fmt(mean)}, which is a {letter} ({cutoffs}; below that {policy.fallback_letter})."
            + note
        )
    else:
        levels = [policy.band(s) for s in counted]
        total = len(levels)
        letter = policy.fallback_letter
        chosen: ThresholdBand | None = None
        for rule in policy.threshold_bands:
            ok = all(
                Decimal(sum(1 for lv in levels if lv >= at)) * 100 >= pct * total
                for at, pct in rule.at_least
            )
            if rule.none_below is not None and any(lv < rule.none_below for lv in levels):
                ok = False
            if ok:
                letter, chosen = rule.letter, rule
                break
        mastered = sum(1 for lv in levels if lv >= policy.mastery_threshold)
        explanation = (
            f"{mastered} of {total} targets are at {fmt(policy.mastery_threshold)} or above. "
            + (f"The rule for {chosen.describe()}." if chosen else f"No rule is met, so {letter}.")
            + note
        )
    gpa = dict(policy.gpa_points).get(letter)
    mastered = sum(1 for s in counted if s >= policy.mastery_threshold)
    return CourseGrade(letter, mean, percent, gpa, explanation, len(counted), without, mastered)


def to_percent(score: Decimal, policy: Policy | None = None) -> Decimal:
    """Convert a 4-point score to 0-100 by the policy's piecewise linear anchors (one decimal)."""
    anchors = (policy or Policy()).percent_anchors
    score = to_decimal(score)
    if score <= anchors[0][0]:
        return anchors[0][1]
    for (s0, p0), (s1, p1) in itertools.pairwise(anchors):
        if score <= s1:
            value = p0 + (score - s0) * (p1 - p0) / (s1 - s0)
            return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return anchors[-1][1]


def describe_policy(policy: Policy) -> list[str]:
    """The policy in words, for the policy page and the reports."""
    lines = []
    m = policy.method
    if m == "decaying_average":
        lines.append(
            f"Each new score counts {fmt(policy.weight)}%, the earlier result "
            f"{fmt(100 - policy.weight)}% (decaying average)."
        )
    elif m == "weighted_average":
        lines.append(
            f"The newest score counts {fmt(policy.weight)}%, the average of all earlier scores "
            f"{fmt(100 - policy.weight)}% (weighted average)."
        )
    elif m == "n_times":
        lines.append(
            f"A target is mastered once {policy.n} scores reach {fmt(policy.mastery_threshold)} "
            "or above; the result is their average."
        )
    elif m == "power_law":
        lines.append(
            "The result follows the trend of the scores (power law), "
            + (
                "at the latest attempt."
                if policy.power_law_at == "last"
                else "predicted for the next attempt."
            )
        )
    else:
        recent = (
            f" of the last {policy.recent} scores"
            if policy.recent and m in ("mean", "mode", "median")
            else ""
        )
        lines.append(f"{METHOD_LABELS[m]}{recent}.")
    kinds = (
        "all kinds"
        if policy.counted_kinds is None
        else ", ".join(KIND_LABELS[k] for k in policy.counted_kinds)
    )
    lines.append(f"Evidence that counts: {kinds}. Excused work never counts.")
    lines.append(
        "Students' own ratings of themselves (self-assessments) count as evidence, "
        "like a score, on the day they were made: only the student's latest rating on a target "
        "counts, as one score."
        if policy.count_self_assessment
        else "Students' own ratings of themselves (self-assessments) are shown beside the "
        "teacher's scores but never counted."
    )
    lines.append(
        "Missing work counts as the lowest score."
        if policy.missing_counts_as_minimum
        else "Missing work is shown but never counted as a zero."
    )
    lines.append(f"At least {scores_phrase(policy.min_evidence)} before a level is given.")
    lines.append(f"Mastery: {fmt(policy.mastery_threshold)} or above.")
    lines.append(
        "Levels: "
        + ", ".join(f"{lv.label} ({fmt(lv)}) from {fmt(lv.cutoff)}" for lv in policy.levels)
        + "."
    )
    if policy.course_grade_rule == "mean_band":
        lines.append(
            "Course grade from the average of target scores: "
            + ", ".join(f"{b.letter} from {fmt(b.min_score)}" for b in policy.grade_bands)
            + f", otherwise {policy.fallback_letter}."
        )
    else:
        lines.append(
            "Course grade from how many targets are mastered: "
            + "; ".join(b.describe() for b in policy.threshold_bands)
            + f"; otherwise {policy.fallback_letter}."
        )
    return lines
