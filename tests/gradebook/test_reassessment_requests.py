"""Reassessment requests: each rule refusing and allowing, the lifecycle by role, school A / B,
a family never asking for another child, expiry, and a score completing a request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Assessment,
    GradingPeriod,
    Mastery,
    ReassessmentRequest,
    ReassessmentRule,
)
from gradebook.selectors.reassessment import BY_FAMILY, BY_STUDENT, BY_TEACHER, request_check
from gradebook.services.evidence import EvidenceError
from gradebook.services.requests import (
    request_create,
    request_decline,
    request_withdraw,
    requests_accept,
    requests_expire,
)
from intervention.models import RosterEntry, SessionAttendance
from mastery.models import AuditEvent
from tests.factories import make_assessment, make_evidence, make_intervention
from tests.gradebook.pages import page, url

TODAY = timezone.localdate()


def attempt(w, student, *, days_ago=7, score="2", target=None, kind="summative"):
    """A scored attempt `days_ago` on the world's first target (or `target`)."""
    target = target or w.targets[0]
    made = make_assessment(
        w.school, w.course, [target], on=TODAY - timedelta(days=days_ago), kind=kind
    )
    return make_evidence(w, student, target, score, assessment=made).evidence


def practised(w, student, *, days_ago=2, target=None):
    return attempt(w, student, days_ago=days_ago, score="2", target=target, kind="formative")


def rules(w, **values):
    with scopes_disabled():
        rule, _ = ReassessmentRule.objects.update_or_create(
            school=w.school, course=None, defaults=values
        )
    return rule


def check(w, student, *, by=BY_STUDENT, today=TODAY, target=None):
    with scope(school=w.school):
        return request_check(
            school=w.school, student=student, target=target or w.targets[0], by=by, today=today
        )


def met(result) -> dict[str, bool]:
    return {line.text: line.met for line in result.lines}


def ask(w, student, *, by=BY_STUDENT, user=None, note="I practised the slopes", target=None):
    with scope(school=w.school):
        return request_create(
            school=w.school,
            requested_by=user or w.student_user,
            student=student,
            target=target or w.targets[0],
            by=by,
            note=note,
        )


# --- Each rule refusing and allowing ---------------------------------------------------------------


def test_with_an_attempt_a_week_ago_and_practice_since_every_default_rule_is_met(world_a):
    w, pupil = world_a, world_a.students[0]
    attempt(w, pupil, days_ago=7)
    practised(w, pupil, days_ago=2)
    result = check(w, pupil)
    assert result.allowed, result.broken
    assert len(result.lines) == 6  # who, window, practice, count, closing (+ no live request)


def test_no_attempt_yet_nothing_to_retake(world_a):
    result = check(world_a, world_a.students[0])
    assert not result.allowed
    assert "There is no attempt on this target to retake yet." in result.broken


def test_the_window_refuses_within_n_days_of_the_attempt_and_says_when_it_opens(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=5, requires_practice=False)
    attempt(w, pupil, days_ago=2)
    result = check(w, pupil)
    assert not result.allowed
    assert result.opens_on == TODAY + timedelta(days=3)
    assert any("Too soon after the attempt" in text for text in result.broken)
    assert check(w, pupil, today=TODAY + timedelta(days=3)).allowed


def test_practice_is_required_and_an_intervention_session_attended_counts(world_a):
    w, pupil = world_a, world_a.students[1]
    rules(w, min_days_after=0)
    attempt(w, pupil, days_ago=6, score="1")
    assert any("Practice first" in text for text in check(w, pupil).broken)
    cycle = make_intervention(w)  # students[1] is below mastery on targets[0]: rostered
    with scopes_disabled():
        entry = RosterEntry.objects.filter(
            school=w.school, cycle=cycle, student=pupil, target=w.targets[0]
        ).first()
        assert entry is not None
        SessionAttendance.objects.create(
            school=w.school,
            entry=entry,
            session_date=TODAY - timedelta(days=1),
            status=SessionAttendance.Status.ABSENT,
            recorded_by=w.teacher,
        )
    assert not check(w, pupil).allowed  # absent is not practice
    with scopes_disabled():
        SessionAttendance.objects.filter(entry=entry).update(
            status=SessionAttendance.Status.PRESENT
        )
    assert check(w, pupil).allowed


def test_practice_before_the_attempt_does_not_count(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=0)
    practised(w, pupil, days_ago=9)
    attempt(w, pupil, days_ago=5)
    assert not check(w, pupil).allowed
    rules(w, min_days_after=0, requires_practice=False)
    assert check(w, pupil).allowed


def test_the_count_per_grading_period_refuses_the_third_reassessment(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=0, requires_practice=False, max_per_period=2)
    with scopes_disabled():
        GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q2",
            starts_on=TODAY - timedelta(days=20),
            ends_on=TODAY + timedelta(days=20),
        )
    attempt(w, pupil, days_ago=30)  # before the period: the original
    attempt(w, pupil, days_ago=10, kind="reassessment")
    assert check(w, pupil).allowed
    attempt(w, pupil, days_ago=5, kind="reassessment")
    result = check(w, pupil)
    assert not result.allowed
    assert "Reassessments on this target this grading period: 2 of 2." in result.broken
    rules(w, min_days_after=0, requires_practice=False, max_per_period=None)
    assert check(w, pupil).allowed  # no limit


def test_requests_close_before_the_grading_periods_end_and_after_it(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=0, requires_practice=False, closes_days_before_end=3)
    with scopes_disabled():
        GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q2",
            starts_on=TODAY - timedelta(days=30),
            ends_on=TODAY + timedelta(days=2),
        )
    attempt(w, pupil, days_ago=10)
    result = check(w, pupil)
    assert not result.allowed
    assert any("closed on" in text for text in result.broken)
    rules(w, min_days_after=0, requires_practice=False, closes_days_before_end=2)
    assert check(w, pupil).allowed  # the last day
    beyond = check(w, pupil, today=w.term.ends_on + timedelta(days=1))
    assert "The term is not in session: requests are closed." in beyond.broken


def test_who_may_ask_students_families_teachers(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=0, requires_practice=False)
    attempt(w, pupil)
    assert check(w, pupil, by=BY_STUDENT).allowed
    assert not check(w, pupil, by=BY_FAMILY).allowed  # families off by default
    assert check(w, pupil, by=BY_TEACHER).allowed
    rules(
        w,
        min_days_after=0,
        requires_practice=False,
        families_may_request=True,
        students_may_request=False,
    )
    assert check(w, pupil, by=BY_FAMILY).allowed
    assert not check(w, pupil, by=BY_STUDENT).allowed


def test_a_courses_own_rules_override_the_schools(world_a):
    w, pupil = world_a, world_a.students[0]
    rules(w, min_days_after=0, requires_practice=False)
    attempt(w, pupil)
    with scopes_disabled():
        ReassessmentRule.objects.create(
            school=w.school, course=w.course, students_may_request=False
        )
    assert not check(w, pupil).allowed


# --- The lifecycle ---------------------------------------------------------------------------------


@pytest.fixture
def ready(world_a):
    """Student0 may ask on target0: an attempt a week ago, practice since."""
    w = world_a
    rules(w, min_days_after=3)
    attempt(w, w.students[0], days_ago=7)
    practised(w, w.students[0], days_ago=2)
    return w


def test_a_refused_request_writes_nothing_and_says_which_rule(world_a):
    w = world_a
    with pytest.raises(EvidenceError) as refused:
        ask(w, w.students[0])
    assert "There is no attempt on this target to retake yet." in refused.value.messages
    with scopes_disabled():
        assert not ReassessmentRequest.objects.filter(school=w.school).exists()
        assert not AuditEvent.objects.filter(school=w.school, object_type="request").exists()


def test_ask_accept_score_completes_and_each_step_is_audited(ready):
    w, pupil = ready, ready.students[0]
    made = ask(w, pupil)
    assert made.status == "open" and made.section == w.section
    assert all(line["met"] for line in made.rules) and len(made.rules) == 6
    day = TODAY + timedelta(days=2)
    with scope(school=w.school):
        (accepted,) = requests_accept(
            school=w.school, request_ids=[made.id], accepted_by=w.teacher, scheduled_on=day
        )
    assert accepted.status == "scheduled" and accepted.scheduled_on == day
    sitting = accepted.sitting
    assert sitting.kind == "reassessment" and sitting.assessed_on == day
    with scopes_disabled():
        before = Mastery.objects.get(school=w.school, student=pupil, target=w.targets[0]).score
    result = make_evidence(w, pupil, w.targets[0], "4", assessment=sitting, assessed_on=day)
    made.refresh_from_db()
    assert made.status == "completed" and made.evidence_id == result.evidence.id
    assert result.mastery.score != before
    with scopes_disabled():
        trail = list(
            AuditEvent.objects.filter(school=w.school, object_type="request", object_id=made.id)
            .order_by("at", "id")
            .values_list("after__status", flat=True)
        )
    assert trail == ["open", "scheduled", "completed"]


def test_the_same_request_sent_twice_makes_one(ready):
    w, pupil = ready, ready.students[0]
    first = ask(w, pupil)
    again = ask(w, pupil)
    assert again.id == first.id
    with pytest.raises(EvidenceError, match="already waiting"):
        ask(w, pupil, note="another note")
    with scopes_disabled():
        assert ReassessmentRequest.objects.filter(school=w.school).count() == 1


def test_requests_on_one_target_and_day_share_one_sitting(ready):
    w = ready
    other = w.students[1]
    attempt(w, other, days_ago=7)
    practised(w, other, days_ago=2)
    a = ask(w, w.students[0])
    b = ask(w, other, user=w.teacher, by=BY_TEACHER)
    day = TODAY + timedelta(days=1)
    with scope(school=w.school):
        requests_accept(
            school=w.school, request_ids=[a.id], accepted_by=w.teacher, scheduled_on=day
        )
        requests_accept(
            school=w.school, request_ids=[b.id], accepted_by=w.teacher, scheduled_on=day
        )
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.sitting_id == b.sitting_id
    with scopes_disabled():
        assert Assessment.objects.filter(school=w.school, kind="reassessment").count() == 1


def test_declining_needs_a_reason_and_writes_no_score(ready):
    w, pupil = ready, ready.students[0]
    made = ask(w, pupil)
    with scopes_disabled():
        levels = list(Mastery.objects.filter(school=w.school).values_list("id", "score"))
    with scope(school=w.school), pytest.raises(EvidenceError, match="Say why"):
        request_decline(school=w.school, request_id=made.id, declined_by=w.teacher, reason="  ")
    with scope(school=w.school):
        request_decline(
            school=w.school, request_id=made.id, declined_by=w.teacher, reason="Practise more."
        )
    made.refresh_from_db()
    assert made.status == "declined" and made.decline_reason == "Practise more."
    with scopes_disabled():
        assert list(Mastery.objects.filter(school=w.school).values_list("id", "score")) == levels


def test_accepting_a_day_that_passed_or_outside_the_term_is_refused(ready):
    w = ready
    made = ask(w, w.students[0])
    for day, message in [
        (TODAY - timedelta(days=1), "already passed"),
        (w.term.ends_on + timedelta(days=3), "is outside"),
        (None, "Choose the day"),
    ]:
        with scope(school=w.school), pytest.raises(EvidenceError, match=message):
            requests_accept(
                school=w.school, request_ids=[made.id], accepted_by=w.teacher, scheduled_on=day
            )
    made.refresh_from_db()
    assert made.status == "open" and made.sitting_id is None


def test_expiry_open_after_the_period_scheduled_after_its_days_and_twice_is_once(ready):
    w, pupil = ready, ready.students[0]
    made = ask(w, pupil)
    with scope(school=w.school):
        assert requests_expire(school=w.school, today=TODAY).open == 0
        result = requests_expire(school=w.school, today=w.term.ends_on + timedelta(days=1))
    assert (result.open, result.scheduled) == (1, 0)
    made.refresh_from_db()
    assert made.status == "expired"
    with scope(school=w.school):
        again = requests_expire(school=w.school, today=w.term.ends_on + timedelta(days=1))
    assert (again.open, again.scheduled) == (0, 0)


def test_a_scheduled_request_not_scored_expires_after_the_rules_days(ready):
    w, pupil = ready, ready.students[0]
    made = ask(w, pupil)
    day = TODAY + timedelta(days=1)
    with scope(school=w.school):
        requests_accept(
            school=w.school, request_ids=[made.id], accepted_by=w.teacher, scheduled_on=day
        )
        assert requests_expire(school=w.school, today=day + timedelta(days=7)).scheduled == 0
        assert requests_expire(school=w.school, today=day + timedelta(days=8)).scheduled == 1
    made.refresh_from_db()
    assert made.status == "expired"


def test_withdrawing_only_ones_own_and_then_asking_again(ready):
    w, pupil = ready, ready.students[0]
    made = ask(w, pupil)
    with scope(school=w.school), pytest.raises(EvidenceError):
        request_withdraw(
            school=w.school, request_id=made.id, student=w.students[1], withdrawn_by=w.guardian
        )
    with scope(school=w.school):
        request_withdraw(
            school=w.school, request_id=made.id, student=pupil, withdrawn_by=w.student_user
        )
    made.refresh_from_db()
    assert made.status == "withdrawn"
    assert ask(w, pupil).id != made.id


# --- Pages, by role and school ---------------------------------------------------------------------


def my_request_url(w, target=None):
    return reverse("reports:my_request", args=[w.school.slug, (target or w.targets[0]).id])


def test_a_student_sees_the_rules_checked_then_sends_and_sees_the_status(client, ready):
    w = ready
    client.force_login(w.student_user)
    content = page(client.get(my_request_url(w)))
    assert "You can ask: every rule is met" in content
    assert "Practice since the attempt: done on" in content
    response = client.post(my_request_url(w), {"note": "I redid the practice set"})
    assert response.status_code == 302
    portal = page(client.get(reverse("reports:me", args=[w.school.slug])))
    assert "My reassessment requests" in portal and "Waiting for the teacher" in portal


def test_the_student_and_family_see_the_day_and_a_declines_reason(client, ready):
    w = ready
    made = ask(w, w.students[0])
    day = TODAY + timedelta(days=2)
    with scope(school=w.school):
        requests_accept(
            school=w.school, request_ids=[made.id], accepted_by=w.teacher, scheduled_on=day
        )
    client.force_login(w.student_user)
    portal = page(client.get(reverse("reports:me", args=[w.school.slug])))
    assert "Scheduled" in portal
    assert f"on {date_format(day, 'l')}, {date_format(day, 'DATE_FORMAT')}" in portal
    with scope(school=w.school):
        request_decline(
            school=w.school, request_id=made.id, declined_by=w.teacher, reason="Next unit first."
        )
    client.force_login(w.guardian)
    child = page(client.get(reverse("reports:child", args=[w.school.slug, w.students[0].id])))
    assert "Declined" in child and "Next unit first." in child


def test_a_student_who_may_not_ask_yet_sees_why_and_sending_changes_nothing(client, world_a):
    w = world_a
    attempt(w, w.students[0], days_ago=1)
    client.force_login(w.student_user)
    content = page(client.get(my_request_url(w)))
    assert "You cannot ask yet" in content and "Send the request" not in content
    response = client.post(my_request_url(w), {"note": "please"})
    assert response.status_code == 422
    with scopes_disabled():
        assert not ReassessmentRequest.objects.filter(school=w.school).exists()


def test_a_family_asks_only_where_allowed_and_never_for_another_child(client, ready):
    w = ready
    client.force_login(w.guardian)
    own = reverse("reports:child_request", args=[w.school.slug, w.students[0].id, w.targets[0].id])
    other = reverse(
        "reports:child_request", args=[w.school.slug, w.students[1].id, w.targets[0].id]
    )
    assert client.get(other).status_code == 404
    assert client.post(other, {"note": "x"}).status_code == 404
    assert "In this course, families cannot ask" in page(client.get(own))
    assert client.post(own, {"note": "x"}).status_code == 422
    rules(w, min_days_after=3, families_may_request=True)
    assert client.post(own, {"note": "She practised"}).status_code == 302
    with scopes_disabled():
        made = ReassessmentRequest.objects.get(school=w.school)
    assert made.student == w.students[0] and made.requested_by == w.guardian
    withdraw_other = reverse(
        "reports:child_request_withdraw", args=[w.school.slug, w.students[1].id, made.id]
    )
    assert client.post(withdraw_other).status_code == 404
    made.refresh_from_db()
    assert made.status == "open"


def test_another_schools_people_get_404_and_change_nothing(client, ready, world_b):
    w = ready
    made = ask(w, w.students[0])
    client.force_login(world_b.teacher)
    resolve = url("request_resolve", w, section_id=w.section.id, request_id=made.id)
    response = client.post(resolve, {"status": "declined", "reason": "x"})
    assert response.status_code == 404
    client.force_login(world_b.student_user)
    assert client.get(my_request_url(w)).status_code == 404
    made.refresh_from_db()
    assert made.status == "open"


def test_a_teacher_of_another_section_cannot_resolve(client, ready):
    w = ready
    made = ask(w, w.students[0])
    client.force_login(w.other_teacher)
    resolve = url("request_resolve", w, section_id=w.section.id, request_id=made.id)
    assert client.post(resolve, {"status": "declined", "reason": "x"}).status_code == 404
    made.refresh_from_db()
    assert made.status == "open"


def test_the_teacher_accepts_from_home_and_declines_with_a_reason(client, ready):
    w = ready
    made = ask(w, w.students[0])
    client.force_login(w.teacher)
    home = reverse("school_home", args=[w.school.slug])
    content = page(client.get(home))
    assert 'name="scheduled_on"' in content and "Accept" in content
    resolve = url("request_resolve", w, section_id=w.section.id, request_id=made.id)
    day = TODAY + timedelta(days=3)
    response = client.post(
        resolve, {"status": "scheduled", "scheduled_on": day.isoformat(), "next": home}
    )
    assert response["Location"] == home
    made.refresh_from_db()
    assert made.status == "scheduled" and made.scheduled_on == day
    response = client.post(resolve, {"status": "declined", "reason": "", "next": home}, follow=True)
    assert "Say why the request is declined" in page(response)
    made.refresh_from_db()
    assert made.status == "scheduled"
    response = client.post(resolve, {"status": "scheduled", "scheduled_on": "31/12", "next": home})
    made.refresh_from_db()
    assert made.scheduled_on == day


def test_ticked_requests_are_scheduled_into_one_sitting(client, ready):
    w = ready
    attempt(w, w.students[1], days_ago=7)
    practised(w, w.students[1], days_ago=2)
    a = ask(w, w.students[0])
    b = ask(w, w.students[1], user=w.teacher, by=BY_TEACHER)
    client.force_login(w.teacher)
    list_url = url("reassessment_list", w, section_id=w.section.id)
    assert "Schedule in one sitting" in page(client.get(list_url))
    day = TODAY + timedelta(days=4)
    client.post(
        url("requests_schedule", w, section_id=w.section.id),
        {"request": [a.id, b.id], "scheduled_on": day.isoformat()},
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == b.status == "scheduled" and a.sitting_id == b.sitting_id


def test_the_rules_are_stated_on_the_policy_page_portal_and_report(client, ready):
    w = ready
    rules(w, min_days_after=3, max_per_period=3, note="Come to Tuesday tutorials first.")
    client.force_login(w.admin)
    policy = page(client.get(reverse("policy", args=[w.school.slug])))
    assert "At most 3 reassessments per target in each grading period." in policy
    client.force_login(w.student_user)
    portal = page(client.get(reverse("reports:me", args=[w.school.slug])))
    assert "Come to Tuesday tutorials first." in portal
    report = page(client.get(reverse("reports:my_report", args=[w.school.slug])))
    assert "Not within 3 days of the attempt being retaken." in report
    assert "it weighs 65% against everything before it" in report  # the default method


def test_only_school_admins_change_the_rules_and_bad_input_changes_nothing(client, world_a):
    w = world_a
    rules_url = reverse("rules", args=[w.school.slug])
    good = {
        "students_may_request": "on",
        "requires_practice": "on",
        "max_per_period": "3",
        "min_days_after": "2",
        "closes_days_before_end": "1",
        "expires_after_days": "5",
        "note": "",
    }
    client.force_login(w.teacher)
    assert client.post(rules_url, good).status_code == 403
    client.force_login(w.admin)
    for bad in ({"max_per_period": "0"}, {"min_days_after": "abc"}, {"expires_after_days": ""}):
        response = client.post(rules_url, {**good, **bad})
        assert response.status_code == 422
    with scopes_disabled():
        assert not ReassessmentRule.objects.filter(school=w.school).exists()
    assert client.post(rules_url, good).status_code == 302
    with scopes_disabled():
        rule = ReassessmentRule.objects.get(school=w.school, course=None)
        assert (rule.max_per_period, rule.families_may_request) == (3, False)
        assert AuditEvent.objects.filter(school=w.school, object_type="rules").count() == 1


def test_moving_a_request_to_another_day_leaves_no_empty_sitting_behind(ready):
    w = ready
    attempt(w, w.students[1], days_ago=7)
    practised(w, w.students[1], days_ago=2)
    a = ask(w, w.students[0])
    b = ask(w, w.students[1], user=w.teacher, by=BY_TEACHER)
    first, second = TODAY + timedelta(days=1), TODAY + timedelta(days=2)

    def accept(request, day):
        with scope(school=w.school):
            requests_accept(
                school=w.school, request_ids=[request.id], accepted_by=w.teacher, scheduled_on=day
            )
        request.refresh_from_db()
        return request.sitting_id

    def sittings():
        with scopes_disabled():
            return set(
                Assessment.objects.filter(school=w.school, kind="reassessment").values_list(
                    "assessed_on", flat=True
                )
            )

    shared = accept(a, first)
    assert accept(b, first) == shared
    accept(a, second)  # b still sits on the first day: that sitting stays
    assert sittings() == {first, second}
    accept(b, second)  # the first day's sitting is now empty: removed
    assert sittings() == {second}
    assert a.sitting_id == b.sitting_id
