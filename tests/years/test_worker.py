"""A real Celery worker runs the rollover the page queued (Redis broker, the test database)."""

from __future__ import annotations

import time

import pytest
from django_scopes import scope, scopes_disabled

from gradebook.models import Student, YearEndMastery
from tests.factories import make_world
from tests.workers import celery_worker
from tests.years.support import closing_year
from years.models import YearRollover
from years.services import plan_fingerprint, rollover_plan, rollover_start


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_the_rollover_once():
    w = make_world("yworker", students=3)
    c = closing_year(w, intervention=False)
    with scope(school=w.school):
        plan = rollover_plan(
            school=w.school, year=c.year, next_year=c.next_year, retained=[c.retained.local_id]
        )
    with celery_worker() as worker:
        with scope(school=w.school):
            rollover = rollover_start(  # commits, then queues the task for the worker
                school=w.school,
                year=c.year,
                next_year=c.next_year,
                retained=[c.retained.local_id],
                top_grade=12,
                promote=True,
                confirmed=plan_fingerprint(plan),
                requested_by=w.admin,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with scopes_disabled():
                rollover.refresh_from_db()
            if rollover.finished:
                break
            assert worker.alive()
            time.sleep(0.5)
    assert rollover.status == YearRollover.Status.DONE, rollover.error
    assert rollover.plan == plan
    with scopes_disabled():
        assert YearEndMastery.objects.filter(school=w.school, year=c.year).count() == 5
        assert Student.objects.get(pk=c.promoted.pk).grade_level == 11
    assert "years.rollover_run" in worker.output and "succeeded" in worker.output
