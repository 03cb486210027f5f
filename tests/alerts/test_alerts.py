"""Alerts families and staff get (issue [17]), received by a real SMTP server on loopback: what
each mail says in English and Spanish, private unless asked, digests grouped per family, undone
changes dropped, guardianship checked at build and at send, one-click unsubscribe, preferences,
exactly once, bounces, and school A never hearing school B's news."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from alerts import builder, sending
from alerts.models import AlertDelivery, AlertItem, AlertSettings, Frequency
from alerts.services import alerts_save, alerts_stop
from alerts.tasks import run_school
from gradebook.models import Guardianship, ReassessmentRule
from gradebook.selectors.reassessment import BY_STUDENT, BY_TEACHER
from gradebook.services.evidence import evidence_void
from gradebook.services.requests import request_create, request_decline
from mastery import audit, outbox
from mastery.models import AlertEvent, Role
from mastery.tenancy import enter_school
from tests.factories import make_evidence, make_member, make_reassessable
from tests.mail import smtp_mailers, smtp_on_loopback, text_of

pytestmark = pytest.mark.django_db
Kind = AlertEvent.Kind


@pytest.fixture
def smtp(settings):
    with smtp_on_loopback() as (box, port):
        settings.MAILERS = smtp_mailers(port)
        settings.SITE_URL = "https://grades.example"
        yield box


def run(world, *, later: timedelta = timedelta(minutes=11)) -> sending.Sent:
    """What the every-minute task does for the school, `later` from now."""
    at = timezone.now() + later
    with enter_school(world.school):
        while builder.items_build(world.school, now=at):
            pass
        while builder.mails_build(world.school, now=at):
            pass
        return sending.send_pending(world.school)


def choose(user, **frequencies: str) -> None:
    alerts_save(user, frequencies=frequencies, details=False, quiet_from=None, quiet_until=None)


def header(mail, name: str) -> str:
    """A header as sent, unfolded (a long one is folded over lines)."""
    return re.sub(r"\s+", "", str(mail[name]))


def deliveries(world) -> list[AlertDelivery]:
    with scopes_disabled():
        return list(AlertDelivery.objects.filter(school=world.school).order_by("id"))


# --- What a mail says --------------------------------------------------------------------------


def test_missing_work_reaches_the_family_right_away_and_says_nothing_private(world_a, smtp):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    assert run(w, later=timedelta(minutes=1)).sent == 0  # within the grace period: nothing yet
    result = run(w)
    assert result.sent == 2  # the guardian and the student themselves
    (mail,) = smtp.to(w.guardian.email)
    body = text_of(mail)
    assert w.student.first_name in mail["Subject"]
    assert "1 piece of work marked missing or incomplete" in body
    assert w.assessment.title not in body  # no details unless the family asks
    assert f"https://grades.example/s/{w.school.slug}/family/{w.student.pk}/" in body
    # RFC 8058 one-click unsubscribe
    (link,) = re.findall(
        r"<(https://grades\.example/alerts/unsubscribe/[^>]+)>", header(mail, "List-Unsubscribe")
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in body
    (own,) = smtp.to(w.student_user.email)
    assert f"https://grades.example/s/{w.school.slug}/me/" in text_of(own)
    # Nothing more on the next run: each mail once.
    assert run(w).sent == 0
    assert len(smtp.messages) == 2


def test_a_family_that_asks_for_details_sees_the_score_and_the_comment(world_a, smtp):
    w = world_a
    alerts_save(
        w.guardian,
        frequencies={Kind.SCORE: Frequency.IMMEDIATE},
        details=True,
        quiet_from=None,
        quiet_until=None,
    )
    make_evidence(w, w.student, w.targets[0], "3")
    run(w)
    (mail,) = smtp.to(w.guardian.email)
    assert f"{w.assessment.title}: scored 3" in text_of(mail)


def test_a_spanish_speaking_family_reads_its_mail_in_spanish(world_a, smtp):
    w = world_a
    w.guardian.preferred_language = "es"
    w.guardian.save(update_fields=["preferred_language"])
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    run(w)
    (mail,) = smtp.to(w.guardian.email)
    body = text_of(mail)
    assert mail["Content-Language"] == "es"
    assert "novedades" in mail["Subject"].lower()
    assert "1 trabajo marcado como faltante o incompleto" in body
    assert "Detener todas las alertas" in body
    (english,) = smtp.to(w.student_user.email)
    assert "missing or incomplete" in text_of(english)


# --- Digests -------------------------------------------------------------------------------------


def test_a_family_with_two_children_gets_one_daily_summary(world_a, smtp, settings):
    w = world_a
    local = timezone.localtime(timezone.now() + timedelta(minutes=11))
    settings.ALERTS_DIGEST_HOUR = (local.hour + 3) % 24
    with scope(school=w.school):
        Guardianship.objects.create(school=w.school, guardian=w.guardian, student=w.students[1])
    make_evidence(w, w.students[0], w.targets[0], "3")
    make_evidence(w, w.students[1], w.targets[0], "2")
    make_evidence(w, w.students[1], w.targets[1], "4")
    assert run(w).sent == 0  # scores wait for the summary (the default)
    assert run(w, later=timedelta(days=1, minutes=11)).sent == 2  # the guardian, the student
    (mail,) = smtp.to(w.guardian.email)
    body = text_of(mail)
    assert "today's summary" in mail["Subject"]
    assert (
        w.students[0].first_name in mail["Subject"] and w.students[1].first_name in mail["Subject"]
    )
    assert "1 new score" in body and "2 new scores" in body
    assert run(w, later=timedelta(days=2)).sent == 0


def test_a_score_corrected_or_voided_before_the_summary_is_not_mailed(world_a, smtp):
    w = world_a
    choose(w.student_user, score=Frequency.NEVER)
    first = make_evidence(w, w.student, w.targets[0], "1").evidence  # a typo
    make_evidence(w, w.student, w.targets[0], "3")  # corrected: replaces the 1
    voided = make_evidence(w, w.student, w.targets[1], "2").evidence
    with scope(school=w.school):
        evidence_void(
            school=w.school, evidence_id=voided.pk, voided_by=w.teacher, reason="Wrong student"
        )
    run(w)  # built into items, waiting for the summary
    run(w, later=timedelta(days=1, minutes=11))
    (mail,) = smtp.to(w.guardian.email)
    assert "1 new score" in text_of(mail)
    with scopes_disabled():
        states = dict(
            AlertItem.objects.filter(recipient=w.guardian).values_list("event__object_id", "state")
        )
    assert states[first.pk] == AlertItem.State.UNDONE
    assert states[voided.pk] == AlertItem.State.UNDONE
    assert list(states.values()).count(AlertItem.State.MAILED) == 1


def test_quiet_hours_hold_a_mail_until_they_end(world_a, smtp):
    w = world_a
    at = timezone.localtime(timezone.now() + timedelta(minutes=11))
    start = (at - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (at + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    alerts_save(w.guardian, frequencies={}, details=False, quiet_from=start, quiet_until=end)
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    run(w)
    assert smtp.to(w.guardian.email) == []
    assert len(smtp.to(w.student_user.email)) == 1  # not the student's quiet hours
    run(w, later=timedelta(hours=3))
    assert len(smtp.to(w.guardian.email)) == 1


# --- Guardianship, schools ---------------------------------------------------------------------------


def test_a_custody_change_between_building_and_sending_stops_the_mail(world_a, smtp):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        builder.items_build(w.school, now=at)
        builder.mails_build(w.school, now=at)
        Guardianship.objects.filter(school=w.school, guardian=w.guardian).delete()
        result = sending.send_pending(w.school)
    assert smtp.to(w.guardian.email) == []
    assert result.withheld == 1 and result.sent == 1  # the student's own mail still goes
    (held,) = [d for d in deliveries(w) if d.recipient_id == w.guardian.pk]
    assert held.status == AlertDelivery.Status.WITHHELD
    assert "No longer a guardian" in held.error


def test_a_guardianship_ended_before_the_build_mails_nothing(world_a, smtp):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    with enter_school(w.school):
        builder.items_build(w.school, now=timezone.now() + timedelta(minutes=11))
        Guardianship.objects.filter(school=w.school, guardian=w.guardian).delete()
    run(w)
    assert smtp.to(w.guardian.email) == []


def test_a_family_never_gets_another_schools_or_another_familys_news(world_a, world_b, smtp):
    for w in (world_a, world_b):
        make_evidence(w, w.students[1], w.targets[0], None, status="missing")  # no guardian
        make_evidence(w, w.student, w.targets[0], None, status="missing")
    run(world_a)
    run(world_b)
    (a,) = smtp.to(world_a.guardian.email)
    (b,) = smtp.to(world_b.guardian.email)
    assert world_a.school.name in a["Subject"] and world_b.school.name not in text_of(a)
    assert world_a.students[1].first_name not in text_of(a)
    with scope(school=world_a.school):
        assert {d.school_id for d in AlertDelivery.objects.all()} == {world_a.school.pk}


def test_bulk_changes_mail_nobody(world_a, smtp):
    w = world_a
    with audit.context(source="oneroster"):
        make_evidence(w, w.student, w.targets[0], None, status="missing")
    with outbox.silenced():
        make_evidence(w, w.student, w.targets[1], None, status="missing")
    assert run(w, later=timedelta(days=8)).sent == 0
    assert smtp.messages == []


def test_a_teacher_hears_of_a_request_without_any_students_name_and_the_family_of_the_answer(
    world_a, smtp
):
    w = world_a
    choose(w.teacher, request_received=Frequency.IMMEDIATE)
    make_reassessable(w)
    with scope(school=w.school):
        request = request_create(
            school=w.school,
            requested_by=w.student_user,
            student=w.student,
            target=w.targets[0],
            by=BY_STUDENT,
            note="I practised",
        )
    run(w)
    (mail,) = smtp.to(w.teacher.email)
    body = text_of(mail)
    assert "1 new reassessment request to answer." in body
    assert w.student.first_name not in body + mail["Subject"]
    assert smtp.to(w.other_teacher.email) == []  # not their section
    with scope(school=w.school):
        request_decline(
            school=w.school, request_id=request.pk, declined_by=w.teacher, reason="Not yet"
        )
    run(w, later=timedelta(minutes=22))
    (answer,) = [m for m in smtp.to(w.guardian.email) if "request" in text_of(m)]
    assert "1 reassessment request answered" in text_of(answer)


# --- Stopping, choosing ------------------------------------------------------------------------------


def test_one_click_unsubscribe_stops_every_alert(world_a, smtp, client):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    run(w)
    (mail,) = smtp.to(w.guardian.email)
    (link,) = re.findall(r"<([^>]+)>", header(mail, "List-Unsubscribe"))
    path = link.removeprefix("https://grades.example")
    # A link scanner's GET stops nothing.
    page = client.get(path)
    assert page.status_code == 200 and b"Stop all alerts" in page.content
    assert not AlertSettings.objects.filter(user=w.guardian).exists()
    # The mail provider's one-click POST: no session, no CSRF token.
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    make_evidence(w, w.student, w.targets[1], None, status="missing")
    run(w, later=timedelta(days=8))
    assert len(smtp.to(w.guardian.email)) == 1  # nothing after
    assert len(smtp.to(w.student_user.email)) == 2  # the student chose nothing of the kind


def test_an_unsubscribe_link_not_made_here_changes_nothing(client, world_a):
    response = client.post(
        "/alerts/unsubscribe/forged/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 404
    assert not AlertSettings.objects.exists()


def test_a_mail_built_before_an_unsubscribe_is_not_sent_after_it(world_a, smtp, client):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        builder.items_build(w.school, now=at)
        builder.mails_build(w.school, now=at)
    alerts_stop(w.guardian)
    with enter_school(w.school):
        sending.send_pending(w.school)
    assert smtp.to(w.guardian.email) == []


def test_a_family_chooses_its_alerts_and_a_bad_entry_saves_nothing(client, world_a):
    w = world_a
    client.force_login(w.guardian)
    page = client.get(reverse("alerts:preferences"))
    assert page.status_code == 200
    assert b"Work marked missing or incomplete" in page.content
    assert b"A reassessment request to answer" not in page.content  # a staff kind
    bad = client.post(
        reverse("alerts:preferences"),
        {
            "kind_score": "immediate",
            "kind_below": "daily",
            "kind_opportunity": "immediate",
            "kind_report_card": "immediate",
            "kind_missing": "never",
            "kind_feedback": "daily",
            "kind_request_answered": "weekly",
            "kind_placement": "never",
            "quiet_from": "21:00",
        },
    )
    assert bad.status_code == 400
    assert b"Give both ends of the quiet hours" in bad.content
    assert not AlertSettings.objects.filter(user=w.guardian).exists()
    good = client.post(
        reverse("alerts:preferences"),
        {
            "kind_score": "immediate",
            "kind_below": "daily",
            "kind_opportunity": "immediate",
            "kind_report_card": "immediate",
            "kind_missing": "never",
            "kind_feedback": "daily",
            "kind_request_answered": "weekly",
            "kind_placement": "never",
            "details": "on",
            "quiet_from": "21:00",
            "quiet_until": "07:00",
        },
    )
    assert good.status_code == 302
    saved = AlertSettings.objects.get(user=w.guardian)
    assert (
        saved.frequencies[Kind.SCORE] == "immediate" and saved.frequencies[Kind.MISSING] == "never"
    )
    assert saved.details and str(saved.quiet_from) == "21:00:00"


def test_the_settings_page_in_spanish(client, world_a):
    w = world_a
    w.guardian.preferred_language = "es"
    w.guardian.save(update_fields=["preferred_language"])
    client.force_login(w.guardian)
    page = client.get(reverse("alerts:preferences"))
    text = page.content.decode()
    assert "Horas de silencio" in text
    assert "En un resumen diario" in text


# --- Delivery: refused, bounced, the school's page ----------------------------------------------------


def test_a_refused_address_is_recorded_and_shown_to_the_school(world_a, smtp, client):
    w = world_a
    smtp.refuse.add(w.guardian.email)
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    result = run(w)
    assert result.failed == 1 and result.sent == 1
    (failed,) = [d for d in deliveries(w) if d.status == AlertDelivery.Status.FAILED]
    assert "No such mailbox" in failed.error
    assert run(w).failed == 0  # not tried again
    client.force_login(w.admin)
    page = client.get(reverse("alerts_sent", args=[w.school.slug]), {"status": "failed"})
    assert page.status_code == 200
    assert w.guardian.email.encode() in page.content and b"No such mailbox" in page.content


def test_a_provider_bounce_marks_the_mail_refused(world_a, client, settings):
    w = world_a
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:secret"}
    with scope(school=w.school):
        d = AlertDelivery.objects.create(
            school=w.school,
            recipient=w.guardian,
            address=w.guardian.email,
            frequency="immediate",
            language="en",
            subject="s",
            body="b",
            status=AlertDelivery.Status.SENT,
            message_id="883953f4-6105-42a2-a16a-77a8eac79483",
        )
    payload = {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": d.message_id,
        "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.1.1 unknown",
        "Email": w.guardian.email,
        "From": "gradebook@localhost",
        "BouncedAt": "2026-12-07T10:00:00Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "s",
        "MessageStream": "outbound",
        "Tag": "",
        "Metadata": {},
        "ServerID": 1,
        "DumpAvailable": False,
        "Content": "",
    }
    auth = base64.b64encode(b"hook:secret").decode()
    response = client.post(
        reverse("alerts:postmark_tracking"),
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )
    assert response.status_code == 200
    d.refresh_from_db()
    assert d.status == AlertDelivery.Status.FAILED and "unable to deliver" in d.error
    wrong = client.post(
        reverse("alerts:postmark_tracking"), json.dumps(payload), content_type="application/json"
    )
    assert wrong.status_code in (400, 401, 403)


@pytest.mark.parametrize("role", ["teacher", "counselor", "guardian", "student_user"])
def test_only_the_schools_admins_see_what_was_sent(client, world_a, role):
    client.force_login(getattr(world_a, role))
    assert client.get(reverse("alerts_sent", args=[world_a.school.slug])).status_code == 403


def test_another_schools_admin_cannot_see_what_was_sent(client, world_a, world_b):
    client.force_login(world_b.admin)
    assert client.get(reverse("alerts_sent", args=[world_a.school.slug])).status_code in (403, 404)


def test_sending_twice_at_once_sends_each_mail_once(world_a, smtp):
    w = world_a
    for student in w.students:
        with scope(school=w.school):
            Guardianship.objects.get_or_create(
                school=w.school, guardian=w.guardian, student=student
            )
        make_evidence(w, student, w.targets[0], None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        builder.items_build(w.school, now=at)
        builder.items_build(w.school, now=at)  # a redelivered build adds nothing
        builder.mails_build(w.school, now=at)
        builder.mails_build(w.school, now=at)
        first = sending.send_pending(w.school)
        second = sending.send_pending(w.school)
    assert second.sent == 0
    assert first.sent == len(deliveries(w)) == len(smtp.messages)
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == len(set(ids))


def test_a_batch_of_people_whose_news_was_all_undone_does_not_stop_the_next(
    world_a, smtp, settings
):
    w = world_a
    settings.ALERTS_BATCH = 1
    settings.ALERTS_GRACE_SECONDS = 0
    gone = make_evidence(w, w.student, w.targets[0], None, status="missing").evidence
    with scope(school=w.school):
        evidence_void(school=w.school, evidence_id=gone.pk, voided_by=w.teacher, reason="Oops")
        later = make_member(w.school, Role.GUARDIAN, "later@alpha.test")  # a higher id
        Guardianship.objects.create(school=w.school, guardian=later, student=w.students[1])
    make_evidence(w, w.students[1], w.targets[0], None, status="missing")
    result = run_school.delay(school_id=w.school.pk).get()
    assert result["mails"] == 1
    assert [m["To"] for m in smtp.messages] == ["later@alpha.test"]


def test_a_mail_goes_to_the_address_the_owner_has_when_it_is_sent(world_a, smtp):
    w = world_a
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        builder.items_build(w.school, now=at)
        builder.mails_build(w.school, now=at)
        w.guardian.email = "gus.new@alpha.test"  # confirmed by the owner from the new address
        w.guardian.save(update_fields=["email"])
        sending.send_pending(w.school)
    assert len(smtp.to("gus.new@alpha.test")) == 1
    assert smtp.to("guardian@alpha.test") == []


def test_a_mail_provider_takes_the_mail_and_its_message_id_is_kept(world_a, settings):
    """django-anymail's own test backend: the provider path without the network."""
    w = world_a
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    assert run(w).sent == 2
    kept = {d.message_id for d in deliveries(w)}
    assert kept == {"0", "1"}  # the provider's ids (its webhooks name them), not our Message-ID


def test_a_family_hears_when_a_score_leaves_a_target_below_proficient(world_a, smtp):
    w = world_a
    alerts_save(
        w.guardian,
        frequencies={Kind.SCORE: Frequency.NEVER, Kind.BELOW: Frequency.IMMEDIATE},
        details=True,
        quiet_from=None,
        quiet_until=None,
    )
    make_evidence(w, w.student, w.targets[0], "4")  # proficient: no news of this kind
    run(w)
    assert smtp.to(w.guardian.email) == []
    make_evidence(w, w.student, w.targets[1], "1")
    run(w, later=timedelta(minutes=22))
    (mail,) = smtp.to(w.guardian.email)
    assert f"Below proficient now: {w.targets[1].code}" in text_of(mail)
    assert "scored" not in text_of(mail)  # the score itself: never, by their choice


def test_below_proficient_news_is_dropped_if_the_target_is_proficient_again_by_the_summary(
    world_a, smtp
):
    w = world_a
    choose(w.guardian, score=Frequency.NEVER, below=Frequency.DAILY)
    choose(w.student_user, score=Frequency.NEVER, below=Frequency.NEVER)
    make_evidence(w, w.student, w.targets[1], "1")
    run(w)  # the item waits for the evening's summary
    make_evidence(w, w.student, w.targets[1], "4")  # a reassessment the same day
    run(w, later=timedelta(days=1, minutes=11))
    assert smtp.to(w.guardian.email) == []


def test_a_reassessment_a_teacher_offers_is_news_at_home_not_for_that_teacher(world_a, smtp):
    w = world_a
    choose(w.teacher, request_received=Frequency.IMMEDIATE)
    make_reassessable(w)
    with scope(school=w.school):
        ReassessmentRule.objects.update_or_create(
            school=w.school, course=None, defaults={"teachers_may_request": True}
        )
        request_create(
            school=w.school,
            requested_by=w.teacher,
            student=w.student,
            target=w.targets[0],
            by=BY_TEACHER,
            note="Come on Thursday",
        )
    run(w)
    (mail,) = smtp.to(w.guardian.email)
    assert "1 reassessment offered by a teacher" in text_of(mail)
    assert smtp.to(w.teacher.email) == []  # their own note is no news to them
