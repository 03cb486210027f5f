"""The wall entered per transaction, behind PgBouncer in transaction mode (mastery.rls).

The suite runs as the app's role through PgBouncer (tests/conftest.py): a server connection
serves another client after each transaction. These tests act as two clients would, and as the
code paths the per-connection wall was kept for (rls.py's reasons): a service's own transaction,
a task's progress and FAILED marks, a streamed export read after the view returned.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook import exports
from gradebook.models import Mastery, RecomputeRun, Student
from gradebook.services.grid import evidence_fill
from grading import tasks as grading_tasks
from mastery import rls
from mastery.middleware import SchoolScopeMiddleware
from mastery.models import Department, GradingPolicy
from tests import database
from tests.factories import make_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _through_the_pooler():
    if not database.through_the_pooler():
        pytest.fail("Run through PgBouncer as the app's role: `make test` (TEST_APP_DATABASE_URL).")


class Client:
    """A client of the pooler: one thread, so one Django connection of its own, kept open."""

    def __init__(self):
        self.thread = ThreadPoolExecutor(max_workers=1)

    def run(self, fn, *args):
        return self.thread.submit(fn, *args).result(timeout=60)

    def close(self) -> None:
        self.run(lambda: connection.close())
        self.thread.shutdown()


def look(school_id: int | None) -> tuple[int, int, int]:
    """As a request to that school (or to no school) does: the server session that answered,
    the students seen and how many schools they belong to, by a query with no school filter."""
    with rls.Wall(school_id=school_id), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid(), count(*), count(DISTINCT school_id) FROM gradebook_student"
        )
        return cursor.fetchone()


def students_of(school) -> int:
    with scopes_disabled():
        return Student.objects.filter(school=school).count()


def test_a_server_connection_handed_between_two_schools_clients_shows_neither_the_other():
    a, b = make_world("pool-a"), make_world("pool-b")
    one, two = Client(), Client()
    leaked = None
    try:
        sessions_one, sessions_two = set(), set()
        for _ in range(4):
            pid, students, schools = one.run(look, a.school.id)
            assert (students, schools) == (students_of(a.school), 1)
            sessions_one.add(pid)
            pid, students, _ = two.run(look, None)  # a page outside any school
            assert students == 0
            sessions_two.add(pid)
            pid, students, schools = two.run(look, b.school.id)
            assert (students, schools) == (students_of(b.school), 1)
            sessions_two.add(pid)
        # The pooler did hand one server session to both clients.
        assert sessions_one & sessions_two

        # A session-level setting left on a server session (as the wall per connection did, or
        # any other client of the database) is what a pooler hands on: every transaction of ours
        # sets its own, so it changes nothing.
        def leave_school_a_on_the_session():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_backend_pid(), set_config('app.school_id', %s, false)",
                    [str(a.school.id)],
                )
                return cursor.fetchone()[0]

        leaked = one.run(leave_school_a_on_the_session)
        seen = []
        for _ in range(4):
            pid, students, _ = two.run(look, None)
            assert students == 0
            seen.append(pid)
            pid, students, schools = two.run(look, b.school.id)
            assert (students, schools) == (students_of(b.school), 1)
        assert leaked in seen  # the session with school A's setting did serve the other client
    finally:
        one.close()
        two.close()
        if leaked is not None:
            database.end_server_session(leaked)  # no setting left behind


def test_a_services_transaction_commits_on_its_own_inside_a_request_and_runs_its_on_commit_work():
    """Not one transaction per request: a service's atomic block is a transaction of its own
    (another client sees its write before the response) and its on_commit work runs when it
    commits, not when the response is sent."""
    w = make_world("pool-request")
    other = Client()
    events = []

    def departments_seen_by_another_client() -> int:
        with rls.Wall(school_id=w.school.id), scopes_disabled():
            return Department.objects.filter(school=w.school, code="SVC").count()

    def view(request):
        with transaction.atomic():
            Department.objects.create(school=request.school, name="Service", code="SVC")
            transaction.on_commit(lambda: events.append("on commit"))
        events.append(f"seen elsewhere: {other.run(departments_seen_by_another_client)}")
        return HttpResponse("ok")

    request = RequestFactory().get(reverse("school_home", args=[w.school.slug]))
    request.user = w.teacher
    try:
        response = SchoolScopeMiddleware(view)(request)
    finally:
        other.close()
    assert response.status_code == 200
    assert events == ["on commit", "seen elsewhere: 1"]


def test_a_tasks_progress_shows_while_it_runs_and_its_failed_mark_outlives_its_rollback(
    monkeypatch,
):
    w = make_world("pool-task")
    with scopes_disabled():
        policy = GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)
        run = RecomputeRun.objects.create(school=w.school, policy=policy)
    poller = Client()  # the policy page, polling the run

    def status_seen_by_the_page() -> str:
        with rls.Wall(school_id=w.school.id), scopes_disabled():
            return RecomputeRun.objects.get(pk=run.pk).status

    seen = []

    def recompute_that_breaks(*, school):
        seen.append(poller.run(status_seen_by_the_page))
        with transaction.atomic():
            Department.objects.create(school=school, name="Half done", code="HALF")
            raise RuntimeError("the recompute broke")

    monkeypatch.setattr(grading_tasks, "mastery_recompute_school", recompute_that_breaks)
    try:
        with pytest.raises(RuntimeError, match="the recompute broke"):
            grading_tasks.recompute_school_mastery.apply(
                kwargs={"school_id": w.school.id, "run_id": run.id}
            )
        after = poller.run(status_seen_by_the_page)
    finally:
        poller.close()
    assert seen == [RecomputeRun.Status.RUNNING]
    assert after == RecomputeRun.Status.FAILED
    with scopes_disabled():
        run.refresh_from_db()
        assert run.error == "the recompute broke" and run.finished_at is not None
        assert not Department.objects.filter(school=w.school, code="HALF").exists()


def test_a_streamed_export_of_a_2000_student_school_completes_through_the_pooler(
    client, monkeypatch
):
    w = make_world("pool-export")
    with scopes_disabled():
        evidence_fill(
            school=w.school,
            filled_by=w.teacher,
            section=w.section,
            assessment=w.assessment,
            text="3",
        )
        model = Mastery.objects.filter(school=w.school).first()
        students = Student.objects.bulk_create(
            Student(school=w.school, local_id=f"P{i:05d}", first_name=f"Pat{i}", last_name="Pool")
            for i in range(2000)
        )
        Mastery.objects.bulk_create(
            Mastery(
                school=w.school,
                student=student,
                target=target,
                score=model.score,
                level=model.level,
                evidence_count=1,
                policy_id=model.policy_id,
            )
            for student in students
            for target in w.targets
        )
        expected = Mastery.objects.filter(school=w.school).count()
    # Many fetches from the server-side cursor, with other clients' transactions in between.
    monkeypatch.setattr(exports, "FETCH_ROWS", 500)
    client.force_login(w.counselor)
    url = reverse("gradebook:mastery_export", kwargs={"school_slug": w.school.slug})
    with rls.Wall():  # closed around the request, as in production
        response = client.get(url)
        assert response.status_code == 200 and response.streaming
        others = Client()
        try:
            body = bytearray()
            for i, chunk in enumerate(response.streaming_content):
                body += chunk
                if i % 2 == 0:
                    assert others.run(look, None)[1] == 0
        finally:
            others.close()
            response.close()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) - 1 == expected >= 6000
    assert sum(1 for row in rows if row[1].startswith("Pool, Pat")) == 6000
