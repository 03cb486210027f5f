"""Records requests: everything the school holds about one student, and the disclosure logged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from gradebook.models import (
    AssessmentFeedback,
    Enrollment,
    Evidence,
    FileAttachment,
    Guardianship,
    HabitScore,
    Mastery,
    ReassessmentRequest,
    RosterSource,
    SelfAssessment,
    Student,
    Submission,
    YearEndMastery,
)
from intervention.models import RosterEntry, SessionAttendance
from marks.models import PostedMark
from mastery import audit
from mastery.models import AuditEvent, School, User
from reports.models import ReportFile, StudentGoal
from years.models import Promotion


def student_records_export(
    *,
    school: School,
    student: Student,
    requested_by: User | None = None,
    source: str = "records request",
) -> dict:
    """Everything the school holds about one student (`_records_of`), and the disclosure logged.

    Each export is an audit event on the student (who, when, how much), so the school can say who
    has received a student's records, as FERPA asks; the next export lists the earlier ones in its
    change history.
    """
    records = _records_of(school=school, student=student)
    audit.record(
        school=school,
        action=AuditEvent.Action.EXPORT,
        object_type=AuditEvent.ObjectType.RECORDS,
        object_id=student.id,
        student_id=student.id,
        actor=requested_by,
        after={key: len(records[key]) for key in ("enrollments", "evidence", "mastery")},
        summary=f"Exported the records of {student.display_name} ({student.local_id})",
        source=source,
    )
    return records


def _records_of(*, school: School, student: Student) -> dict:
    """Everything the school holds about one student, as one JSON-ready dict (a records request).

    The profile, enrollments (withdrawn ones too), every piece of evidence including voided ones
    (who voided it, when and why), comments, mastery records, habit scores, reassessment
    requests, intervention roster entries with attendance, goals, self-assessments (withdrawn
    ones too) with the teachers' answers, progress reports made, the
    rostering system's ids, the change history of the student's scores, and the guardians by
    name and relationship only (their contact details are theirs, not the student's). Staff
    appear by name. Runs inside the school (its scope): every query is filtered by it.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value

    def name(user: User | None) -> str | None:
        return user.full_name if user is not None else None

    def rows(queryset: Iterable[Any], **fields: str | Callable[[Any], Any]) -> list[dict]:
        """Each object as {key: value}, a field given as a path ("a.b") or a function."""

        def get(obj: Any, how: str | Callable[[Any], Any]) -> Any:
            if callable(how):
                return how(obj)
            for part in how.split("."):
                obj = getattr(obj, part) if obj is not None else None
            return obj

        return [{key: plain(get(obj, how)) for key, how in fields.items()} for obj in queryset]

    mine = {"school": school, "student": student}
    voided: dict[str, str | Callable[[Any], Any]] = {
        "voided_at": "voided_at",
        "voided_by": lambda o: name(o.voided_by),
        "void_reason": lambda o: o.void_reason or None,
    }
    attendance: dict[int, list[dict]] = {}
    for mark in (
        SessionAttendance.objects.filter(school=school, entry__student=student)
        .select_related("recorded_by")
        .order_by("session_date")
    ):
        attendance.setdefault(mark.entry_id, []).append(
            {
                "session_date": plain(mark.session_date),
                "status": mark.status,
                "recorded_by": name(mark.recorded_by),
                "recorded_at": plain(mark.recorded_at),
            }
        )
    change_history = rows(
        AuditEvent.objects.filter(school=school, student_id=student.id)
        .select_related("actor")
        .order_by("at", "id"),
        at="at",
        by=lambda e: name(e.actor),
        action="action",
        object_type="object_type",
        object_id="object_id",
        target_id="target_id",
        summary="summary",
        before="before",
        after="after",
        source="source",
    )
    return {
        "format": "mastery-gradebook student records, version 1",
        "exported_at": plain(timezone.now()),
        "school": {"name": school.name, "slug": school.slug},
        "student": {
            "id": student.id,
            "local_id": student.local_id,
            "first_name": student.first_name,
            "last_name": student.last_name,
            "preferred_name": student.preferred_name,
            "grade_level": student.grade_level,
            "family_language": student.preferred_language,
            "is_active": student.is_active,
            "login_email": student.user.email if student.user else None,
        },
        "rostering_ids": list(
            RosterSource.objects.filter(
                school=school, target=RosterSource.Target.STUDENT, object_id=student.id
            ).values_list("sourced_id", flat=True)
        ),
        "guardians": rows(
            Guardianship.objects.filter(**mine).select_related("guardian").order_by("id"),
            name="guardian.full_name",
            relationship="relationship",
        ),
        "enrollments": rows(
            Enrollment.objects.filter(**mine)
            .select_related("section__course", "section__term")
            .order_by("enrolled_on", "id"),
            section_id="section_id",
            section="section.name",
            course="section.course.name",
            course_code="section.course.code",
            term="section.term.name",
            enrolled_on="enrolled_on",
            withdrawn_on="withdrawn_on",
        ),
        "evidence": rows(
            Evidence.objects.filter(**mine)
            .select_related("target", "assessment", "recorded_by", "voided_by")
            .order_by("assessed_on", "id"),
            id="id",
            target="target.code",
            target_statement="target.statement",
            assessment_id="assessment_id",
            assessment="assessment.title",
            kind="kind",
            assessed_on="assessed_on",
            score="score",
            status="status",
            feedback="feedback",
            recorded_by=lambda e: name(e.recorded_by),
            recorded_at="recorded_at",
            replaces="replaces_id",
            **voided,
        ),
        "assessment_comments": rows(
            AssessmentFeedback.objects.filter(**mine)
            .select_related("assessment", "updated_by")
            .order_by("id"),
            assessment_id="assessment_id",
            assessment="assessment.title",
            text="text",
            written_by=lambda f: name(f.updated_by),
            updated_at="updated_at",
        ),
        "mastery": rows(
            Mastery.objects.filter(**mine).select_related("target").order_by("target__code"),
            target="target.code",
            score="score",
            level="level",
            mastered="mastered",
            evidence_count="evidence_count",
            scores_counted="scores_counted",
            last_evidence_on="last_evidence_on",
            explanation="explanation",
            computed_at="computed_at",
        ),
        "habit_scores": rows(
            HabitScore.objects.filter(**mine)
            .select_related("habit", "section", "recorded_by", "voided_by")
            .order_by("assessed_on", "id"),
            habit="habit.name",
            section="section.name",
            assessed_on="assessed_on",
            score="score",
            comment="comment",
            recorded_by=lambda h: name(h.recorded_by),
            recorded_at="recorded_at",
            **voided,
        ),
        "reassessment_requests": rows(
            ReassessmentRequest.objects.filter(**mine)
            .select_related("target", "section", "requested_by", "resolved_by")
            .order_by("created_at", "id"),
            target="target.code",
            section="section.name",
            requested_by=lambda r: name(r.requested_by),
            note="note",
            status="status",
            created_at="created_at",
            scheduled_on="scheduled_on",
            decline_reason="decline_reason",
            rules="rules",
            resolved_at="resolved_at",
            resolved_by=lambda r: name(r.resolved_by),
            evidence_id="evidence_id",
        ),
        # The files of the student's work (photos and PDFs on evidence, or handed in), listed
        # with the hash of the stored bytes; `may_show_other_students`: the same file is on other
        # students' work too (a group photo), so it may show them: check before disclosing it.
        "files": _files_of(school=school, student=student, name=name, plain=plain),
        "submissions": rows(
            Submission.objects.filter(**mine)
            .select_related("target", "submitted_by", "resolved_by")
            .order_by("submitted_at", "id"),
            id="id",
            target="target.code",
            title="title",
            note="note",
            status="status",
            submitted_by=lambda r: name(r.submitted_by),
            submitted_at="submitted_at",
            resolved_by=lambda r: name(r.resolved_by),
            resolved_at="resolved_at",
            response="response",
            evidence_id="evidence_id",
        ),
        # The marks of record, every version (the history is part of the record).
        "posted_marks": rows(
            PostedMark.objects.filter(**mine)
            .select_related("section__course", "period", "target", "habit", "posted_by")
            .order_by("period__starts_on", "section_id", "kind", "subject_id", "version"),
            period="period.name",
            course="section.course.code",
            section="section.name",
            kind="kind",
            target=lambda m: m.target.code if m.target_id else None,
            habit=lambda m: m.habit.name if m.habit_id else None,
            version="version",
            computed_value="computed_value",
            value="value",
            overridden="overridden",
            grade_form="grade_form",
            reason="reason",
            comment="comment",
            posted_by=lambda m: name(m.posted_by),
            posted_at="posted_at",
            outside_window="outside_window",
        ),
        "promotions": rows(
            Promotion.objects.filter(**mine).select_related("year").order_by("year__starts_on"),
            year="year.name",
            from_grade="from_grade",
            to_grade="to_grade",
            outcome="outcome",
            recorded_at="recorded_at",
        ),
        "year_end_mastery": rows(
            YearEndMastery.objects.filter(**mine)
            .select_related("year", "target")
            .order_by("year__starts_on", "target__code"),
            year="year.name",
            target="target.code",
            score="score",
            level="level",
            mastered="mastered",
            evidence_count="evidence_count",
            last_evidence_on="last_evidence_on",
            explanation="explanation",
        ),
        "intervention": rows(
            RosterEntry.objects.filter(**mine)
            .select_related("cycle", "group__teacher", "target", "placed_by")
            .order_by("cycle__starts_on", "weekday", "id"),
            cycle="cycle.number",
            cycle_starts_on="cycle.starts_on",
            weekday="weekday",
            kind="kind",
            target="target.code",
            teacher=lambda e: name(e.group.teacher) if e.group_id else None,
            room=lambda e: e.group.room if e.group_id else None,
            wait_list=lambda e: e.group_id is None,
            reason="reason",
            score_at_entry="score_at_entry",
            level_at_entry="level_at_entry",
            outcome="outcome",
            score_at_close="score_at_close",
            placed_by=lambda e: name(e.placed_by),
            placed_at="placed_at",
            attendance=lambda e: attendance.get(e.id, []),
        ),
        # The student's ratings of themselves (withdrawn ones too: the records hold everything)
        # and the teachers' answers.
        "self_assessments": rows(
            SelfAssessment.objects.filter(**mine)
            .select_related("target", "created_by", "replied_by", "voided_by")
            .order_by("assessed_on", "id"),
            id="id",
            target="target.code",
            score="score",
            reflection="reflection",
            assessed_on="assessed_on",
            created_by=lambda r: name(r.created_by),
            created_at="created_at",
            reply=lambda r: r.reply or None,
            replied_by=lambda r: name(r.replied_by),
            replied_at="replied_at",
            **voided,
        ),
        "goals": rows(
            StudentGoal.objects.filter(**mine).select_related("target").order_by("created_at"),
            target="target.code",
            note="note",
            created_at="created_at",
            achieved_at="achieved_at",
        ),
        "progress_reports": rows(
            ReportFile.objects.filter(**mine).order_by("id"),
            batch_id="batch_id",
            language="language",
            status="status",
            rendered_at="rendered_at",
        ),
        "change_history": change_history,
    }


def _files_of(
    *, school: School, student: Student, name: Callable[[Any], Any], plain: Callable[[Any], Any]
) -> list[dict]:
    """Every file on the student's work (voided ones too, marked), with its hash, and whether
    the same bytes are on other students' work (it may show them)."""
    attachments = list(
        FileAttachment.objects.filter(school=school, student=student)
        .select_related("file__uploaded_by", "evidence__target", "submission", "voided_by")
        .order_by("attached_at", "id")
    )
    hashes = {a.file.sha256 for a in attachments}
    others: dict[str, int] = {}
    for sha, count in (
        FileAttachment.objects.filter(
            school=school, file__sha256__in=hashes, voided_at__isnull=True, student__isnull=False
        )
        .exclude(student=student)
        .values_list("file__sha256")
        .annotate(n=Count("student_id", distinct=True))
    ):
        others[sha] = count
    return [
        {
            "file_id": a.file_id,
            "name": a.file.original_name,
            "content_type": a.file.content_type,
            "converted_from": a.file.converted_from or None,
            "size": a.file.size,
            "sha256": a.file.sha256,
            "width": a.file.width,
            "height": a.file.height,
            "uploaded_by": name(a.file.uploaded_by),
            "uploaded_at": plain(a.file.uploaded_at),
            "on": "evidence" if a.evidence_id else "submission",
            "evidence_id": a.evidence_id,
            "submission_id": a.submission_id,
            "target": a.evidence.target.code if a.evidence_id and a.evidence else None,
            "download": reverse("gradebook:file_download", args=[school.slug, a.file_id]),
            "may_show_other_students": others.get(a.file.sha256, 0) > 0,
            "other_students_with_this_file": others.get(a.file.sha256, 0),
            "voided_at": plain(a.voided_at),
            "voided_by": name(a.voided_by),
            "void_reason": a.void_reason or None,
        }
        for a in attachments
    ]
