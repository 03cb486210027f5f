"""Celery tasks of grading: the school recompute and its catch-up. Each takes school_id and runs
in that school's scope.

Their names keep the "gradebook." prefix they were first queued under: names travel in queued
messages and in the beat schedule, so a rename would strand work in flight."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from gradebook.models import RecomputeRun
from grading.school import mastery_recompute_school, stale_school_ids
from mastery.models import School
from mastery.tasks import SchoolTask
from mastery.tenancy import enter_school

logger = logging.getLogger(__name__)


@shared_task(base=SchoolTask, bind=True, name="gradebook.recompute_school_mastery")
def recompute_school_mastery(
    self: Task[Any, Any], *, school_id: int, run_id: int | None = None
) -> dict:
    """Recompute a school's Mastery records (after a policy change). Safe to run twice.

    With a RecomputeRun it records its progress there (the policy page polls it); a run that is
    already done is not repeated when the broker redelivers the message.
    """
    runs = RecomputeRun.objects.filter(school_id=school_id, id=run_id) if run_id else None
    if runs is not None:
        claimed = runs.exclude(status=RecomputeRun.Status.DONE).update(
            status=RecomputeRun.Status.RUNNING, started_at=timezone.now()
        )
        if not claimed:
            return {"skipped": "already done"}
    try:
        result = mastery_recompute_school(school=School.objects.get(pk=school_id))
    except Exception as exc:
        if runs is not None:
            runs.update(
                status=RecomputeRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
        raise
    if runs is not None:
        runs.update(
            status=RecomputeRun.Status.DONE,
            pairs=result.pairs,
            written=result.written,
            level_changes=result.level_changes,
            finished_at=timezone.now(),
        )
    logger.info("Recomputed mastery of school %s: %s", school_id, result.as_dict())
    return result.as_dict()


@shared_task(name="gradebook.recompute_stale_schools")
def recompute_stale_schools() -> list[int]:
    """Catch-up: queue a recompute for every school whose records lag behind its policy.

    Runs from beat, so a policy change made while the broker was unreachable still lands (and its
    run, still queued, is picked up).
    """
    school_ids = stale_school_ids()
    for school_id in school_ids:
        school = School.objects.get(pk=school_id)
        with enter_school(school):
            run = (
                RecomputeRun.objects.filter(school=school, status=RecomputeRun.Status.QUEUED)
                .order_by("-queued_at")
                .first()
            )
        recompute_school_mastery.delay(school_id=school_id, run_id=run.id if run else None)
    return school_ids
