"""Celery tasks of the gradebook. Each takes school_id and runs in that school's scope."""

from __future__ import annotations

import logging

from celery import shared_task

from gradebook.recompute import stale_school_ids
from gradebook.services import mastery_recompute_school
from mastery.models import School
from mastery.tasks import SchoolTask

logger = logging.getLogger(__name__)


@shared_task(base=SchoolTask, bind=True, name="gradebook.recompute_school_mastery")
def recompute_school_mastery(self, *, school_id: int) -> dict:
    """Recompute a school's Mastery records (after a policy change). Safe to run twice."""
    result = mastery_recompute_school(school=School.objects.get(pk=school_id))
    logger.info("Recomputed mastery of school %s: %s", school_id, result.as_dict())
    return result.as_dict()


@shared_task(name="gradebook.recompute_stale_schools")
def recompute_stale_schools() -> list[int]:
    """Catch-up: queue a recompute for every school whose records lag behind its policy.

    Runs from beat, so a policy change made while the broker was unreachable still lands.
    """
    school_ids = stale_school_ids()
    for school_id in school_ids:
        recompute_school_mastery.delay(school_id=school_id)
    return school_ids
