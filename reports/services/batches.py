"""Report batches: a progress report PDF (or a report card of record as of a grading period) per
student, each rendered in its own Celery task, then one zip; and a student's report PDF on disk,
reused while its data has not changed."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone, translation

from gradebook.models import GradingPeriod, Section, Student
from marks.models import PostedMark
from mastery import outbox
from mastery.models import School, User
from mastery.tenancy import enter_school
from reports.models import ReportBatch, ReportFile
from reports.rendering import report_card_pdf, report_language, report_pdf
from reports.report_cards import report_card
from reports.selectors import student_report
from reports.tasks import report_files_queue, zip_report_batch


def report_dir(school: School) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / str(school.id)


def batch_students(
    *, school: School, section: Section | None = None, grade_level: int | None = None
) -> QuerySet[Student]:
    students = Student.objects.filter(school=school, is_active=True)
    if section is not None:
        students = students.filter(
            enrollments__section=section, enrollments__withdrawn_on__isnull=True
        )
    elif grade_level is not None:
        students = students.filter(grade_level=grade_level)
    return students.distinct().order_by("last_name", "first_name")


def report_card_students(
    *,
    school: School,
    period: GradingPeriod,
    section: Section | None = None,
    grade_level: int | None = None,
) -> QuerySet[Student]:
    """The students who have a report card as of `period` (marks posted in it): of a section
    (posted in that section), a grade level or the school."""
    posted = PostedMark.objects.filter(school=school, period=period, student=OuterRef("pk"))
    if section is not None:
        posted = posted.filter(section=section)
    students = Student.objects.filter(school=school).filter(Exists(posted))
    if grade_level is not None:
        students = students.filter(grade_level=grade_level)
    return students.order_by("last_name", "first_name")


@transaction.atomic
def batch_start(
    *,
    school: School,
    requested_by: User,
    section: Section | None = None,
    grade_level: int | None = None,
    language: str = "family",
    students: list[Student] | None = None,
    period: GradingPeriod | None = None,
) -> ReportBatch:
    """Queue a batch of progress reports, or of report cards as of `period` when one is given;
    each student's PDF renders in its own Celery task.

    The batch covers a section, a grade level or the whole school; `students` names them
    instead (the benchmark's batch of 100).
    """

    if language not in ReportBatch.Language.values:
        raise ValidationError({"language": ["Choose the reports' language."]})
    if period is not None and period.school_id != school.id:
        raise ValidationError({"period": ["Choose a grading period of this school."]})
    if students is None:
        students = list(
            batch_students(school=school, section=section, grade_level=grade_level)
            if period is None
            else report_card_students(
                school=school, period=period, section=section, grade_level=grade_level
            )
        )
    if not students:
        raise ValidationError(
            "No student to report on."
            if period is None
            else f"No marks are posted for {period.name} in this group yet."
        )
    batch = ReportBatch.objects.create(
        school=school,
        requested_by=requested_by,
        kind=ReportBatch.Kind.PROGRESS if period is None else ReportBatch.Kind.REPORT_CARD,
        period=period,
        section=section,
        grade_level=grade_level,
        language=language,
        total=len(students),
    )
    ReportFile.objects.bulk_create(
        ReportFile(
            school=school,
            batch=batch,
            student=s,
            language=report_language(s, None if language == "family" else language),
        )
        for s in students
    )
    transaction.on_commit(lambda: _enqueue_batch(school.id, batch.id))
    return batch


def _enqueue_batch(school_id: int, batch_id: int) -> None:

    with enter_school(school_id):
        file_ids = list(ReportFile.objects.filter(batch_id=batch_id).values_list("id", flat=True))
    report_files_queue(school_id=school_id, file_ids=file_ids)


def report_pdf_file(*, school: School, student: Student, language: str) -> tuple[Path, str, bool]:
    """The student's report PDF on disk: (path, fingerprint, reused).

    Files are named by the fingerprint of everything the report shows (and the date it prints), so
    a report whose data has not changed is served or batched again without rendering it twice.
    """

    with translation.override(language):
        report = student_report(school=school, student=student)
    fingerprint = report.fingerprint()
    path = report_dir(school) / f"{fingerprint}.pdf"
    if path.exists():
        return path, fingerprint, True
    pdf = report_pdf(school=school, student=student, language=language, report=report)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(pdf)
    partial.replace(path)  # atomic: a half-written file is never served or reused
    return path, fingerprint, False


def report_card_pdf_file(
    *, school: School, student: Student, period: GradingPeriod, language: str
) -> tuple[Path, str, bool]:
    """The student's report card as of `period` on disk: (path, fingerprint, reused).

    Named by the fingerprint of what it prints (the current versions of the posted marks among
    it): posted marks never change, so the file is reused until a mark is posted again."""

    with translation.override(language):
        card = report_card(school=school, student=student, period=period)
    fingerprint = card.fingerprint()
    path = report_dir(school) / "cards" / f"{fingerprint}.pdf"
    if path.exists():
        return path, fingerprint, True
    pdf = report_card_pdf(
        school=school, student=student, period=period, language=language, card=card
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(pdf)
    partial.replace(path)
    return path, fingerprint, False


def batch_render_file(*, school: School, file_id: int) -> None:
    """Render one student's report of a batch (or reuse an identical one). Safe to run twice."""

    item = (
        ReportFile.objects.filter(school=school, pk=file_id)
        .select_related("student", "batch__period__term")
        .first()
    )
    if item is None or item.status != ReportFile.Status.PENDING:
        return
    ReportBatch.objects.filter(
        school=school, pk=item.batch_id, status=ReportBatch.Status.QUEUED
    ).update(status=ReportBatch.Status.RUNNING)
    try:
        period = item.batch.period
        if item.batch.is_report_card and period is not None:
            path, fingerprint, reused = report_card_pdf_file(
                school=school, student=item.student, period=period, language=item.language
            )
        else:
            path, fingerprint, reused = report_pdf_file(
                school=school, student=item.student, language=item.language
            )
        claimed = ReportFile.objects.filter(
            school=school, pk=item.pk, status=ReportFile.Status.PENDING
        ).update(
            status=ReportFile.Status.DONE,
            fingerprint=fingerprint,
            path=str(path),
            reused=reused,
            rendered_at=timezone.now(),
        )
        if claimed:
            ReportBatch.objects.filter(school=school, pk=item.batch_id).update(
                done=F("done") + 1, reused=F("reused") + int(reused)
            )
    except Exception as exc:  # one student's failure is listed; it never sinks the batch
        claimed = ReportFile.objects.filter(
            school=school, pk=item.pk, status=ReportFile.Status.PENDING
        ).update(status=ReportFile.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        if claimed:
            ReportBatch.objects.filter(school=school, pk=item.batch_id).update(
                failed=F("failed") + 1
            )
    _finish_if_complete(school, item.batch_id)


def _finish_if_complete(school: School, batch_id: int) -> None:

    batch = ReportBatch.objects.get(school=school, pk=batch_id)
    if batch.done + batch.failed < batch.total:
        return
    claimed = ReportBatch.objects.filter(
        school=school,
        pk=batch_id,
        status__in=[ReportBatch.Status.QUEUED, ReportBatch.Status.RUNNING],
    ).update(status=ReportBatch.Status.ZIPPING)
    if claimed:
        transaction.on_commit(
            lambda: zip_report_batch.delay(school_id=school.id, batch_id=batch_id)
        )


def batch_zip(*, school: School, batch_id: int) -> Path | None:
    """Pack the batch's PDFs (named after the students) into one zip."""

    batch = ReportBatch.objects.filter(school=school, pk=batch_id).select_related("period").first()
    if batch is None or batch.status == ReportBatch.Status.DONE:
        return Path(batch.zip_path) if batch and batch.zip_path else None
    target = report_dir(school) / "batches" / f"batch-{batch.id}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    # A report card's file says which period it is as of (a family keeps one per period).
    suffix = f"_{batch.period.name}" if batch.is_report_card and batch.period else ""
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in ReportFile.objects.filter(
            school=school, batch=batch, status=ReportFile.Status.DONE
        ).select_related("student"):
            s = item.student
            name = f"{s.last_name}_{s.first_name}_{s.local_id}{suffix}_{item.language}.pdf".replace(
                " ", "-"
            ).replace("/", "-")
            archive.write(item.path, arcname=name)
    partial.replace(target)
    with transaction.atomic():
        # Claimed once: a redelivered task packs the zip again but tells its requester once.
        finished = (
            ReportBatch.objects.filter(school=school, pk=batch.pk)
            .exclude(status=ReportBatch.Status.DONE)
            .update(
                status=ReportBatch.Status.DONE, zip_path=str(target), finished_at=timezone.now()
            )
        )
        if finished and batch.requested_by_id:
            outbox.record(
                school=school,
                kind=outbox.Kind.BATCH_DONE,
                user_id=batch.requested_by_id,
                object_type="batch",
                object_id=batch.pk,
                details={"kind": batch.kind},
            )
    return target
