"""Celery tasks of the reports: one per student's PDF (so batches spread over workers), then a zip;
the dashboards' baselines and district figures.

The services queue these tasks, so each task imports the service it runs inside its body: the one
place an import inside a function is allowed (ruff PLC0415's per-file allowance for tasks.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import connections
from django.utils import timezone

from mastery.models import School
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools, enter_school
from reports.models import BaselineRun

log = logging.getLogger(__name__)


@shared_task(base=SchoolTask, bind=True, name="reports.render_report_file")
def render_report_file(self: Task[Any, Any], *, school_id: int, file_id: int) -> None:
    from reports.services.batches import batch_render_file

    batch_render_file(school=School.objects.get(pk=school_id), file_id=file_id)


def report_files_queue(*, school_id: int, file_ids: list[int]) -> threading.Thread | None:
    """Queue one task per student's report of a batch (a worker picks each up).

    The demo has no worker (DEBUG with eager tasks): each task would run inside the request that
    started the batch, which then answered only once every PDF was drawn (50 s for a class) and the
    batch page's progress was never seen. There they run one after another in a background thread,
    after the response, and the page shows the batch progressing. Production is unchanged.
    """
    if settings.DEBUG and render_report_file.app.conf.task_always_eager:
        thread = threading.Thread(
            target=_render_in_background,
            kwargs={"school_id": school_id, "file_ids": file_ids},
            name=f"report-batch-{school_id}",
            daemon=True,
        )
        thread.start()
        return thread
    for file_id in file_ids:
        render_report_file.delay(school_id=school_id, file_id=file_id)
    return None


def _render_in_background(*, school_id: int, file_ids: list[int]) -> None:
    try:
        for file_id in file_ids:
            render_report_file.delay(school_id=school_id, file_id=file_id)  # eager: runs here
    except Exception:  # a file's own failure is recorded on it; this is anything else
        log.exception("The report batch of school %s stopped", school_id)
    finally:
        connections.close_all()  # this thread's connection, not left open


@shared_task(base=SchoolTask, bind=True, name="reports.zip_report_batch")
def zip_report_batch(self: Task[Any, Any], *, school_id: int, batch_id: int) -> str | None:
    from reports.services.batches import batch_zip

    path = batch_zip(school=School.objects.get(pk=school_id), batch_id=batch_id)
    return str(path) if path else None


@shared_task(base=SchoolTask, bind=True, name="reports.compute_baselines")
def compute_baselines(self: Task[Any, Any], *, school_id: int, dates: list[str]) -> dict:
    """Compute the dashboards' baselines of these dates (idempotent: each replaces its rows)."""
    from reports.baselines import baseline_compute

    school = School.objects.get(pk=school_id)
    return {d: baseline_compute(school=school, as_of=date.fromisoformat(d)) for d in dates}


@shared_task(name="reports.refresh_baselines")
def refresh_baselines() -> dict:
    """Nightly: recompute every school's baselines computed under an older policy or whose dates
    gained or lost evidence since."""
    from reports.baselines import stale_baseline_dates

    queued = {}
    with all_schools():
        school_ids = list(
            BaselineRun.objects.values_list("school_id", flat=True).distinct().order_by()
        )
    for school_id in school_ids:
        school = School.objects.get(pk=school_id)
        with enter_school(school):
            dates = stale_baseline_dates(school=school)
        if dates:
            compute_baselines.delay(school_id=school_id, dates=[d.isoformat() for d in dates])
            queued[school_id] = len(dates)
    return queued


@shared_task(base=SchoolTask, bind=True, name="reports.compute_school_figures")
def compute_school_figures(
    self: Task[Any, Any], *, school_id: int, today: str | None = None
) -> dict:
    """Count one school's row of its district's page (idempotent: it replaces the row)."""
    from reports.dashboards.district import school_figures_compute

    day = date.fromisoformat(today) if today else timezone.localdate()
    stored = school_figures_compute(school=School.objects.get(pk=school_id), today=day)
    return {
        "school_id": school_id,
        "as_of": day.isoformat(),
        "students": stored.figures["students"],
    }


@shared_task(name="reports.refresh_school_figures")
def refresh_school_figures() -> int:
    """Nightly: count every school of a district afresh, so the morning's page starts current."""
    with all_schools():
        school_ids = list(
            School.objects.filter(district__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)
        )
    for school_id in school_ids:
        compute_school_figures.delay(school_id=school_id)
    return len(school_ids)
