"""Celery tasks of the reports: one per student's PDF (so batches spread over workers), then a zip."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from mastery.models import School
from mastery.tasks import SchoolTask
from mastery.tenancy import all_schools, enter_school
from reports.baselines import baseline_compute, stale_baseline_dates
from reports.models import BaselineRun
from reports.services import batch_render_file, batch_zip


@shared_task(base=SchoolTask, bind=True, name="reports.render_report_file")
def render_report_file(self, *, school_id: int, file_id: int) -> None:
    batch_render_file(school=School.objects.get(pk=school_id), file_id=file_id)


@shared_task(base=SchoolTask, bind=True, name="reports.zip_report_batch")
def zip_report_batch(self, *, school_id: int, batch_id: int) -> str | None:
    path = batch_zip(school=School.objects.get(pk=school_id), batch_id=batch_id)
    return str(path) if path else None


@shared_task(base=SchoolTask, bind=True, name="reports.compute_baselines")
def compute_baselines(self, *, school_id: int, dates: list[str]) -> dict:
    """Compute the dashboards' baselines of these dates (idempotent: each replaces its rows)."""
    school = School.objects.get(pk=school_id)
    return {d: baseline_compute(school=school, as_of=date.fromisoformat(d)) for d in dates}


@shared_task(name="reports.refresh_baselines")
def refresh_baselines() -> dict:
    """Nightly: recompute every school's baselines whose dates gained or lost evidence since."""
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
