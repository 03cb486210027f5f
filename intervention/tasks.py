"""Celery tasks of intervention: the daily dispatcher and the per-school cycle work."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from intervention.models import InterventionCycle
from intervention.services import cycle_advance, roster_rebuild
from mastery.models import School
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools

logger = logging.getLogger(__name__)


@shared_task(name="intervention.dispatch_cycles")
def dispatch_cycles(today: str | None = None) -> list[int]:
    """Daily (beat): queue the cycle work of every school whose open cycle has ended."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    with all_schools():
        school_ids = sorted(
            set(
                InterventionCycle.objects.filter(
                    status=InterventionCycle.Status.OPEN, ends_on__lt=day
                ).values_list("school_id", flat=True)
            )
        )
    for school_id in school_ids:
        advance_school_cycle.delay(school_id=school_id, today=day.isoformat())
    return school_ids


@shared_task(base=SchoolTask, bind=True, name="intervention.advance_school_cycle")
def advance_school_cycle(self: Task[Any, Any], *, school_id: int, today: str | None = None) -> dict:
    """Close the school's ended cycle, open the next and build its rosters. Safe to run twice."""
    result = cycle_advance(
        school=School.objects.get(pk=school_id), today=date.fromisoformat(today) if today else None
    )
    summary = {
        "closed": result.closed.number if result.closed else None,
        "opened": result.opened.number if result.opened else None,
        "exited": result.exited,
        "continuing": result.continuing,
    }
    logger.info("Intervention cycle of school %s: %s", school_id, summary)
    return summary


@shared_task(base=SchoolTask, bind=True, name="intervention.rebuild_rosters")
def rebuild_rosters(self: Task[Any, Any], *, school_id: int, cycle_id: int) -> str:
    school = School.objects.get(pk=school_id)
    cycle = InterventionCycle.objects.get(school=school, pk=cycle_id)
    return roster_rebuild(school=school, cycle=cycle).summary()
