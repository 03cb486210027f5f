"""The alerts as Celery tasks: every minute, each school with news builds and sends its mails."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from alerts import builder, sending
from alerts.dated import deadlines_record, report_cards_record
from alerts.models import AlertDelivery, AlertItem
from mastery.models import AlertEvent, School
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools


@shared_task(
    base=SchoolTask, bind=True, name="alerts.run_school", max_retries=None, default_retry_delay=120
)
def run_school(self: Task[Any, Any], *, school_id: int) -> dict[str, int]:
    """Build the school's items and due mails, then send what is built. Idempotent: run twice,
    or delivered again after its worker died, it builds and sends nothing twice."""
    school = School.objects.get(pk=school_id)
    handled = built = 0
    while made := builder.items_build(school):
        handled += made
    while batch := builder.mails_build(school):
        built += batch.mails
    total = sending.Sent()
    try:
        while True:
            result = sending.send_pending(school)
            total.sent += result.sent
            total.failed += result.failed
            total.withheld += result.withheld
            if result.unconfirmed or not (result.sent + result.failed + result.withheld):
                break
    except OSError as exc:  # the mail server is down: nothing was claimed; try again later
        raise self.retry(exc=exc, kwargs={"school_id": school_id}) from exc
    return {"events": handled, "mails": built, "sent": total.sent, "failed": total.failed}


def run_school_soon(school_id: int) -> None:
    """Build and send a school's alerts as soon as news commits (ALERTS_RUN_ON_COMMIT: the demo,
    with eager tasks and its mail on the console)."""
    run_school.delay(school_id=school_id)


def schools_with_news() -> list[int]:
    """Schools with events to build, items due or mails to send (a cross-school read)."""
    now = timezone.now()
    with all_schools():
        ids = set(
            AlertEvent.objects.filter(handled_at__isnull=True).values_list("school_id", flat=True)
        )
        ids |= set(
            AlertItem.objects.filter(state=AlertItem.State.WAITING, due_at__lte=now).values_list(
                "school_id", flat=True
            )
        )
        ids |= set(
            AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING).values_list(
                "school_id", flat=True
            )
        )
    return sorted(ids)


@shared_task(name="alerts.dispatch")
def dispatch() -> int:
    """Every minute (beat): queue each school that has something to do."""
    school_ids = schools_with_news()
    for school_id in school_ids:
        run_school.delay(school_id=school_id)
    return len(school_ids)


@shared_task(base=SchoolTask, name="alerts.record_dated_news")
def record_dated_news(*, school_id: int) -> int:
    """The school's news of the day: posting deadlines, report cards released (alerts.dated)."""
    school = School.objects.get(pk=school_id)
    today = timezone.localdate()
    return deadlines_record(school, today=today) + report_cards_record(school, today=today)


@shared_task(name="alerts.dispatch_dated_news")
def dispatch_dated_news() -> int:
    """Early every morning (beat): each school records its news of the day."""
    with all_schools():
        school_ids = list(School.objects.order_by("id").values_list("id", flat=True))
    for school_id in school_ids:
        record_dated_news.delay(school_id=school_id)
    return len(school_ids)
