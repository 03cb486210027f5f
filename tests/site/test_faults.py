"""Faults: concurrent saves of one cell, Redis down while teachers score, a worker killed mid-task,
two roster rebuilds at once. Real transactions (committed data, one connection per thread), a
real Redis and real Celery worker processes."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from celery.app.task import Task
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from config.celery import app as celery_app
from gradebook.models import Evidence, Mastery, RecomputeRun
from grading.school import mastery_recompute_school
from grading.services import policy_change
from intervention.models import InterventionGroup, RosterEntry
from intervention.services import roster_rebuild
from mastery.models import Framework, GradingPolicy
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from tests.factories import make_evidence, make_intervention, make_world
from tests.workers import start_worker_process

pytestmark = [pytest.mark.django_db(transaction=True)]

CASE = Path(__file__).resolve().parent.parent / "mastery" / "case"


def in_threads(*calls):
    """Run the calls at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


# --- Two teachers, one cell, the same moment ------------------------------------------------------


def test_two_teachers_saving_the_same_cell_at_once_lose_nothing(in_school):
    w = make_world("race", students=3)
    cells = [(s, t) for s in w.students for t in w.targets[:2]]

    def save(teacher, student, target, score):
        def call():
            with scope(school=w.school):
                make_evidence(w, student, target, score, by=teacher)

        return call

    for student, target in cells:
        in_threads(save(w.teacher, student, target, "3"), save(w.admin, student, target, "2"))

    with in_school(w):
        for student, target in cells:
            rows = list(
                Evidence.objects.filter(school=w.school, student=student, target=target).order_by(
                    "id"
                )
            )
            live = [e for e in rows if e.voided_at is None]
            # Both scores are kept: one live, the other voided as replaced by it (in either order).
            assert len(rows) == 2 and len(live) == 1, rows
            voided = next(e for e in rows if e.voided_at is not None)
            assert live[0].replaces_id == voided.id
            assert {e.score for e in rows} == {Decimal(3), Decimal(2)}
            # The Mastery record agrees with the evidence that won.
            record = Mastery.objects.get(school=w.school, student=student, target=target)
            assert record.score == live[0].score and record.evidence_count == 1


# --- Redis down while teachers score ----------------------------------------------------------------


DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_scoring_works_with_redis_down_and_never_waits_on_the_broker(
    settings, monkeypatch, in_school
):
    w = make_world("noredis", students=2)
    settings.CACHES = {
        "default": {
            "BACKEND": "mastery.cache.ResilientRedisCache",  # as in production
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.CELERY_BROKER_URL = DEAD_REDIS
    published = []

    monkeypatch.setattr(Task, "apply_async", lambda self, *a, **k: published.append(self.name))
    client = Client()
    client.force_login(w.teacher)
    url = reverse(
        "gradebook:score_cell",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": w.section.id,
            "assessment_id": w.assessment.id,
        },
    )
    student, target = w.students[0], w.targets[0]
    response = client.post(url, {f"c-{student.id}-{target.id}": "3"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content[:300]
    with in_school(w):
        live = Evidence.objects.get(
            school=w.school, student=student, target=target, voided_at__isnull=True
        )
        assert live.score == Decimal(3)
        assert Mastery.objects.get(school=w.school, student=student, target=target).score == 3
    assert published == []  # nothing in the score's path goes through the broker
    # The grid (session, page cache) keeps working too.
    grid = client.get(
        reverse(
            "gradebook:section_detail",
            kwargs={"school_slug": w.school.slug, "section_id": w.section.id},
        )
    )
    assert grid.status_code == 200


# --- A worker killed in the middle of a task ------------------------------------------------------------


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with scopes_disabled():
            if predicate():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _snapshot(school):
    with scopes_disabled():
        return sorted(
            Mastery.objects.filter(school=school).values_list(
                "student_id", "target_id", "score", "level", "explanation", "policy_id"
            )
        )


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_redelivered_and_the_result_is_the_same(in_school):

    w = make_world("killed", students=3)
    with scope(school=w.school):
        for student in w.students:
            for target, score in zip(w.targets[:2], ("2", "3"), strict=True):
                make_evidence(w, student, target, score)
    celery_app.control.purge()
    first = start_worker_process(CELERY_VISIBILITY_TIMEOUT="2")
    second = None
    locker = connections.create_connection("default")
    try:
        # Hold the school's recompute lock so the task blocks inside its transaction, then kill it.
        # Held by an open transaction: behind PgBouncer in transaction mode a session-level lock
        # would stay on a server session the pooler may hand to the worker itself.
        locker.ensure_connection()
        locker.set_autocommit(False)
        with locker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, w.school.id])
        celery_app.conf.task_always_eager = False
        with scope(school=w.school):
            current = GradingPolicy.objects.get(school=w.school, course=None, is_current=True)
            policy_change(school=w.school, changed_by=w.admin, note="fault test", method="highest")
        with in_school(w):
            run = RecomputeRun.objects.filter(school=w.school).latest("id")
        _wait_for(
            lambda: RecomputeRun.objects.filter(id=run.id, status="running").exists(),
            30,
            "the worker to start the task",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        locker.rollback()  # the lock goes with the transaction
        with scopes_disabled():
            assert RecomputeRun.objects.get(id=run.id).status == "running"  # died mid-way
        time.sleep(3)  # past the visibility timeout: the unacknowledged message is due again
        second = start_worker_process(CELERY_VISIBILITY_TIMEOUT="2")
        _wait_for(
            lambda: RecomputeRun.objects.get(id=run.id).status == "done",
            60,
            "the redelivered task to finish",
        )
    finally:
        celery_app.conf.task_always_eager = True
        locker.close()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    redelivered = _snapshot(w.school)
    assert current.method != "highest"
    assert all("Highest of" in row[4] for row in redelivered), redelivered[:2]
    # Running it again gives the very same records: the task is idempotent.
    with scope(school=w.school):
        mastery_recompute_school(school=w.school)
    assert _snapshot(w.school) == redelivered


# --- Two roster rebuilds at the same moment -------------------------------------------------------------


def test_two_rebuilds_at_once_do_not_double_rosters():
    w = make_world("rebuild", students=6)
    with scope(school=w.school):
        for student in w.students:
            make_evidence(w, student, w.targets[0], "1")
    cycle = make_intervention(w)

    def counts():
        with scope(school=w.school):
            entries = list(
                RosterEntry.objects.filter(school=w.school, cycle=cycle).values_list(
                    "student_id", "weekday"
                )
            )
            return (
                len(entries),
                len(set(entries)),
                InterventionGroup.objects.filter(school=w.school, cycle=cycle).count(),
            )

    single = counts()
    assert single[0] > 0

    def rebuild():
        with scope(school=w.school):
            roster_rebuild(school=w.school, cycle=cycle)

    in_threads(rebuild, rebuild, rebuild)
    assert counts() == single
    assert connection.vendor == "postgresql"


# --- Two admins, one new framework, the same moment -----------------------------------------------


def test_two_admins_importing_one_new_framework_at_once_make_one(in_school):
    w = make_world("caserace", students=1)
    package = package_parse((CASE / "Ordering.cfpackage.json").read_bytes())
    results = []

    def importing():
        with in_school(w):
            results.append(
                framework_import(
                    school=w.school, package=package, source="race", imported_by=w.admin
                )
            )

    # Before, the second insert of the new framework failed on its unique key: a 500.
    in_threads(importing, importing)
    assert sorted(r.document.created for r in results) == [0, 1]
    assert sorted(r.items.created for r in results) == [0, 28]
    with scopes_disabled():
        assert Framework.objects.filter(identifier=results[0].identifier).count() == 1
