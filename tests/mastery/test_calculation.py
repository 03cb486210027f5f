"""The calculation engine against published worked examples, and its properties.

Each worked example names the public document it comes from. Scores are listed oldest first.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mastery.calculation import (
    METHODS,
    CalculationError,
    Evidence,
    GradeBand,
    Level,
    Policy,
    ThresholdBand,
    compute,
    course_grade,
    describe_policy,
    fmt,
    to_percent,
)

D0 = date(2026, 9, 1)


def series(*scores, kind="summative"):
    return [
        Evidence(score=s, assessed_on=D0 + timedelta(days=7 * i), kind=kind)
        for i, s in enumerate(scores)
    ]


def score_of(scores, **policy):
    return compute(series(*scores), Policy(**policy)).score


# --- Worked examples from public documentation ------------------------------------------------------

WORKED_EXAMPLES = [
    # docs/design.md section 5, the contract's own examples.
    ("docs/design.md §5", (2, 3, 4), {"method": "decaying_average", "weight": 65}, "3.53"),
    ("docs/design.md §5", (2, 3, 4), {"method": "weighted_average", "weight": 65}, "3.48"),
    ("docs/design.md §5", (1, 3, 2, 4), {"method": "power_law"}, "3.66"),
    # PowerSchool Learning, "What is a Decaying Average in Standards-Based Grading?"
    # https://help.powerschool.com/t5/Learning-Applications/What-is-a-Decaying-Average-in-Standards-Based-Grading/ta-p/404
    # ".35(2) + .65(3) = 2.65" / ".35(2.65) + .65(4) = 3.53"; the same page: Average 3, Most Recent 4.
    ("PowerSchool decaying average", (2, 3), {"method": "decaying_average", "weight": 65}, "2.65"),
    (
        "PowerSchool decaying average",
        (2, 3, 4),
        {"method": "decaying_average", "weight": 65},
        "3.53",
    ),
    ("PowerSchool comparison table", (2, 3, 4), {"method": "mean"}, "3"),
    ("PowerSchool comparison table", (2, 3, 4), {"method": "latest"}, "4"),
    # Mastery Connect, "Proficiency Calculations Overview" (and Otus): 1, 2, 3, 4 at 65% gives 3.48.
    # https://community.canvaslms.com/t5/MasteryConnect-Admin/Proficiency-Calculations-Overview/ta-p/386970
    (
        "Mastery Connect decaying average",
        (1, 2, 3, 4),
        {"method": "decaying_average", "weight": 65},
        "3.48",
    ),
    # canvas-lms spec/services/outcomes/student_outcome_rollup_calculation_service_spec.rb:
    # "[1,2] -> 1.65, [1.65,3] -> 2.5275, [2.5275,4] -> 3.485, [3.485,5] -> 4.47" (a 1-5 scale),
    # and the legacy formula (now Canvas's "Weighted Average"): "= 3.25 + 0.875 = 4.125" → 4.13.
    (
        "Canvas standard_decaying_average",
        (1, 2, 3, 4, 5),
        {"method": "decaying_average", "weight": 65, "scale_max": 5},
        "4.47",
    ),
    (
        "Canvas legacy decaying average",
        (1, 2, 3, 4, 5),
        {"method": "weighted_average", "weight": 65, "scale_max": 5},
        "4.13",
    ),
    # canvas-lms spec/lib/outcomes/result_analytics_spec.rb: OLD decaying_average at 75%, submitted
    # 3, 1, 5, 4 (oldest first) on a 1-5 scale → 3.75.
    (
        "Canvas result_analytics legacy 75%",
        (3, 1, 5, 4),
        {"method": "weighted_average", "weight": 75, "scale_max": 5},
        "3.75",
    ),
    # The Canvas Community question "Decaying Average in Mastery Learning" (2017): (.65 × 4.5) + (.35 × 5)
    # = 4.68, i.e. the newest 4.5 after earlier scores averaging 5 (here: 5, 5), on a 5-point outcome.
    (
        "Canvas community 65/35",
        (5, 5, "4.5"),
        {"method": "weighted_average", "weight": 65, "scale_max": 5},
        "4.68",
    ),
    # canvas-lms result_analytics_spec.rb, n_mastery with mastery at 3: [4,5,1,3,2,3] n=3 → 3.75,
    # [1,2,3] n=1 → 3.0, [1,2,3,4] n=1 → 3.5, [3,4,3] n=3 → 3.33; [3,1] n=3 → nil.
    (
        "Canvas n_mastery",
        (4, 5, 1, 3, 2, 3),
        {"method": "n_times", "n": 3, "scale_max": 5},
        "3.75",
    ),
    ("Canvas n_mastery", (1, 2, 3), {"method": "n_times", "n": 1}, "3"),
    ("Canvas n_mastery", (1, 2, 3, 4), {"method": "n_times", "n": 1}, "3.5"),
    ("Canvas n_mastery", (3, 4, 3), {"method": "n_times", "n": 3}, "3.33"),
    ("Canvas n_mastery", (3, 1), {"method": "n_times", "n": 3}, None),
    # canvas-lms rollup spec: highest of [1..5] = 5, latest of [1, 2, 4, 5, 3] = 3, average of [1..5] = 3.
    ("Canvas highest", (1, 2, 3, 4, 5), {"method": "highest", "scale_max": 5}, "5"),
    ("Canvas latest", (1, 2, 4, 5, 3), {"method": "latest", "scale_max": 5}, "3"),
    ("Canvas average", (1, 2, 3, 4, 5), {"method": "mean", "scale_max": 5}, "3"),
    # Educate (cbk12), "How Educate Calculates Standards-Based Grading": mode of 1, 2, 3, 3, 4 is 3;
    # average of 4, 3, 3, 4 is 3.5.  https://cbk12sis.groovehq.com/help/standards-based-grading-calculations
    ("Educate mode", (1, 2, 3, 3, 4), {"method": "mode"}, "3"),
    ("Educate average", (4, 3, 3, 4), {"method": "mean"}, "3.5"),
    # Mastery Connect (page above): "In the case of a tie, the higher mastery level will determine
    # proficiency status. For example, a student with R, NM, NM, M, M will result in M." (R=1, NM=2, M=3)
    ("Mastery Connect mode tie", (1, 2, 2, 3, 3), {"method": "mode", "mode_ties": "higher"}, "3"),
    # Common Goal Systems, "standards based grading scale grade calculation modes": medians 3 and 2.
    # https://commongoalsystems.zendesk.com/hc/en-us/articles/360002472192
    ("Common Goal Systems median", (4, 4, 3, 3, 3, 2, 2, 2, 1), {"method": "median"}, "3"),
    ("Common Goal Systems median", (4, 3, 3, 2, 2, 2, 1), {"method": "median"}, "2"),
    # JumpRope, "The power of the Power Law" (table, evaluated at the latest attempt):
    # https://support.jumpro.pe/hc/en-us/articles/203185740-The-power-of-the-Power-Law
    ("JumpRope power law", (1, 2, 3, 4), {"method": "power_law"}, "4"),
    ("JumpRope power law", (1, 3, 2, 4), {"method": "power_law"}, "3.66"),
    ("JumpRope power law", (2, 4, 1, 3), {"method": "power_law"}, "2.16"),
    ("JumpRope power law", (4, 3, 2, 1), {"method": "power_law"}, "1.28"),
    # mrmathman.com "Power failure" (Casio power regression): "3-3-1-3 = 1.90", "3-3-1-3-4-4 = 3.07".
    ("mrmathman power law", (3, 3, 1, 3), {"method": "power_law"}, "1.9"),
    ("mrmathman power law", (3, 3, 1, 3, 4, 4), {"method": "power_law"}, "3.07"),
    # NHA GradeBook FAQ: "2, 2.5, 3, 4 … would be a 4": the trend predicted for the next attempt
    # (4.09) held to the top of the scale.
    (
        "NHA power law, next attempt",
        (2, "2.5", 3, 4),
        {"method": "power_law", "power_law_at": "next"},
        "4",
    ),
]


@pytest.mark.parametrize(("source", "scores", "policy", "expected"), WORKED_EXAMPLES)
def test_it_matches_the_published_worked_example(source, scores, policy, expected):
    result = score_of(scores, **policy)
    assert result == (None if expected is None else Decimal(expected)), source


def test_it_explains_a_decaying_average_step_by_step():
    outcome = compute(series(2, 3, 4), Policy(method="decaying_average", weight=65))
    assert "Decaying average (65% on the newest): 2 → 2.65 → 3.53" in outcome.explanation
    assert outcome.level == 4 and outcome.level.label == "Advanced"
    assert outcome.mastered is True
    assert outcome.summary == "Decaying average (65% on the newest) of 3 scores: 3.53"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_explains_itself_in_words(method):
    outcome = compute(series(1, 2, 3, 3, 4), Policy(method=method, n=2))
    assert outcome.score is not None
    assert outcome.summary.endswith(": " + fmt(outcome.score))
    assert f"is level {fmt(outcome.level)} ({outcome.level.label})" in outcome.explanation


def test_mode_breaks_ties_toward_the_more_recent_score_when_asked():
    # Educate's rule: "the Mode will reflect the more recently scored assignment".
    assert score_of((3, 3, 2, 2), method="mode", mode_ties="recent") == Decimal(2)
    assert score_of((3, 3, 2, 2), method="mode", mode_ties="higher") == Decimal(3)
    assert score_of((2, 2, 3, 3), method="mode", mode_ties="recent") == Decimal(3)


def test_mean_mode_and_median_can_use_only_the_most_recent_scores():
    assert score_of((1, 1, 3, 4), method="mean", recent=2) == Decimal("3.5")
    assert score_of((1, 1, 1, 3, 3), method="mode", recent=2) == Decimal(3)
    assert score_of((1, 2, 3, 4, 4), method="median", recent=3) == Decimal(4)
    outcome = compute(series(1, 1, 3, 4), Policy(method="mean", recent=2))
    assert outcome.summary == "Average of the last 2 of 4 scores: 3.5"


def test_power_law_falls_back_to_the_decaying_average_under_three_scores():
    outcome = compute(series(2, 3), Policy(method="power_law", weight=65))
    assert outcome.score == Decimal("2.65")
    assert "fewer than 3" in outcome.summary


def test_power_law_is_held_to_the_scale():
    assert score_of((1, 2, 3, 4), method="power_law", power_law_at="next") == Decimal(4)


def test_n_times_reports_not_enough_evidence_until_mastered_n_times():
    outcome = compute(series(3, 1, 2), Policy(method="n_times", n=2))
    assert outcome.score is None and outcome.level is None and not outcome.mastered
    assert outcome.summary == "1 of 2 needed scores at 3 or above so far"


# --- Statuses, kinds and minimum evidence ------------------------------------------------------


def test_excused_and_insufficient_evidence_are_ignored():
    evidence = [
        *series(2, 3),
        Evidence(score=None, assessed_on=D0 + timedelta(days=30), status="excused"),
        Evidence(score=None, assessed_on=D0 + timedelta(days=31), status="insufficient"),
    ]
    outcome = compute(evidence, Policy(method="latest"))
    assert outcome.score == Decimal(3)
    assert "1 excused" in outcome.explanation and "1 insufficient evidence" in outcome.explanation
    assert outcome.evidence_count == 4 and outcome.counted == 2


def test_missing_work_is_never_a_zero_but_may_count_as_the_scale_minimum():
    evidence = [
        *series(3, 3),
        Evidence(score=None, assessed_on=D0 + timedelta(days=30), status="missing"),
    ]
    assert compute(evidence, Policy(method="mean")).score == Decimal(3)
    counted = compute(evidence, Policy(method="mean", missing_counts_as_minimum=True))
    assert counted.score == Decimal("2.33")
    assert "Missing work counts as 1" in counted.explanation


def test_pre_assessments_do_not_count_by_default_but_a_policy_may_count_them():
    evidence = [*series(1, kind="pre"), Evidence(score=3, assessed_on=D0 + timedelta(days=3))]
    assert compute(evidence, Policy(method="mean")).score == Decimal(3)
    assert compute(evidence, Policy(method="mean", counted_kinds=None)).score == Decimal(2)
    assert compute(evidence, Policy(method="mean", counted_kinds=("pre",))).score == Decimal(1)


def test_fewer_scores_than_the_minimum_give_no_score_and_say_so():
    outcome = compute(series(4), Policy(method="mean", min_evidence=2))
    assert outcome.score is None and outcome.level is None and outcome.mastered is False
    assert outcome.summary == "Not enough evidence: 1 score counted, 2 needed"


def test_no_evidence_at_all_is_insufficient_evidence():
    outcome = compute([], Policy())
    assert outcome.score is None and outcome.insufficient and outcome.last_assessed_on is None


# --- Rounding, banding, validation -----------------------------------------------------------------


def test_rounding_is_half_up_to_two_places():
    # 0.65·4 + 0.35·2.5 = 3.475 exactly: half up gives 3.48 (banker's rounding would give 3.48 too,
    # so also check 4.125 → 4.13 where banker's rounding gives 4.12).
    assert score_of((1, 2, 3, 4, 5), method="weighted_average", weight=65, scale_max=5) == Decimal(
        "4.13"
    )
    assert score_of((2, 3, 4), method="weighted_average", weight=65).as_tuple().exponent == -2


def test_banding_picks_the_highest_level_whose_cutoff_is_at_or_below_the_score():
    levels = (
        Level(1, "Beginning", 1),
        Level(2, "Developing", 2),
        Level(3, "Proficient", 3),
        Level(4, "Advanced", "3.5"),
    )
    policy = Policy(method="mean", levels=levels)
    assert policy.band(Decimal("3.49")) == 3
    assert policy.band(Decimal("3.5")).label == "Advanced"
    assert policy.band(Decimal("1.99")) == 1
    custom = Policy(method="mean", levels=(Level(1, "Does Not Meet", 1), Level(2, "Meets", "2.5")))
    assert custom.band(Decimal("2.49")).label == "Does Not Meet"


def test_mastered_is_judged_on_the_rounded_score():
    # 2.995 rounds to 3.00, which is mastery.
    outcome = compute(series(3, "2.99"), Policy(method="mean", scale_max=4))
    assert outcome.score == Decimal("3.00") and outcome.mastered


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "average"},
        {"weight": 0},
        {"weight": 101},
        {"n": 0},
        {"recent": 0},
        {"power_law_at": "first"},
        {"mode_ties": "lower"},
        {"min_evidence": 0},
        {"mastery_threshold": 5},
        {"scale_min": 4, "scale_max": 1},
        {"counted_kinds": ("homework",)},
        {"course_grade_rule": "gpa"},
        {"method": "power_law", "scale_min": 0},
    ],
)
def test_a_nonsensical_policy_is_refused_with_a_reason(kwargs):
    with pytest.raises(CalculationError):
        Policy(**kwargs)


def test_a_score_off_the_scale_is_refused():
    with pytest.raises(CalculationError, match="off the scale"):
        compute(series(5), Policy())
    with pytest.raises(CalculationError):
        Evidence(score=None, assessed_on=D0)
    with pytest.raises(CalculationError):
        Evidence(score=3, assessed_on=D0, status="late")


# --- Course grades ----------------------------------------------------------------------------------


def test_mean_band_course_grade_explains_itself():
    grade = course_grade([Decimal("3.2"), Decimal("2.5"), None], Policy())
    assert grade.letter == "B" and grade.mean == Decimal("2.85")
    assert (
        "2.85" in grade.explanation
        and "1 target without enough evidence is not counted" in grade.explanation
    )
    assert grade.gpa == Decimal("3.0")
    assert grade.percent == Decimal("87.0")


def test_threshold_count_course_grade_follows_the_rule_in_words():
    policy = Policy(course_grade_rule="threshold_count")
    # 9 of 10 at 3+, 5 of 10 at level 4 (score ≥ 3.5), none below 2 → A.
    scores = [4, 4, 4, 4, "3.5", 3, 3, 3, 3, 2]
    grade = course_grade(scores, policy)
    assert grade.letter == "A"
    assert (
        "at least 90% of targets at 3 or above, at least 50% of targets at 4 or above, none below 2"
        in grade.explanation
    )
    # One target at level 1 breaks "none below 2".
    assert course_grade([4, 4, 4, 4, 4, 4, 4, 4, 4, 1], policy).letter == "C"
    assert course_grade([], policy).letter is None


def test_custom_letter_bands_are_used():
    policy = Policy(grade_bands=(GradeBand("M", 3), GradeBand("P", 2)), fallback_letter="NY")
    assert course_grade([3, 3], policy).letter == "M"
    assert course_grade([1, 1], policy).letter == "NY"
    threshold = Policy(
        course_grade_rule="threshold_count", threshold_bands=(ThresholdBand("Pass", ((3, 50),)),)
    )
    assert course_grade([3, 1], threshold).letter == "Pass"


def test_percent_conversion_is_piecewise_linear_between_anchors():
    assert to_percent(Decimal(4)) == Decimal(100)
    assert to_percent(Decimal(3)) == Decimal(90)
    assert to_percent(Decimal("2.75")) == Decimal("85.0")
    assert to_percent(Decimal("0.5")) == Decimal(50)


def test_the_policy_can_be_read_in_plain_words():
    lines = describe_policy(Policy(method="decaying_average", weight=65))
    assert lines[0] == "Each new score counts 65%, the earlier result 35% (decaying average)."
    assert any("never counted as a zero" in line for line in lines)


# --- Properties -------------------------------------------------------------------------------------

half_points = st.sampled_from([Decimal(v) for v in ("1", "1.5", "2", "2.5", "3", "3.5", "4")])
methods = st.sampled_from(METHODS)


def policies():
    return st.builds(
        Policy,
        method=methods,
        weight=st.integers(min_value=1, max_value=100),
        n=st.integers(min_value=1, max_value=4),
        recent=st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
        power_law_at=st.sampled_from(["last", "next"]),
        mode_ties=st.sampled_from(["higher", "recent"]),
        min_evidence=st.integers(min_value=1, max_value=3),
        missing_counts_as_minimum=st.booleans(),
    )


@st.composite
def evidence_lists(draw, min_size=0):
    scores = draw(st.lists(half_points, min_size=min_size, max_size=9))
    offsets = draw(
        st.lists(st.integers(0, 300), min_size=len(scores), max_size=len(scores), unique=True)
    )
    kinds = draw(
        st.lists(
            st.sampled_from(["formative", "summative", "interim", "reassessment"]),
            min_size=len(scores),
            max_size=len(scores),
        )
    )
    return [
        Evidence(score=s, assessed_on=D0 + timedelta(days=o), kind=k)
        for s, o, k in zip(scores, offsets, kinds, strict=True)
    ]


@settings(max_examples=300, deadline=None)
@given(evidence=evidence_lists(), policy=policies())
def test_the_score_always_lies_on_the_scale_with_two_places(evidence, policy):
    outcome = compute(evidence, policy)
    if outcome.score is not None:
        assert policy.scale_min <= outcome.score <= policy.scale_max
        assert outcome.score.as_tuple().exponent == -2
        assert outcome.level.cutoff <= outcome.score or outcome.level == policy.levels[0]
        assert outcome.mastered == (outcome.score >= policy.mastery_threshold)
    else:
        assert outcome.level is None and outcome.mastered is False


@settings(max_examples=200, deadline=None)
@given(value=half_points, count=st.integers(min_value=1, max_value=8), policy=policies())
def test_a_constant_sequence_gives_that_constant_for_every_method(value, count, policy):
    assume(count >= policy.min_evidence)
    outcome = compute(
        [Evidence(score=value, assessed_on=D0 + timedelta(days=i)) for i in range(count)], policy
    )
    if policy.method == "n_times" and (value < policy.mastery_threshold or count < policy.n):
        assert outcome.score is None
    else:
        assert outcome.score == value


@settings(max_examples=200, deadline=None)
@given(evidence=evidence_lists(), policy=policies(), data=st.data())
def test_input_order_never_matters_only_evidence_dates(evidence, policy, data):
    shuffled = data.draw(st.permutations(evidence))
    assert compute(shuffled, policy) == compute(evidence, policy)


@settings(max_examples=200, deadline=None)
@given(
    evidence=evidence_lists(),
    policy=policies(),
    day=st.integers(0, 300),
    status=st.sampled_from(["excused", "insufficient", "incomplete"]),
)
def test_excused_incomplete_and_insufficient_evidence_never_change_a_result(
    evidence, policy, day, status
):
    before = compute(evidence, policy)
    after = compute(
        [*evidence, Evidence(score=None, assessed_on=D0 + timedelta(days=day), status=status)],
        policy,
    )
    assert (after.score, after.level, after.mastered) == (
        before.score,
        before.level,
        before.mastered,
    )


@settings(max_examples=200, deadline=None)
@given(evidence=evidence_lists(), policy=policies(), day=st.integers(0, 300))
def test_missing_work_never_lowers_a_score_unless_the_policy_counts_it(evidence, policy, day):
    missing = Evidence(score=None, assessed_on=D0 + timedelta(days=day), status="missing")
    plain = Policy(**{**policy.__dict__, "missing_counts_as_minimum": False})
    assert compute([*evidence, missing], plain).score == compute(evidence, plain).score


@settings(max_examples=200, deadline=None)
@given(evidence=evidence_lists(min_size=1))
def test_summary_statistics_stay_between_the_lowest_and_the_highest_score(evidence):
    scores = [e.score for e in evidence]
    for method in (
        "mean",
        "median",
        "mode",
        "decaying_average",
        "weighted_average",
        "latest",
        "highest",
    ):
        value = compute(evidence, Policy(method=method)).score
        assert min(scores) <= value <= max(scores), method
    assert compute(evidence, Policy(method="highest")).score == max(scores)


@settings(max_examples=100, deadline=None)
@given(evidence=evidence_lists(min_size=1), better=half_points, day=st.integers(301, 400))
def test_a_new_higher_score_never_lowers_latest_highest_or_decaying_results(evidence, better, day):
    newest = Evidence(score=better, assessed_on=D0 + timedelta(days=day))
    for method in ("latest", "highest", "decaying_average"):
        before = compute(evidence, Policy(method=method)).score
        if better >= max(e.score for e in evidence):
            assert compute([*evidence, newest], Policy(method=method)).score >= before, method
