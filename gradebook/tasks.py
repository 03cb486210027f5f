"""Celery tasks of the gradebook: the nightly expiry of reassessment requests."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from gradebook.models import ReassessmentRequest
from gradebook.services.requests import requests_expire
from mastery.models import School
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools

logger = logging.getLogger(__name__)


@shared_task(name="gradebook.dispatch_request_expiry")
def dispatch_request_expiry(today: str | None = None) -> list[int]:
    """Nightly (beat): queue the expiry of every school that has live requests."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    with all_schools():
        school_ids = sorted(
            set(
                ReassessmentRequest.objects.filter(status__in=ReassessmentRequest.LIVE).values_list(
                    "school_id", flat=True
                )
            )
        )
    for school_id in school_ids:
        expire_school_requests.delay(school_id=school_id, today=day.isoformat())
    return school_ids


@shared_task(base=SchoolTask, bind=True, name="gradebook.expire_school_requests")
def expire_school_requests(
    self: Task[Any, Any], *, school_id: int, today: str | None = None
) -> dict:
    """Expire the school's requests whose time has passed. Safe to run twice."""
    result = requests_expire(
        school=School.objects.get(pk=school_id),
        today=date.fromisoformat(today) if today else None,
    )
    logger.info("Reassessment requests expired in school %s: %s", school_id, result)
    return asdict(result)
