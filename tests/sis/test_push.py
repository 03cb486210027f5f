"""The push to an SIS that expects grades (issue [15] item 3), against a OneRoster 1.2 gradebook
server written for the tests from the specification, on loopback over TLS: what goes is what the
files hold; a refusal is kept in the SIS's words; a push stopped half-way by the SIS is retried and
sends nothing twice; a second push sends only what changed; a real Celery worker runs it, with
backoff while the SIS answers 503."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from django.db import transaction
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from marks.models import PostedMark
from mastery.models import AuditEvent
from sis.gradebook import period_gradebook
from sis.models import SisDelivery, SisDeliveryItem
from sis.push import PushRefused, PushStopped, SisHttp, push_run
from sis.services import connection_save, push_start
from tests.factories import make_member
from tests.sis.conftest import make_bundle_school
from tests.sis.oneroster_server import OneRosterGradebookServer
from tests.workers import celery_worker

KEY = Fernet.generate_key().decode()


@pytest.fixture
def sis_server():
    with OneRosterGradebookServer() as server:
        yield server


@pytest.fixture
def pushing(settings, sis_server):
    settings.SIS_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SIS_PUSH_CA_FILE = str(sis_server.ca_file)
    settings.SIS_CREDENTIALS_KEY = KEY
    return sis_server


def connect(b, server):
    with scopes_disabled():
        return connection_save(
            user=b.poster,
            school=b.school,
            name="Campus",
            base_url=server.base_url,
            token_url=server.token_url,
            client_id=server.client_id,
            secret=server.client_secret,
        )


def new_push(b) -> SisDelivery:
    with scopes_disabled():
        return SisDelivery.objects.create(
            school=b.school, period=b.period, kind=SisDelivery.Kind.PUSH, requested_by=b.poster
        )


def run(b, delivery, http=None):
    with scope(school=b.school):
        return push_run(school=b.school, delivery=delivery, http=http)


def accepted_puts(server) -> list[str]:
    return [
        r.path.rsplit("/", 1)[1] for r in server.requests if r.method == "PUT" and r.status < 300
    ]


@pytest.mark.django_db
def test_the_sis_receives_the_files_values_and_a_second_push_sends_nothing(pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    delivery = run(b, new_push(b))
    assert delivery.status == SisDelivery.Status.DONE
    assert (delivery.counts["sent"], delivery.counts["refused"]) == (6, 0)
    with scope(school=b.school):
        book = period_gradebook(school=b.school, period=b.period)
    assert set(server.line_items) == {i["sourcedId"] for i in book.line_items}
    for result in book.results:
        stored = server.results[result["sourcedId"]]
        assert (stored["score"], stored.get("textScore")) == (
            result["score"],
            result.get("textScore"),
        )
        assert stored["student"]["sourcedId"] == result["student"]["sourcedId"]
    # Every line item went before any result, each once.
    puts = [r.path for r in server.requests if r.method == "PUT"]
    assert all("/lineItems/" in p for p in puts[:2]) and all("/results/" in p for p in puts[2:])
    again = run(b, new_push(b))
    assert (again.counts["sent"], again.counts["unchanged"]) == (0, 6)
    assert len(accepted_puts(server)) == 6
    # The secret is nowhere in the audit trail.
    with scopes_disabled():
        texts = " ".join(
            f"{e.summary} {e.before} {e.after}" for e in AuditEvent.objects.filter(school=b.school)
        )
    assert server.client_secret not in texts


@pytest.mark.django_db
def test_a_refused_result_is_kept_in_the_sis_s_words_and_the_rest_goes(pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    with scope(school=b.school):
        book = period_gradebook(school=b.school, period=b.period)
    refused = book.results[1]["sourcedId"]
    server.refuse(refused, status=422, description="Student usr-ben is not enrolled in this class")
    delivery = run(b, new_push(b))
    assert delivery.status == SisDelivery.Status.REFUSED
    assert (delivery.counts["sent"], delivery.counts["refused"]) == (5, 1)
    with scopes_disabled():
        item = SisDeliveryItem.objects.get(delivery=delivery, outcome="refused")
    assert item.sourced_id == refused and item.http_status == 422
    assert "not enrolled in this class" in item.message
    # District IT reads whose mark it was, not only its sourcedId.
    assert item.label == "Okafor, Ben · Algebra 1 · Period 2 · Q1: ALG.1"
    assert refused not in server.results
    # Once the SIS is fixed, the next push sends that one result only.
    server.stop_refusing(refused)
    before = len(accepted_puts(server))
    later = run(b, new_push(b))
    assert later.counts["sent"] == 1
    assert accepted_puts(server)[before:] == [refused]


class FailingAfter(SisHttp):
    """Real HTTP; after `n` PUTs the server is told to answer the next one 503 (an outage
    half-way through a push)."""

    def __init__(self, server, n: int) -> None:
        super().__init__()
        self.server, self.left = server, n

    def request(self, method, url, *, body, headers):
        if method == "PUT":
            if self.left == 0:
                self.server.fail_next(1, status=503, retry_after=7)
            self.left -= 1
        return super().request(method, url, body=body, headers=headers)


@pytest.mark.django_db
def test_a_push_stopped_half_way_resumes_and_sends_nothing_twice(pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    delivery = new_push(b)
    with pytest.raises(PushStopped) as stopped:
        run(b, delivery, http=FailingAfter(server, 3))
    assert stopped.value.retry_after == 7
    assert len(server.line_items) + len(server.results) == 3
    delivery.refresh_from_db()
    assert delivery.counts["sent"] == 3
    # The retry of the same push: only the three still owed.
    done = run(b, delivery)
    assert done.status == SisDelivery.Status.DONE
    assert done.counts["sent"] == 6
    sent = accepted_puts(server)
    assert len(sent) == len(set(sent)) == 6


@pytest.mark.django_db
def test_a_changed_mark_is_sent_again_newly_dated(pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    run(b, new_push(b))
    with scopes_disabled():
        PostedMark.objects.create(
            school=b.school,
            student=b.students[0],
            section=b.section,
            period=b.period,
            kind=PostedMark.Kind.TARGET,
            target=b.targets[0],
            subject_id=b.targets[0].pk,
            version=2,
            computed_value="3",
            value="4",
            reason="Portfolio review",
            posted_by=b.poster,
            posted_at=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        )
    again = run(b, new_push(b))
    assert again.counts["sent"] == 1
    resent = server.results[accepted_puts(server)[-1]]
    assert (resent["score"], resent["dateLastModified"]) == (4, "2026-11-21T10:00:00.000Z")


@pytest.mark.django_db
def test_credentials_the_sis_refuses_fail_the_push_with_a_clear_message(pushing):
    server = pushing
    b = make_bundle_school()
    with scopes_disabled():
        connection_save(
            user=b.poster,
            school=b.school,
            name="Campus",
            base_url=server.base_url,
            token_url=server.token_url,
            client_id=server.client_id,
            secret="wrong-secret",
        )
    with pytest.raises(PushRefused, match="refused our credentials"):
        run(b, new_push(b))
    assert not server.line_items


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_pushes_with_backoff_while_the_sis_answers_503(sis_server, settings):
    settings.SIS_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SIS_PUSH_CA_FILE = str(sis_server.ca_file)
    settings.SIS_CREDENTIALS_KEY = KEY
    b = make_bundle_school(base=7_500_001, slug="bundle-worker")
    connect(b, sis_server)
    sis_server.fail_next(2, status=503)
    env = {
        "SIS_PUSH_ALLOWED_HOSTS": "127.0.0.1",
        "SIS_PUSH_CA_FILE": str(sis_server.ca_file),
        "SIS_CREDENTIALS_KEY": KEY,
        "SIS_PUSH_BACKOFF": "0.2",
    }
    with celery_worker(**env) as worker:
        with scopes_disabled(), transaction.atomic():
            delivery, made = push_start(user=b.poster, school=b.school, period=b.period)
        assert made
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status in ("done", "refused", "failed"):
                break
            time.sleep(0.3)
        assert worker.alive()
    assert delivery.status == SisDelivery.Status.DONE, (delivery.error, worker.output[-2000:])
    assert delivery.attempts == 3
    assert len(sis_server.results) == 4 and len(sis_server.line_items) == 2
    sent = accepted_puts(sis_server)
    assert len(sent) == len(set(sent)) == 6


@pytest.mark.django_db
def test_a_mark_withdrawn_after_a_push_is_sent_as_tobedeleted(pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    run(b, new_push(b))
    with scopes_disabled():
        PostedMark.objects.create(
            school=b.school,
            student=b.students[0],
            section=b.section,
            period=b.period,
            kind=PostedMark.Kind.TARGET,
            target=b.targets[1],
            subject_id=b.targets[1].pk,
            version=2,
            computed_value="3.5",
            value="",
            reason="Not enough evidence after all",
            posted_by=b.poster,
            posted_at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        )
    again = run(b, new_push(b))
    assert again.counts["sent"] == 1
    withdrawn = server.results[accepted_puts(server)[-1]]
    assert (withdrawn["status"], withdrawn["scoreStatus"]) == ("tobedeleted", "not submitted")
    assert "score" not in withdrawn


@pytest.mark.django_db
def test_the_delivery_page_says_whose_mark_the_sis_refused_and_why(client, pushing):
    server = pushing
    b = make_bundle_school()
    connect(b, server)
    with scope(school=b.school):
        book = period_gradebook(school=b.school, period=b.period)
    server.refuse(book.results[3]["sourcedId"], status=422, description="Grade locked in the SIS")
    delivery = run(b, new_push(b))
    admin = make_member(b.school, "school_admin", "it@push.test", "Ida IT")
    client.force_login(admin)
    page = client.get(
        reverse("sis:delivery", kwargs={"school_slug": b.school.slug, "delivery_id": delivery.pk})
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "Done, some refused" in html
    assert "Okafor, Ben · Algebra 1 · Period 2 · Q1: ALG.2" in html
    assert "422: Grade locked in the SIS" in html
