"""The push to the SIS as a Celery task: retried with backoff while the SIS cannot take it."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from mastery.models import School
from mastery.tasks import SchoolTask
from sis.models import SisDelivery
from sis.push import PushRefused, PushStopped, push_run

log = logging.getLogger(__name__)


@shared_task(base=SchoolTask, bind=True, name="sis.push_period", max_retries=None)
def push_period(self: Task[Any, Any], *, school_id: int, delivery_id: int) -> str:
    """Run one push (a SisDelivery of kind push). Idempotent: a finished push does nothing, and
    a retried one sends only what the SIS has not yet accepted (sis.push)."""
    school = School.objects.get(pk=school_id)
    delivery = SisDelivery.objects.filter(
        school=school, pk=delivery_id, kind=SisDelivery.Kind.PUSH
    ).first()
    if delivery is None or delivery.status in (
        SisDelivery.Status.DONE,
        SisDelivery.Status.REFUSED,
        SisDelivery.Status.FAILED,
    ):
        return delivery.status if delivery else "missing"
    delivery.status = SisDelivery.Status.RUNNING
    delivery.attempts += 1
    delivery.save(update_fields=["status", "attempts"])
    try:
        push_run(school=school, delivery=delivery)
    except PushRefused as exc:
        _fail(delivery, str(exc))
    except PushStopped as exc:
        if delivery.attempts > settings.SIS_PUSH_RETRIES:
            _fail(delivery, f"{exc} Gave up after {delivery.attempts} attempts.")
            return delivery.status
        delivery.status = SisDelivery.Status.RETRYING
        delivery.error = str(exc)[:1000]
        delivery.save(update_fields=["status", "error"])
        wait = settings.SIS_PUSH_BACKOFF * 2 ** (delivery.attempts - 1)
        if exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        raise self.retry(
            countdown=wait, kwargs={"school_id": school_id, "delivery_id": delivery_id}
        ) from exc
    return delivery.status


def _fail(delivery: SisDelivery, message: str) -> None:
    log.warning("SIS push %s failed: %s", delivery.pk, message)
    delivery.status = SisDelivery.Status.FAILED
    delivery.error = message[:1000]
    delivery.finished_at = timezone.now()
    delivery.save(update_fields=["status", "error", "finished_at"])
