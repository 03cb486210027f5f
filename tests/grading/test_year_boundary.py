"""The year boundary: this school year's levels count this year's evidence, unless the policy
carries prior years; the one-pair path, the set-based SQL, the engine batches, the as-of reads and
the preview agree on it, and a school without years counts every date as before.

The world's scattered evidence (tests/grading/test_recompute.scatter_evidence) is dated from 47
to 7 days ago; the school year here began 30 days ago, so two of its seven assessments (47 and 37
days ago) belong to last year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_scopes import scope

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    Mastery,
    SchoolYear,
    Section,
)
from gradebook.services.evidence import pairs_recompute
from grading.as_of import (
    outcomes_as_of_python,
    outcomes_as_of_sql,
    records_as_of_python,
    records_as_of_sql,
)
from grading.pair import pair_recompute
from grading.policies import year_start
from grading.preview import policy_preview
from grading.school import (
    school_recompute_python,
    school_recompute_sql,
    stale_school_ids,
    year_stale_school_ids,
)
from grading.services import policy_candidate, policy_change
from mastery.models import GradingPolicy
from tests.factories import make_assessment, make_evidence, make_student, make_world
from tests.gradebook.pages import page
from tests.grading.test_policy_page import policy_data, policy_save, policy_url, school_policy
from tests.grading.test_recompute import (
    POLICIES,
    clear_mastery,
    scatter_evidence,
    set_policy,
    snapshot,
)

TODAY = date.today()
THIS_START = TODAY - timedelta(days=30)
LAST_START = TODAY - timedelta(days=400)


def add_years(w, *, this_start: date = THIS_START):
    with scope(school=w.school):
        last = SchoolYear.objects.create(
            school=w.school,
            name="Last year",
            starts_on=LAST_START,
            ends_on=this_start - timedelta(days=1),
        )
        this = SchoolYear.objects.create(
            school=w.school,
            name="This year",
            starts_on=this_start,
            ends_on=TODAY + timedelta(days=300),
        )
    return last, this


def both_ways(w) -> tuple[dict, dict]:
    """Every record of the school by the set-based SQL, then by the engine batches."""
    clear_mastery(w)
    with scope(school=w.school):
        school_recompute_sql(w.school)
    from_sql = snapshot(w)
    clear_mastery(w)
    with scope(school=w.school):
        school_recompute_python(w.school)
    return from_sql, snapshot(w)


def one_pair_at_a_time(w) -> dict:
    clear_mastery(w)
    with scope(school=w.school):
        pairs = set(Evidence.objects.filter(school=w.school).values_list("student_id", "target_id"))
        for student_id, target_id in pairs:
            pair_recompute(school=w.school, student_id=student_id, target_id=target_id)
    return snapshot(w)


def differences(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


# --- One pair -----------------------------------------------------------------------------------------


def last_years_four_and_this_years_one(w):
    """A 4 on F1 last year (bulk, as an import would leave it), then a 1 recorded this year."""
    old = make_assessment(w.school, w.course, w.targets, on=THIS_START - timedelta(days=20))
    with scope(school=w.school):
        Evidence.objects.create(
            school=w.school,
            student=w.students[1],
            target=w.targets[0],
            assessment=old,
            score=Decimal(4),
            kind=old.kind,
            assessed_on=old.assessed_on,
            recorded_by=w.teacher,
        )
    return make_evidence(w, w.students[1], w.targets[0], "1").mastery


def test_last_years_evidence_is_absent_from_this_years_level(world_a):
    add_years(world_a)
    record = last_years_four_and_this_years_one(world_a)
    assert (record.score, record.evidence_count) == (Decimal(1), 1)
    assert record.last_evidence_on == world_a.assessment.assessed_on


def test_a_policy_that_carries_prior_years_keeps_last_years_evidence(world_a):
    add_years(world_a)
    set_policy(world_a, carry_prior_years=True, method="mean")
    record = last_years_four_and_this_years_one(world_a)
    assert (record.score, record.evidence_count) == (Decimal("2.5"), 2)


def test_without_school_years_every_date_counts_as_before(world_a):
    set_policy(world_a, method="mean")
    record = last_years_four_and_this_years_one(world_a)
    assert (record.score, record.evidence_count) == (Decimal("2.5"), 2)


def test_a_pair_with_only_last_years_evidence_has_no_level_this_year_on_every_path(world_a):
    add_years(world_a)
    old = make_assessment(
        world_a.school, world_a.course, world_a.targets, on=THIS_START - timedelta(days=3)
    )
    make_evidence(world_a, world_a.students[0], world_a.targets[1], "4", assessment=old)
    with scope(school=world_a.school):
        record = Mastery.objects.get(student=world_a.students[0], target=world_a.targets[1])
    assert (record.score, record.level, record.evidence_count) == (None, None, 0)
    assert record.explanation == "Not enough evidence: 0 scores counted, 1 needed"
    from_sql, from_python = both_ways(world_a)
    key = (world_a.students[0].id, world_a.targets[1].id)
    assert from_sql[key] == from_python[key] == snapshot_of(record)


def snapshot_of(record: Mastery) -> tuple:
    return (
        record.score,
        record.level,
        record.mastered,
        record.evidence_count,
        record.scores_counted,
        record.last_evidence_on,
        record.explanation,
        record.policy_id,
    )


def test_the_year_that_counts_is_the_latest_to_have_begun(world_a):
    add_years(world_a)
    with scope(school=world_a.school):
        SchoolYear.objects.create(
            school=world_a.school,
            name="Next year",
            starts_on=TODAY + timedelta(days=301),
            ends_on=TODAY + timedelta(days=600),
        )
        assert year_start(world_a.school) == THIS_START
        assert year_start(world_a.school, THIS_START - timedelta(days=1)) == LAST_START
        assert year_start(world_a.school, LAST_START - timedelta(days=1)) is None


# --- The whole school: SQL and Python agree -------------------------------------------------------


@pytest.mark.parametrize("carry", [False, True], ids=["this-year", "carried"])
@pytest.mark.parametrize(
    "policy", POLICIES[::3], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
def test_the_sql_the_engine_batches_and_the_one_pair_path_agree_across_a_year_boundary(
    db, policy, carry
):
    w = make_world("boundary", students=4)
    add_years(w)
    scatter_evidence(w, 11)
    set_policy(w, carry_prior_years=carry, **policy)
    from_sql, from_python = both_ways(w)
    assert len(from_sql) > 10 and not differences(from_sql, from_python)
    assert not differences(from_sql, one_pair_at_a_time(w))
    with scope(school=w.school):
        assert Evidence.objects.filter(
            school=w.school, assessed_on__lt=THIS_START, voided_at__isnull=True
        ).exists(), "the data set has evidence from last year"
    if not carry:  # no record's evidence is dated before the year (FIELDS: last_evidence_on)
        assert all(row[5] is None or row[5] >= THIS_START for row in from_sql.values())


def test_last_years_evidence_changes_levels_only_when_the_policy_carries_it(db):
    w = make_world("carry", students=4)
    add_years(w)
    scatter_evidence(w, 12)
    set_policy(w, method="mean")
    this_year, _ = both_ways(w)
    set_policy(w, carry_prior_years=True)
    carried, _ = both_ways(w)
    counts = {k: v[3] for k, v in this_year.items()}
    carried_counts = {k: v[3] for k, v in carried.items()}
    assert any(carried_counts[k] > counts[k] for k in counts)
    assert all(carried_counts[k] >= counts[k] for k in counts)


def test_a_course_that_carries_and_a_school_that_does_not_agree_in_sql_and_python(world_a):
    w = world_a
    add_years(w)
    scatter_evidence(w, 13)
    with scope(school=w.school):
        science = Course.objects.create(
            school=w.school, department=w.department, code="SCI", name="Science"
        )
        CourseTarget.objects.create(school=w.school, course=science, target=w.targets[1])
        section = Section.objects.create(school=w.school, course=science, term=w.term, name="S1")
        make_student(w.school, "sci-1", sections=[section])
        for student in w.students[:2]:
            Enrollment.objects.create(school=w.school, section=section, student=student)
        policy_change(
            school=w.school,
            changed_by=w.admin,
            course=science,
            method="mean",
            carry_prior_years=True,
            note="Science builds on last year",
        )
    from_sql, from_python = both_ways(w)
    assert not differences(from_sql, from_python)
    assert not differences(from_sql, one_pair_at_a_time(w))
    with scope(school=w.school):
        carrying = GradingPolicy.objects.get(school=w.school, course=science, is_current=True)
    carried = [k for k, v in from_sql.items() if v[7] == carrying.id]
    assert carried and all(k[1] == w.targets[1].id for k in carried)


# --- Levels as of a date, and the closing snapshot --------------------------------------------------


def as_of_sql(w, as_of: date, *, records: bool = False) -> dict:
    statements = records_as_of_sql if records else outcomes_as_of_sql
    rows = {}
    with scope(school=w.school), transaction.atomic(), connection.cursor() as cursor:
        for select in statements(cursor, w.school):
            cursor.execute(select, {"school_id": w.school.id, "as_of": as_of})
            rows.update({(r[0], r[1]): tuple(r[2:]) for r in cursor.fetchall()})
    return rows


def as_of_python(w, as_of: date, *, records: bool = False) -> dict:
    reader = records_as_of_python if records else outcomes_as_of_python
    with scope(school=w.school):
        return {(r[0], r[1]): tuple(r[2:]) for r in reader(w.school, as_of)}


@pytest.mark.parametrize("carry", [False, True], ids=["this-year", "carried"])
@pytest.mark.parametrize("days_ago", [35, 8], ids=["last-year", "this-year"])
def test_levels_as_of_a_date_count_the_year_that_date_falls_in(world_a, carry, days_ago):
    w = world_a
    add_years(w)
    scatter_evidence(w, 14)
    set_policy(w, carry_prior_years=carry, method="mean")
    as_of = TODAY - timedelta(days=days_ago)
    for records in (False, True):
        sql, python = as_of_sql(w, as_of, records=records), as_of_python(w, as_of, records=records)
        assert sql and not differences(sql, python)
    # (score, level, mastered, evidence_count, last_evidence_on, explanation)
    records = as_of_sql(w, as_of, records=True)
    start = LAST_START if as_of < THIS_START else THIS_START
    assert all(r[4] is None or r[4] <= as_of for r in records.values())
    if not carry:
        assert all(r[4] is None or r[4] >= start for r in records.values())


def test_a_carried_level_as_of_today_counts_more_evidence_than_this_years(world_a):
    w = world_a
    add_years(w)
    scatter_evidence(w, 19)
    set_policy(w, method="mean")
    this_year = as_of_sql(w, TODAY, records=True)
    set_policy(w, carry_prior_years=True)
    carried = as_of_sql(w, TODAY, records=True)
    assert sum(r[3] for r in carried.values()) > sum(r[3] for r in this_year.values())


def test_a_snapshot_taken_on_the_eve_of_the_new_year_equals_the_records_of_the_old(world_a):
    """What the rollover keeps (records as of the day before the next year) is what the records
    said while the year was current, whenever it is taken."""
    w = world_a
    scatter_evidence(w, 15)
    set_policy(w, method="decaying_average")
    with scope(school=w.school):
        SchoolYear.objects.create(
            school=w.school,
            name="Closing",
            starts_on=TODAY - timedelta(days=200),
            ends_on=TODAY + timedelta(days=10),
        )
        school_recompute_sql(w.school)
    # snapshot: (score, level, mastered, evidence_count, scores_counted, last_on, explanation, …)
    records = {k: v[:4] + v[5:7] for k, v in snapshot(w).items()}
    taken = as_of_sql(w, TODAY + timedelta(days=20), records=True)
    assert records and taken == records


# --- The preview, and the catch-up on a new year's first day -------------------------------------


def test_the_preview_of_carrying_prior_years_counts_the_levels_it_changes(world_a):
    w = world_a
    add_years(w)
    scatter_evidence(w, 16)
    set_policy(w, method="mean")
    with scope(school=w.school):
        school_recompute_sql(w.school)
        same = policy_preview(
            school=w.school,
            candidate=policy_candidate(school=w.school, changed_by=w.admin, method="mean"),
        )
        carried = policy_preview(
            school=w.school,
            candidate=policy_candidate(
                school=w.school, changed_by=w.admin, method="mean", carry_prior_years=True
            ),
        )
    assert same.level_changes == 0
    assert carried.level_changes > 0


def computed_before(w, day: date) -> None:
    """As if the records had been computed before `day` (the night before a year began)."""
    moment = timezone.make_aware(datetime.combine(day - timedelta(days=1), time(22)))
    with scope(school=w.school):
        Mastery.objects.filter(school=w.school).update(computed_at=moment)


def test_records_computed_before_a_new_year_began_are_found_stale_until_recomputed(world_a):
    w = world_a
    scatter_evidence(w, 17)
    with scope(school=w.school):
        school_recompute_sql(w.school)  # before any year: every date counts
    assert w.school.id not in stale_school_ids()
    start = TODAY - timedelta(days=5)
    computed_before(w, start)
    add_years(w, this_start=start)
    assert w.school.id in year_stale_school_ids() and w.school.id in stale_school_ids()
    with scope(school=w.school):
        school_recompute_sql(w.school)
    assert w.school.id not in year_stale_school_ids()
    # Two weeks on, the catch-up stops looking (a year that began long ago is not searched).
    computed_before(w, start)
    assert w.school.id not in year_stale_school_ids(start + timedelta(days=15))


def test_a_policy_that_carries_prior_years_leaves_nothing_stale_at_a_new_year(world_a):
    w = world_a
    scatter_evidence(w, 18)
    set_policy(w, carry_prior_years=True)
    with scope(school=w.school):
        school_recompute_sql(w.school)
    start = TODAY - timedelta(days=5)
    computed_before(w, start)
    add_years(w, this_start=start)
    assert w.school.id not in year_stale_school_ids()


# --- The policy page: an admin sets it, everyone reads it in words -------------------------------


def test_an_admin_sets_carry_prior_years_on_the_policy_page_and_it_is_stated_in_words(
    client, world_a, django_capture_on_commit_callbacks
):
    w = world_a
    add_years(w)
    last_years_four_and_this_years_one(w)
    url = policy_url(w)
    client.force_login(w.teacher)
    assert "each school year's levels count only that year's evidence" in page(client.get(url))
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True):
        saved = policy_save(
            client,
            url,
            policy_data(
                school_policy(w),
                "save",
                method="mean",
                carry_prior_years=True,
                note="Algebra builds on last year",
            ),
        )
    assert saved.status_code == 302
    policy = school_policy(w)
    assert policy.version == 2 and policy.carry_prior_years
    assert "keeps counting the evidence of earlier years" in page(client.get(url))
    with scope(school=w.school):
        record = Mastery.objects.get(student=w.students[1], target=w.targets[0])
    assert (record.score, record.evidence_count, record.policy_id) == (
        Decimal("2.5"),
        2,
        policy.id,
    )


@pytest.mark.parametrize("carry, expected", [(False, (Decimal(1), 1)), (True, (Decimal("2.5"), 2))])
def test_the_batch_recompute_of_a_fill_or_an_undo_keeps_the_year_boundary(world_a, carry, expected):
    # gradebook.services.evidence.pairs_recompute: what a fill, an undo and a moved assessment call.
    add_years(world_a)
    set_policy(world_a, carry_prior_years=carry, method="mean")
    last_years_four_and_this_years_one(world_a)
    pair = (world_a.students[1].id, world_a.targets[0].id)
    clear_mastery(world_a)
    with scope(school=world_a.school):
        pairs_recompute(school=world_a.school, pairs={pair})
        record = Mastery.objects.get(student_id=pair[0], target_id=pair[1])
    assert (record.score, record.evidence_count) == expected
