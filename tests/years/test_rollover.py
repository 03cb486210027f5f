"""The year rollover: the dry run is the plan the run executes, a second run changes nothing,
promotions with their exceptions, a failure leaves nothing half-done, and last year's evidence
is absent from this year's levels unless the policy carries it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Evidence,
    Mastery,
    SchoolYear,
    Section,
    Student,
    Term,
    YearEndMastery,
)
from grading.school import school_recompute_sql
from intervention.models import InterventionCycle
from mastery.models import AuditEvent, GradingPolicy
from tests.factories import make_assessment, make_evidence, make_student
from tests.years.support import TODAY, closing_year, roll_over, school_state, table_counts
from years import services
from years.models import Promotion, YearRollover
from years.services import (
    NextYear,
    PlanChanged,
    plan_fingerprint,
    rollover_plan,
    rollover_run,
    rollover_start,
    student_numbers,
)
from years.tasks import rollover_run_task


@pytest.fixture
def closing(world_a):
    """world_a with four students (grades 12, 9, none, 10) at the end of its year."""
    return closing_year(world_a)


# --- The plan and the run ---------------------------------------------------------------------------


def test_the_dry_run_changes_nothing_and_is_the_plan_the_run_executes(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    before = school_state(w)
    with scope(school=w.school):
        dry = rollover_plan(
            school=w.school, year=c.year, next_year=c.next_year, retained=[c.retained.local_id]
        )
    assert school_state(w) == before  # a pure read
    plan, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert plan == dry
    assert rollover.status == "done", rollover.error
    assert rollover.plan == dry and rollover.fingerprint == plan_fingerprint(dry)
    # What it did is what the plan said, item by item.
    s = rollover.summary
    assert s["snapshot"] == dry["snapshot"]["records"] == 5
    assert s["sections_archived"] == len(dry["sections"]) == 2
    assert s["terms_closed"] == len(dry["terms"]) == 1
    assert s["cycles_closed"] == len(dry["cycles"]) == 2
    assert (s["promoted"], s["retained"], s["graduated"], s["no_grade"]) == (
        len(dry["promoted"]),
        len(dry["retained"]),
        len(dry["graduating"]),
        len(dry["no_grade"]),
    )
    assert (s["promoted"], s["retained"], s["graduated"], s["no_grade"]) == (3, 1, 1, 1)
    with scope(school=w.school):
        assert all(t.closed_at for t in Term.objects.filter(school=w.school))
        assert all(sec.archived_at for sec in Section.objects.filter(school=w.school))
        assert set(
            InterventionCycle.objects.filter(school=w.school).values_list("status", flat=True)
        ) == {"closed"}
        c.year.refresh_from_db()
        assert c.year.closed_at is not None
        opened = SchoolYear.objects.get(school=w.school, name="2026-2027")
        assert (opened.starts_on, opened.ends_on) == (c.next_year.starts_on, c.next_year.ends_on)
        assert rollover.next_year == opened


def test_running_twice_changes_nothing(closing, django_capture_on_commit_callbacks):
    c, w = closing, closing.w
    _, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert rollover.status == "done"
    counts, state = table_counts(), school_state(w)
    # The task delivered again (a broker's redelivery), and the service called again.
    with django_capture_on_commit_callbacks(execute=True):
        again = rollover_run_task.delay(school_id=w.school.id, rollover_id=rollover.id).get()
    assert again == {"skipped": "not waiting to run"}
    with scope(school=w.school):
        assert rollover_run(school=w.school, rollover_id=rollover.id)["skipped"]
        # And the same form confirmed again: the rollover already made, not a second one.
        found = rollover_start(
            school=w.school,
            year=c.year,
            next_year=c.next_year,
            retained=[c.retained.local_id],
            top_grade=12,
            promote=True,
            confirmed="anything",
            requested_by=w.admin,
        )
    assert found.pk == rollover.pk
    assert table_counts() == counts
    assert school_state(w) == state


def test_every_step_is_idempotent_on_its_own(closing, django_capture_on_commit_callbacks):
    c, w = closing, closing.w
    plan, rollover = roll_over(c, django_capture_on_commit_callbacks)
    counts, state = table_counts(), school_state(w)
    with scope(school=w.school):
        as_of = TODAY + timedelta(days=44)
        assert services._snapshot(w.school, c.year, as_of) == 0
        assert services._promote(w.school, c.year, plan, rollover.finished_at)["promoted"] == 0
        assert services._close_cycles(w.school, plan, rollover.finished_at) == 0
    assert table_counts() == counts
    assert school_state(w) == state


def test_students_are_promoted_with_the_listed_exceptions(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    roll_over(c, django_capture_on_commit_callbacks)
    with scope(school=w.school):
        grades = dict(Student.objects.filter(school=w.school).values_list("id", "grade_level"))
        promotions = {
            p.student_id: (p.from_grade, p.to_grade, p.outcome)
            for p in Promotion.objects.filter(school=w.school, year=c.year)
        }
    assert grades[c.promoted.id] == 11 and promotions[c.promoted.id] == (10, 11, "promoted")
    assert grades[c.retained.id] == 9 and promotions[c.retained.id] == (9, 9, "retained")
    assert grades[c.graduate.id] == 12 and promotions[c.graduate.id] == (12, None, "graduated")
    assert grades[c.no_grade.id] is None and c.no_grade.id not in promotions
    assert all(grades[s.id] == 10 for s in w.other_students)


def test_a_retained_senior_stays_and_a_lower_top_grade_graduates_earlier(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    plan, _ = roll_over(
        c, django_capture_on_commit_callbacks, retained=[c.graduate.local_id], top_grade=10
    )
    assert [e["local_id"] for e in plan["retained"]] == [c.graduate.local_id]
    assert {e["local_id"] for e in plan["graduating"]} == {c.promoted.local_id}
    with scope(school=w.school):
        assert Student.objects.get(pk=c.graduate.pk).grade_level == 12
        assert Student.objects.get(pk=c.retained.pk).grade_level == 10


def test_without_promotion_grades_stay_and_no_promotion_is_recorded(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    plan, rollover = roll_over(c, django_capture_on_commit_callbacks, retained=[], promote=False)
    assert rollover.status == "done" and plan["promoted"] == []
    with scope(school=w.school):
        assert not Promotion.objects.filter(school=w.school).exists()
        assert Student.objects.get(pk=c.promoted.pk).grade_level == 10


@pytest.mark.parametrize(
    ("retained", "message"),
    [
        (["nobody-7", "alpha-1", "ghost"], "No student has the number “nobody-7”, “ghost”."),
        (["alpha-2"], "has no grade level to keep"),
    ],
)
def test_unknown_or_impossible_retentions_are_a_clear_error_and_change_nothing(
    closing, retained, message
):
    c, w = closing, closing.w
    before = table_counts()
    with scope(school=w.school), pytest.raises(ValidationError) as refused:
        rollover_plan(school=w.school, year=c.year, next_year=c.next_year, retained=retained)
    assert any(message in m for m in refused.value.message_dict["retained"])
    assert table_counts() == before


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (NextYear("", TODAY + timedelta(days=45), TODAY + timedelta(days=300)), "name", "Name"),
        (
            NextYear("2026-2027", TODAY + timedelta(days=45), TODAY + timedelta(days=44)),
            "ends_on",
            "ends after it starts",
        ),
        (
            NextYear("2026-2027", TODAY + timedelta(days=40), TODAY + timedelta(days=300)),
            "starts_on",
            "starts after 2025-2026 ends",
        ),
        (
            NextYear("2025-2026", TODAY + timedelta(days=45), TODAY + timedelta(days=300)),
            "name",
            "being closed",
        ),
    ],
)
def test_a_next_year_that_cannot_follow_is_refused(closing, spec, field, message):
    c, w = closing, closing.w
    with scope(school=w.school), pytest.raises(ValidationError) as refused:
        rollover_plan(school=w.school, year=c.year, next_year=spec)
    assert any(message in m for m in refused.value.message_dict[field])


def test_student_numbers_are_read_one_per_line_commas_and_spaces_too():
    assert student_numbers(" a-1\nb-2, c-3  a-1\n\n") == ["a-1", "b-2", "c-3"]


# --- Refusals and failures ---------------------------------------------------------------------------


def test_a_confirmation_of_another_plan_is_refused_and_makes_no_rollover(closing):
    c, w = closing, closing.w
    with scope(school=w.school), pytest.raises(PlanChanged) as refused:
        rollover_start(
            school=w.school,
            year=c.year,
            next_year=c.next_year,
            retained=[],
            top_grade=12,
            promote=True,
            confirmed="0" * 64,
            requested_by=w.admin,
        )
    assert refused.value.plan["year"]["name"] == "2025-2026"
    with scope(school=w.school):
        assert not YearRollover.objects.filter(school=w.school).exists()


def test_a_school_that_changed_after_the_confirmation_is_not_rolled_over(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    _, rollover = roll_over(c, django_capture_on_commit_callbacks, execute=False)
    assert rollover.status == "planned"
    make_student(w.school, "alpha-late", first="Late")  # a new student, grade 9
    state = school_state(w)
    with django_capture_on_commit_callbacks(execute=True):
        rollover_run_task.delay(school_id=w.school.id, rollover_id=rollover.id)
    rollover.refresh_from_db()
    assert rollover.status == "failed"
    assert "students to promote" in rollover.error and "nothing was changed" in rollover.error
    assert {k: v for k, v in school_state(w).items() if k != "rollovers"} == {
        k: v for k, v in state.items() if k != "rollovers"
    }
    # A failed rollover leaves room for another: preview again, run again.
    _, again = roll_over(c, django_capture_on_commit_callbacks)
    assert again.pk != rollover.pk and again.status == "done"


def test_a_failure_in_the_middle_leaves_nothing_half_done(
    closing, django_capture_on_commit_callbacks, monkeypatch
):
    c, w = closing, closing.w
    state = school_state(w)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "_promote", broken)
    _, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert rollover.status == "failed" and "the disk is full" in rollover.error
    assert rollover.finished_at is not None
    after = school_state(w)
    assert after.pop("rollovers") != state.pop("rollovers")
    assert after == state  # no snapshot, no closed term, no archived section, no new year
    with scope(school=w.school):
        assert not AuditEvent.objects.filter(school=w.school, object_type="year").exists()


def test_the_rollover_is_audited(closing, django_capture_on_commit_callbacks):
    c, w = closing, closing.w
    _, rollover = roll_over(c, django_capture_on_commit_callbacks)
    with scope(school=w.school):
        events = list(AuditEvent.objects.filter(school=w.school, object_type="year").order_by("id"))
    closed, opened = events
    assert closed.actor == w.admin and closed.object_id == c.year.id
    assert closed.summary.startswith("2025-2026 closed: 1 terms closed, 2 sections archived")
    assert closed.after["rollover"] == rollover.id and closed.source == "rollover"
    assert opened.action == "create" and opened.object_id == rollover.next_year_id


# --- Last year's evidence, this year's levels --------------------------------------------------------


@pytest.fixture
def begun(world_a):
    """A year that ended four days ago; the next began three days ago (the rollover runs late)."""
    return closing_year(
        world_a,
        ends_on=TODAY - timedelta(days=4),
        next_starts_on=TODAY - timedelta(days=3),
        intervention=False,
    )


def record(w, student) -> Mastery:
    with scopes_disabled():
        return Mastery.objects.get(school=w.school, student=student, target=w.targets[0])


def test_after_the_rollover_last_years_evidence_is_absent_from_this_years_levels(
    begun, django_capture_on_commit_callbacks
):
    c, w = begun, begun.w
    student = c.retained  # a 2 on F1 last year
    assert record(w, student).score == Decimal(2)
    _, rollover = roll_over(c, django_capture_on_commit_callbacks, retained=[])
    assert rollover.summary["recompute"] == "queued"
    # The school's recompute ran after the rollover: no level counts last year any more.
    kept = record(w, student)
    assert (kept.score, kept.evidence_count) == (None, 0)
    with scope(school=w.school):
        year_end = YearEndMastery.objects.get(year=c.year, student=student, target=w.targets[0])
    assert (year_end.score, year_end.level, year_end.evidence_count) == (Decimal(2), 2, 1)
    # This year's first score: the one-pair path counts it alone…
    fresh = make_assessment(w.school, w.course, w.targets[:1], on=TODAY - timedelta(days=1))
    now = make_evidence(w, student, w.targets[0], "4", assessment=fresh).mastery
    assert (now.score, now.evidence_count) == (Decimal(4), 1)
    # …and so does the school's SQL recompute; last year's evidence is still there, readable.
    with scope(school=w.school):
        school_recompute_sql(w.school)
        assert Evidence.objects.filter(school=w.school, student=student).count() == 3
    assert (record(w, student).score, record(w, student).evidence_count) == (Decimal(4), 1)


def test_a_policy_that_carries_prior_years_keeps_last_years_evidence_after_the_rollover(
    begun, django_capture_on_commit_callbacks
):
    c, w = begun, begun.w
    with scope(school=w.school):
        GradingPolicy.objects.filter(school=w.school, is_current=True).update(
            carry_prior_years=True, method="mean"
        )
        school_recompute_sql(w.school)
    roll_over(c, django_capture_on_commit_callbacks, retained=[])
    fresh = make_assessment(w.school, w.course, w.targets[:1], on=TODAY - timedelta(days=1))
    now = make_evidence(w, c.retained, w.targets[0], "4", assessment=fresh).mastery
    assert (now.score, now.evidence_count) == (Decimal(3), 2)
    with scope(school=w.school):
        school_recompute_sql(w.school)
    assert record(w, c.retained).score == Decimal(3)


def test_a_next_year_still_to_come_is_recomputed_on_its_first_day_not_at_the_run(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    _, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert "recompute" not in rollover.summary
    assert record(w, c.retained).score == Decimal(2)  # still the closing year's level


def test_the_next_year_the_roster_import_already_made_is_kept(
    closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    with scope(school=w.school):
        made = SchoolYear.objects.create(
            school=w.school,
            name="2026-2027",
            starts_on=c.next_year.starts_on,
            ends_on=c.next_year.ends_on,
        )
    plan, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert plan["next_year"]["id"] == made.id
    assert rollover.next_year_id == made.id and rollover.summary["next_year_created"] is False
    with scope(school=w.school):
        assert SchoolYear.objects.filter(school=w.school).count() == 2
        assert not AuditEvent.objects.filter(
            school=w.school, object_type="year", action="create"
        ).exists()


def test_a_next_year_of_the_same_name_with_other_dates_is_refused(closing):
    c, w = closing, closing.w
    with scope(school=w.school):
        SchoolYear.objects.create(
            school=w.school,
            name="2026-2027",
            starts_on=c.next_year.starts_on + timedelta(days=1),
            ends_on=c.next_year.ends_on,
        )
        with pytest.raises(ValidationError) as refused:
            rollover_plan(school=w.school, year=c.year, next_year=c.next_year)
    assert "already exists" in refused.value.message_dict["name"][0]


# --- School A, school B ------------------------------------------------------------------------------


def test_a_rollover_of_school_a_touches_no_row_of_school_b(
    closing, world_b, django_capture_on_commit_callbacks
):
    b_year = closing_year(world_b, intervention=False)
    make_evidence(world_b, world_b.students[0], world_b.targets[0], "2")
    before = school_state(world_b)
    _, rollover = roll_over(closing, django_capture_on_commit_callbacks)
    assert rollover.status == "done"
    assert school_state(world_b) == before
    with scopes_disabled():
        assert not YearEndMastery.objects.filter(school=world_b.school).exists()
        assert not Promotion.objects.filter(school=world_b.school).exists()
        b_year.year.refresh_from_db()
    assert b_year.year.closed_at is None


def test_a_rollover_of_another_school_is_not_run_in_this_one(closing, world_b):
    c = closing
    with scope(school=c.w.school):
        plan = rollover_plan(school=c.w.school, year=c.year, next_year=c.next_year)
        rollover = YearRollover.objects.create(
            school=c.w.school, year=c.year, plan=plan, fingerprint=plan_fingerprint(plan)
        )
    result = rollover_run_task.delay(school_id=world_b.school.id, rollover_id=rollover.id).get()
    assert result == {"skipped": "not waiting to run"}
    rollover.refresh_from_db()
    assert rollover.status == "planned"
