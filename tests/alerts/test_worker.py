"""Exactly once through a real Celery worker killed mid-batch: every alert mail is received at
most once, the one in flight when the worker died stays unconfirmed (never sent again), and a
redelivered task sends the rest."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from alerts import builder
from alerts.models import AlertDelivery
from alerts.tasks import run_school
from config.celery import app as celery_app
from gradebook.models import Guardianship
from mastery.models import Role
from mastery.tenancy import enter_school
from tests.factories import make_evidence, make_member, make_world
from tests.mail import smtp_on_loopback
from tests.workers import start_worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Status = AlertDelivery.Status


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with scopes_disabled():
            if predicate():
                return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _statuses(school) -> Counter:
    with scopes_disabled():
        return Counter(AlertDelivery.objects.filter(school=school).values_list("status", flat=True))


def _stop(process) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_worker_killed_mid_batch_sends_nothing_twice(client):
    w = make_world("killmail", students=2)
    with scope(school=w.school):
        for i in range(12):
            relative = make_member(w.school, Role.GUARDIAN, f"relative{i}@killmail.test")
            Guardianship.objects.create(school=w.school, guardian=relative, student=w.student)
    make_evidence(w, w.student, w.targets[0], None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        builder.items_build(w.school, now=at)
        builder.mails_build(w.school, now=at)
    total = sum(_statuses(w.school).values())
    assert total == 14  # twelve relatives, the guardian, the student

    with smtp_on_loopback() as (box, port):
        box.delay = 0.4  # a slow mail server: the worker is mid-mail most of the time
        env = {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(port),
            "EMAIL_USE_TLS": "0",
            "CELERY_VISIBILITY_TIMEOUT": "2",
        }
        celery_app.control.purge()
        first = start_worker_process(**env)
        second = None
        celery_app.conf.task_always_eager = False
        try:
            run_school.delay(school_id=w.school.pk)
            _wait_for(lambda: len(box.received) >= 4, 60, "the first mails")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed = _statuses(w.school)
            assert killed[Status.PENDING] > 0  # died mid-batch
            assert killed[Status.SENDING] <= 1  # only the mail in flight is unconfirmed
            time.sleep(3)  # past the visibility timeout: the task is delivered again
            second = start_worker_process(**env)
            _wait_for(
                lambda: (
                    not AlertDelivery.objects.filter(
                        school=w.school, status=Status.PENDING
                    ).exists()
                ),
                90,
                "the redelivered task to send the rest",
            )
            time.sleep(1)  # the last mail's DATA completes at the server
        finally:
            celery_app.conf.task_always_eager = True
            _stop(first)
            _stop(second)
        received = Counter(rcpt for rcpts, _ in box.received for rcpt in rcpts)

    final = _statuses(w.school)
    assert final[Status.SENDING] == killed[Status.SENDING]  # never sent again
    assert final[Status.SENT] + final[Status.SENDING] == total
    assert max(received.values()) == 1  # nobody got a mail twice
    with scopes_disabled():
        sent = set(
            AlertDelivery.objects.filter(school=w.school, status=Status.SENT).values_list(
                "address", flat=True
            )
        )
    assert sent <= set(received)  # every mail marked sent was received
    assert len(received) >= final[Status.SENT]
    if final[Status.SENDING]:
        client.force_login(w.admin)
        page = client.get(reverse("alerts_sent", args=[w.school.slug]), {"status": "sending"})
        assert b"Unconfirmed" in page.content
