"""Students' self-assessments and the calculation: never counted unless the school's policy says
so (`count_self_assessment`), and then counted alike on every path that feeds the engine: the
one-pair recompute, the set-based SQL, the engine batches, the as-of reads, the policy preview and
the cell's explanation.

The numbers are worked by hand: a teacher's 2 then 3, and the student's own 4 (today):
- not counted: mean 2.5, decaying average (65%) 2 → 2.65;
- counted: mean (2 + 3 + 4) ÷ 3 = 3; decaying average 2 → 2.65 → 0.35 × 2.65 + 0.65 × 4 = 3.53.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import Evidence, Mastery, SelfAssessment
from gradebook.selectors.cells import cell_detail
from gradebook.services.evidence import pairs_recompute
from gradebook.services.self_assessment import self_assessment_withdraw
from grading.pair import pair_recompute
from grading.preview import policy_preview
from grading.school import school_recompute_python, school_recompute_sql, stale_school_ids
from grading.services import policy_candidate, policy_change, policy_remove_override
from mastery import calculation
from mastery.calculation import CalculationError, Policy, compute
from mastery.calculation import Evidence as E
from mastery.models import GradingPolicy
from tests.factories import make_attempt, make_self_assessment, make_world
from tests.gradebook.pages import page
from tests.grading.test_policy_page import policy_data, policy_save, policy_url, school_policy
from tests.grading.test_recompute import (
    POLICIES,
    clear_mastery,
    scatter_evidence,
    set_policy,
    snapshot,
)
from tests.grading.test_year_boundary import as_of_python, as_of_sql, both_ways, differences

D1, D2, D3 = date(2026, 9, 1), date(2026, 9, 8), date(2026, 9, 15)
TEACHER_AND_SELF = [E(2, D1), E(3, D2), E(4, D3, kind="self")]


# --- The engine ---------------------------------------------------------------------------------


def test_the_engine_does_not_count_a_self_assessment_by_default():
    outcome = compute(TEACHER_AND_SELF, Policy(method="mean"))
    assert outcome.score == Decimal("2.5") and outcome.counted == 2
    assert "Not counted: 1 self-assessment" in outcome.explanation


def test_every_kind_counting_does_not_reach_self_assessments():
    """counted_kinds=None ("every kind", the older policies' setting) means every kind of
    teacher's evidence; it never silently takes in the student's own ratings."""
    assert compute(TEACHER_AND_SELF, Policy(method="mean", counted_kinds=None)).score == Decimal(
        "2.5"
    )


def test_counted_kinds_cannot_name_self_assessments():
    with pytest.raises(CalculationError, match="count_self_assessment"):
        Policy(counted_kinds=("summative", "self"))


@pytest.mark.parametrize(
    ("method", "counted", "not_counted"),
    [
        ("mean", "3", "2.5"),  # (2 + 3 + 4) / 3
        ("decaying_average", "3.53", "2.65"),  # 2 → 2.65 → 0.35 × 2.65 + 0.65 × 4 = 3.5275
        ("latest", "4", "3"),
        ("highest", "4", "3"),
        # 65% × newest 4 + 35% × average of earlier (2, 3) 2.5 = 3.475 → 3.48; off: 0.65 × 3 +
        # 0.35 × 2 = 2.65.
        ("weighted_average", "3.48", "2.65"),
        ("median", "3", "2.5"),
    ],
)
def test_the_policy_option_counts_a_self_assessment_like_a_score(method, counted, not_counted):
    on = compute(TEACHER_AND_SELF, Policy(method=method, count_self_assessment=True))
    off = compute(TEACHER_AND_SELF, Policy(method=method))
    assert (on.score, off.score) == (Decimal(counted), Decimal(not_counted))
    assert on.counted == 3
    assert "Your own ratings count as evidence" in on.explanation


def test_n_times_counts_a_self_rating_at_mastery_toward_the_times_needed():
    evidence = [E(3, D1), E(3, D2, kind="self")]
    policy = Policy(method="n_times", n=2, count_self_assessment=True)
    assert compute(evidence, policy).score == 3
    assert compute(evidence, Policy(method="n_times", n=2)).score is None


def test_the_policy_in_words_says_whether_self_assessments_count():
    assert any("never counted" in line for line in calculation.describe_policy(Policy())), (
        "off: shown but never counted"
    )
    assert any(
        "count as evidence" in line
        for line in calculation.describe_policy(Policy(count_self_assessment=True))
    )


# --- Every path of the app ----------------------------------------------------------------------


def teacher_two_then_three_and_own_four(w):
    """The world's first student: a teacher's 2 (17 days ago) and 3 (12 days ago), then their
    own rating of 4 today, on the first target."""
    make_attempt(w, w.students[0], w.targets[0], "2", days_ago=10)
    make_attempt(w, w.students[0], w.targets[0], "3", days_ago=5)
    return make_self_assessment(w, "4")


def pair_key(w):
    return (w.students[0].id, w.targets[0].id)


def record_of(w) -> Mastery:
    with scope(school=w.school):
        return Mastery.objects.get(student=w.students[0], target=w.targets[0])


def every_path(w) -> dict[str, Decimal | None]:
    """The pair's score by each path: one pair, the SQL, the engine batches, as of today (SQL and
    engine), and the cell's explanation."""
    key = pair_key(w)
    today = date.today()
    with scope(school=w.school):
        pair = pair_recompute(school=w.school, student_id=key[0], target_id=key[1]).score
        detail = cell_detail(
            school=w.school, section=w.section, student=w.students[0], target=w.targets[0]
        )
    from_sql, from_python = both_ways(w)
    return {
        "pair": pair,
        "sql": from_sql[key][0],
        "python": from_python[key][0],
        "as-of sql": as_of_sql(w, today)[key][0],
        "as-of python": as_of_python(w, today)[key][0],
        "cell": detail.outcome.score,
    }


def test_a_self_assessment_counts_on_no_path_by_default(world_a):
    w = world_a
    set_policy(w, method="mean")
    make_attempt(w, w.students[0], w.targets[0], "2", days_ago=10)
    make_attempt(w, w.students[0], w.targets[0], "3", days_ago=5)
    before = every_path(w)
    whole_before = snapshot(w)
    make_self_assessment(w, "4")
    assert every_path(w) == before == dict.fromkeys(before, Decimal("2.5"))
    assert snapshot(w) == whole_before, "every record identical, counts and explanation included"


def test_a_self_assessment_counts_on_every_path_when_the_policy_says_so(world_a):
    w = world_a
    set_policy(w, method="mean", count_self_assessment=True)
    teacher_two_then_three_and_own_four(w)
    assert record_of(w).score == Decimal(3), "the rating recomputed the record at once"
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal(3))
    set_policy(w, method="decaying_average", count_self_assessment=True)
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal("3.53"))
    record = record_of(w)
    assert (record.evidence_count, record.scores_counted) == (3, 3)
    assert record.explanation == "Decaying average (65% on the newest) of 3 scores: 3.53"


def test_the_cells_explanation_says_the_students_own_rating_counted(world_a):
    w = world_a
    set_policy(w, method="mean", count_self_assessment=True)
    teacher_two_then_three_and_own_four(w)
    with scope(school=w.school):
        detail = cell_detail(
            school=w.school, section=w.section, student=w.students[0], target=w.targets[0]
        )
    assert "Your own ratings count as evidence" in detail.outcome.explanation
    assert "Average of 2, 3, 4 = 9 ÷ 3 = 3" in detail.outcome.explanation
    assert [r.score for r in detail.self_assessments] == [Decimal(4)]


def test_a_withdrawn_self_assessment_counts_nowhere(world_a, in_school):
    w = world_a
    set_policy(w, method="mean", count_self_assessment=True)
    rating = teacher_two_then_three_and_own_four(w)
    with in_school(w):
        self_assessment_withdraw(
            school=w.school, student=w.students[0], rating_id=rating.id, withdrawn_by=w.student_user
        )
    assert record_of(w).score == Decimal("2.5"), "the withdrawal recomputed the record"
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal("2.5"))


def test_a_pair_rated_only_by_the_student_has_no_record_unless_ratings_count(world_a):
    w = world_a
    set_policy(w, method="mean")
    make_self_assessment(w, "3", target=w.targets[2])
    key = (w.students[0].id, w.targets[2].id)
    from_sql, from_python = both_ways(w)
    assert key not in from_sql and key not in from_python
    set_policy(w, method="mean", count_self_assessment=True)
    from_sql, from_python = both_ways(w)
    assert from_sql[key] == from_python[key]
    assert from_sql[key][:5] == (Decimal(3), Decimal(3), True, 1, 1)


def test_the_preview_shows_what_counting_self_assessments_would_change(world_a, in_school):
    w = world_a
    set_policy(w, method="mean")
    teacher_two_then_three_and_own_four(w)
    with in_school(w):
        same = policy_candidate(school=w.school, changed_by=w.admin, note="Only a note")
        counting = policy_candidate(school=w.school, changed_by=w.admin, count_self_assessment=True)
        unchanged = policy_preview(school=w.school, candidate=same)
        changed = policy_preview(school=w.school, candidate=counting)
    assert (unchanged.level_changes, unchanged.mastered_gained) == (0, 0)
    assert (changed.level_changes, changed.mastered_gained) == (1, 1)
    assert "2.5 Developing → 3 Proficient" in changed.examples[0]


def test_turning_the_option_on_recomputes_the_school(
    world_a, in_school, django_capture_on_commit_callbacks
):
    w = world_a
    set_policy(w, method="mean")
    teacher_two_then_three_and_own_four(w)
    assert record_of(w).score == Decimal("2.5")
    with in_school(w), django_capture_on_commit_callbacks(execute=True):
        policy_change(
            school=w.school, changed_by=w.admin, count_self_assessment=True, note="Count them"
        )
    assert record_of(w).score == Decimal(3)
    with scope(school=w.school):
        policy = GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)
    assert policy.count_self_assessment and record_of(w).policy_id == policy.id


def test_policies_made_before_the_option_do_not_count_self_assessments(world_a):
    """Every existing version defaults to off, whatever its counted kinds (None included)."""
    w = world_a
    set_policy(w, method="mean", counted_kinds=[])
    teacher_two_then_three_and_own_four(w)
    assert record_of(w).score == Decimal("2.5")
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal("2.5"))


def scatter_ratings(w, seed: int) -> None:
    """Random ratings by the world's students on every target: several a pair, ties with the
    scores' dates, withdrawn ones, pairs rated with no teacher's evidence."""
    rng = random.Random(seed)
    base = w.assessment.assessed_on
    rows = []
    for student in list(w.students) + list(w.other_students):
        for target in w.targets:
            for _ in range(rng.randint(0, 3)):
                voided = rng.random() < 0.15
                rows.append(
                    SelfAssessment(
                        school=w.school,
                        student=student,
                        target=target,
                        score=Decimal(rng.choice(["1", "1.5", "2", "2.5", "3", "3.5", "4"])),
                        assessed_on=base - timedelta(days=rng.choice([0, 5, 10, 13, 20, 40])),
                        created_by=w.student_user,
                        voided_at=timezone.now() if voided else None,
                        voided_by=w.student_user if voided else None,
                        void_reason="Withdrawn by the student" if voided else "",
                    )
                )
    with scopes_disabled():
        SelfAssessment.objects.bulk_create(rows)


@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
def test_the_sql_and_the_engine_agree_when_self_assessments_count(db, policy):
    w = make_world("selfsql", students=4)
    scatter_evidence(w, 31, students=5)
    scatter_ratings(w, 32)
    set_policy(w, count_self_assessment=True, **policy)
    from_sql, from_python = both_ways(w)
    assert len(from_sql) > 10 and not differences(from_sql, from_python)
    with scope(school=w.school):
        rated = set(
            SelfAssessment.objects.filter(school=w.school).values_list("student_id", "target_id")
        )
        scored = set(
            Evidence.objects.filter(school=w.school).values_list("student_id", "target_id")
        )
        for student_id, target_id in rated | scored:
            pair_recompute(school=w.school, student_id=student_id, target_id=target_id)
    assert not differences(from_sql, snapshot(w)), "the one-pair path agrees too"
    today = date.today()
    assert not differences(as_of_sql(w, today), as_of_python(w, today))


def test_off_the_ratings_change_no_record_of_a_busy_school(db):
    w = make_world("selfoff", students=4)
    scatter_evidence(w, 41, students=5)
    set_policy(w, method="decaying_average")
    clear_mastery(w)
    with scope(school=w.school):
        school_recompute_sql(w.school)
    before = snapshot(w)
    scatter_ratings(w, 42)
    from_sql, from_python = both_ways(w)
    assert from_sql == from_python == before


# --- The policy page, and which writes recompute --------------------------------------------------


def test_an_admin_turns_the_option_on_from_the_policy_page_and_it_is_explained(
    client, world_a, django_capture_on_commit_callbacks
):
    w = world_a
    set_policy(w, method="mean")
    teacher_two_then_three_and_own_four(w)
    client.force_login(w.admin)
    shown = page(client.get(policy_url(w)))
    assert "Count students' self-assessments" in shown
    assert "is shown beside the teacher's scores and never counted toward a level" in shown
    assert "are shown beside the teacher's scores but never counted" in shown  # the rule in words
    data = policy_data(school_policy(w), "save", count_self_assessment=True, note="Count them")
    asked = page(client.post(policy_url(w), data))
    assert "1 result becomes mastered" in asked, "the preview counts the rating"
    with django_capture_on_commit_callbacks(execute=True):
        saved = policy_save(client, policy_url(w), data)
    assert saved.status_code == 302
    policy = school_policy(w)
    assert policy.count_self_assessment and policy.version == 2
    assert record_of(w).score == Decimal(3), "the school was recomputed under the new version"
    shown = page(client.get(policy_url(w)))
    assert "only the student's latest rating on a target counts, as one score" in shown
    assert "count as evidence, like a score, on the day they were made" in shown
    assert "only the student's latest rating on a target counts, as one score." in shown


def test_a_rating_recomputes_nothing_while_ratings_do_not_count(world_a):
    w = world_a
    set_policy(w, method="mean")
    make_attempt(w, w.students[0], w.targets[0], "2", days_ago=10)
    before = record_of(w).computed_at
    make_self_assessment(w, "4")
    make_self_assessment(w, "3", target=w.targets[2])
    assert record_of(w).computed_at == before, "the record was not even rewritten"
    with scope(school=w.school):
        assert not Mastery.objects.filter(student=w.students[0], target=w.targets[2]).exists()
    set_policy(w, method="mean", count_self_assessment=True)
    make_self_assessment(w, "1", target=w.targets[2])
    with scope(school=w.school):
        (own,) = Mastery.objects.filter(student=w.students[0], target=w.targets[2])
    assert own.score == Decimal(1), (
        "the day's later rating, 1, is the student's latest: it alone counts"
    )


# --- Turning the option off, and a student rating themselves again and again ---------------------


def change_counting(w, in_school, on_commit, counted: bool) -> None:
    """The admin changes the school's policy; its recompute runs when the change commits."""
    with in_school(w), on_commit(execute=True):
        policy_change(
            school=w.school,
            changed_by=w.admin,
            count_self_assessment=counted,
            note="Count them" if counted else "Stop counting them",
        )


def rated_only_level(w) -> Decimal | None:
    """The level of the first student on the third target, which only they rated."""
    with scope(school=w.school):
        record = Mastery.objects.filter(student=w.students[0], target=w.targets[2]).first()
    return record.level if record else None


def test_turning_the_option_off_takes_away_a_level_made_from_ratings_alone(
    world_a, in_school, django_capture_on_commit_callbacks
):
    """A pair the teacher never scored had a level only from the student's own rating; once the
    ratings stop counting it has none, on every path, and the school is not stale for ever."""
    w = world_a
    on_commit = django_capture_on_commit_callbacks
    set_policy(w, method="mean")
    change_counting(w, in_school, on_commit, True)
    make_self_assessment(w, "3", target=w.targets[2])
    assert rated_only_level(w) == Decimal(3)
    change_counting(w, in_school, on_commit, False)
    assert rated_only_level(w) is None, "the set recompute took the rating's level away"
    assert stale_school_ids() == []
    key = (w.students[0].id, w.targets[2].id)
    with scope(school=w.school):
        assert pair_recompute(school=w.school, student_id=key[0], target_id=key[1]).level is None
        pairs_recompute(school=w.school, pairs={key})
    assert rated_only_level(w) is None, "nor does one pair's recompute give it back"
    assert stale_school_ids() == []
    change_counting(w, in_school, on_commit, True)
    assert rated_only_level(w) == Decimal(3), "counted again, the rating's level is back"
    change_counting(w, in_school, on_commit, False)
    with scope(school=w.school):
        school_recompute_python(w.school)
    assert rated_only_level(w) is None, "the engine batches take it away too"
    assert stale_school_ids() == []


def test_a_course_override_that_counted_ratings_removed_leaves_no_level_from_them(
    world_a, in_school, django_capture_on_commit_callbacks
):
    w = world_a
    set_policy(w, method="mean")
    with in_school(w):
        policy_change(
            school=w.school,
            changed_by=w.admin,
            course=w.course,
            count_self_assessment=True,
            note="This course counts them",
        )
    with scope(school=w.school):
        school_recompute_sql(w.school)
    make_self_assessment(w, "3", target=w.targets[2])
    assert rated_only_level(w) == Decimal(3)
    with in_school(w), django_capture_on_commit_callbacks(execute=True):
        policy_remove_override(school=w.school, course=w.course, changed_by=w.admin)
    assert rated_only_level(w) is None
    assert stale_school_ids() == []


def test_only_the_students_latest_rating_counts_as_one_score(world_a, in_school):
    """Three ratings of 4, then the teacher's 1 and 2: the mean of 1, 2 and the latest rating
    (7 ÷ 3 = 2.33), not of 1, 2, 4, 4, 4 (3); rating oneself again replaces the rating."""
    w = world_a
    set_policy(w, method="mean", count_self_assessment=True)
    for days_ago in (9, 8, 7):
        make_self_assessment(w, "4", days_ago=days_ago)
    make_attempt(w, w.students[0], w.targets[0], "1", days_ago=3)
    make_attempt(w, w.students[0], w.targets[0], "2", days_ago=2)
    assert record_of(w).score == Decimal("2.33")
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal("2.33"))
    record = record_of(w)
    assert (record.evidence_count, record.scores_counted) == (3, 3)
    key = pair_key(w)
    with scope(school=w.school):
        assert pairs_recompute(school=w.school, pairs={key}) == 1
    assert record_of(w).score == Decimal("2.33")
    with scope(school=w.school):
        detail = cell_detail(
            school=w.school, section=w.section, student=w.students[0], target=w.targets[0]
        )
    assert "Average of 1, 2, 4 = 7 ÷ 3 = 2.33" in detail.outcome.explanation
    make_self_assessment(w, "1")  # today: now the latest
    assert every_path(w) == dict.fromkeys(every_path(w), Decimal("1.33"))
    # As of yesterday the latest rating was still a 4.
    yesterday = date.today() - timedelta(days=1)
    assert as_of_sql(w, yesterday)[key][0] == as_of_python(w, yesterday)[key][0] == Decimal("2.33")


def test_the_preview_counts_only_the_latest_rating(world_a, in_school):
    w = world_a
    set_policy(w, method="mean")
    for days_ago in (9, 8, 7):
        make_self_assessment(w, "4", days_ago=days_ago)
    make_attempt(w, w.students[0], w.targets[0], "1", days_ago=3)
    make_attempt(w, w.students[0], w.targets[0], "2", days_ago=2)
    with in_school(w):
        counting = policy_candidate(school=w.school, changed_by=w.admin, count_self_assessment=True)
        changed = policy_preview(school=w.school, candidate=counting)
    assert any(example.endswith("→ 2.33 Developing") for example in changed.examples), (
        changed.examples
    )


def test_a_busy_school_that_stops_counting_ratings_is_left_as_if_it_never_had(db):
    """Ratings counted (many pairs rated only by their students got records), then not: the SQL
    and the engine batches each leave exactly the records of a school that never counted them,
    and the school is not stale."""
    w = make_world("selfstop", students=4)
    scatter_evidence(w, 51, students=5)
    scatter_ratings(w, 52)
    set_policy(w, method="mean")
    never = both_ways(w)[0]
    for recompute in (school_recompute_sql, school_recompute_python):
        clear_mastery(w)
        set_policy(w, method="mean", count_self_assessment=True)
        with scope(school=w.school):
            school_recompute_sql(w.school)
        assert len(snapshot(w)) > len(never), "rated-only pairs got records while ratings counted"
        set_policy(w, method="mean", count_self_assessment=False)
        with scope(school=w.school):
            recompute(w.school)
        assert snapshot(w) == never, recompute.__name__
    assert stale_school_ids() == []


def test_the_preview_of_turning_the_option_off_shows_the_rated_only_level_going(
    world_a, in_school, django_capture_on_commit_callbacks
):
    w = world_a
    set_policy(w, method="mean")
    change_counting(w, in_school, django_capture_on_commit_callbacks, True)
    make_self_assessment(w, "3", target=w.targets[2])
    with in_school(w):
        off = policy_candidate(school=w.school, changed_by=w.admin, count_self_assessment=False)
        preview = policy_preview(school=w.school, candidate=off)
    assert (preview.level_changes, preview.mastered_lost) == (1, 1)
    assert preview.examples == [f"Student0 Student, {w.targets[2].code}: 3 Proficient → no level"]
