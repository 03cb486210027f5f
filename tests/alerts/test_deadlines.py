"""Posting deadlines: a teacher hears, two days before a grading period's posting window
closes, how many of their sections have no marks posted; once per period, and not when the
section's marks are posted or the window is further off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from alerts.dated import deadlines_record, report_cards_record
from mastery.models import AlertEvent
from mastery.tenancy import enter_school
from tests.alerts.test_alerts import run, smtp  # noqa: F401  (the SMTP fixture)
from tests.factories import make_evidence
from tests.mail import text_of
from tests.marks.test_key import TODAY, in_q1, periods, post_all_computed

pytestmark = pytest.mark.django_db


def record(w, day=None) -> int:
    with enter_school(w.school):
        return deadlines_record(w.school, today=day or timezone.localdate())


def test_a_teacher_hears_of_sections_not_posted_before_the_window_closes(world_a, smtp):  # noqa: F811
    w = world_a
    q1, _ = periods(w)
    with scopes_disabled():
        q1.posting_closes_on = timezone.localdate() + timedelta(days=2)
        q1.save(update_fields=["posting_closes_on"])
    assert record(w, timezone.localdate() - timedelta(days=1)) == 0  # three days off: not yet
    assert record(w) == 2  # the teacher of the section, the teacher of the other section
    assert record(w) == 0  # the same night again, or the next: once per teacher and period
    run(w)
    (mail,) = smtp.to(w.teacher.email)
    body = text_of(mail)
    assert "Marks for Q1 are due by" in body and "1 section not posted yet." in body
    for student in w.students:
        assert student.first_name not in body


def test_a_teacher_who_posted_hears_nothing(world_a, smtp):  # noqa: F811
    w = world_a
    q1, _ = periods(w)
    assessment = in_q1(w)
    make_evidence(w, w.student, w.targets[0], "3", assessment=assessment)
    post_all_computed(w, w.section, q1)
    with scopes_disabled():
        q1.posting_closes_on = TODAY + timedelta(days=1)
        q1.save(update_fields=["posting_closes_on"])
    record(w)
    with scope(school=w.school):
        told = set(AlertEvent.objects.values_list("user_id", flat=True))
    assert w.teacher.pk not in told
    assert w.other_teacher.pk in told  # the other section has nothing posted


def test_a_family_hears_the_day_its_report_card_is_released(world_a, smtp):  # noqa: F811
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.student, w.targets[0], "3", assessment=in_q1(w))
    post_all_computed(w, w.section, q1)
    today = timezone.localdate()
    with scopes_disabled():
        q1.posting_closes_on = today + timedelta(days=1)
        q1.save(update_fields=["posting_closes_on"])
    with enter_school(w.school):
        assert report_cards_record(w.school, today=today) == 0  # teachers still posting
    with scopes_disabled():
        q1.posting_closes_on = today - timedelta(days=1)
        q1.save(update_fields=["posting_closes_on"])
    with enter_school(w.school):
        told = report_cards_record(w.school, today=today)
        assert report_cards_record(w.school, today=today + timedelta(days=1)) == 0  # once
    assert told == len(w.students)  # every student of the section has marks posted
    run(w)
    (mail,) = [m for m in smtp.to(w.guardian.email) if "report card" in text_of(m)]
    body = text_of(mail)
    assert "A report card is ready" in body
    assert f"/s/{w.school.slug}/family/{w.student.pk}/report-cards/" in body


def test_an_old_period_is_not_announced_when_alerts_start(world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.student, w.targets[0], "3", assessment=in_q1(w))
    post_all_computed(w, w.section, q1)
    with scopes_disabled():
        q1.posting_closes_on = timezone.localdate() - timedelta(days=9)
        q1.save(update_fields=["posting_closes_on"])
    with enter_school(w.school):
        assert report_cards_record(w.school, today=timezone.localdate()) == 0
