"""Celery tasks of the reports: one per student's PDF (so batches spread over workers), then a zip."""

from __future__ import annotations

from celery import shared_task

from mastery.models import School
from mastery.tasks import SchoolTask
from reports.services import batch_render_file, batch_zip


@shared_task(base=SchoolTask, bind=True, name="reports.render_report_file")
def render_report_file(self, *, school_id: int, file_id: int) -> None:
    batch_render_file(school=School.objects.get(pk=school_id), file_id=file_id)


@shared_task(base=SchoolTask, bind=True, name="reports.zip_report_batch")
def zip_report_batch(self, *, school_id: int, batch_id: int) -> str | None:
    path = batch_zip(school=School.objects.get(pk=school_id), batch_id=batch_id)
    return str(path) if path else None
