"""Celery task of the years app: the rollover's run, in the school's scope (mastery.tasks.SchoolTask).

The service (years.services) queues it, so the task imports the service inside its body."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from mastery.models import School
from mastery.tasks import SchoolTask

logger = logging.getLogger(__name__)


@shared_task(base=SchoolTask, bind=True, name="years.rollover_run")
def rollover_run_task(self: Task[Any, Any], *, school_id: int, rollover_id: int) -> dict:
    """Run a confirmed rollover (years.services.rollover_run). Safe to deliver twice: a
    rollover already done is not run again, and a failure is recorded on it, not raised."""
    from years.services import rollover_run

    result = rollover_run(school=School.objects.get(pk=school_id), rollover_id=rollover_id)
    logger.info("Rollover %s of school %s: %s", rollover_id, school_id, result)
    return result
