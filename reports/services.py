"""Writes of the portals: students' goals, guardian invitations, report batches."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation

from gradebook.models import (
    AssessmentFeedback,
    CourseTarget,
    Enrollment,
    Evidence,
    Guardianship,
    HabitScore,
    Mastery,
    ReassessmentRequest,
    RosterSource,
    Section,
    Student,
)
from intervention.models import RosterEntry, SessionAttendance
from mastery import accounts, audit, pagecache
from mastery.models import AuditEvent, LearningTarget, Membership, Role, School, User
from mastery.tenancy import all_schools, enter_school
from reports.models import GuardianInvitation, ReportBatch, ReportFile, StudentGoal, digest
from reports.rendering import report_language, report_pdf
from reports.selectors import student_report
from reports.tasks import report_files_queue, zip_report_batch

INVITATION_DAYS = 30


@transaction.atomic
def goal_create(
    *, school: School, student: Student, target: LearningTarget, note: str
) -> StudentGoal:
    """A student's goal on one of their own courses' targets."""
    pagecache.students_changed(school.id, [student.id])
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": ["Write your goal in a few words."]})
    if not CourseTarget.objects.filter(
        school=school, target=target, course__sections__enrollments__student=student
    ).exists():
        raise ValidationError({"target": ["Choose a learning target of your courses."]})
    return StudentGoal.objects.create(
        school=school, student=student, target=target, note=note[:300]
    )


@transaction.atomic
def goal_achieve(*, school: School, student: Student, goal_id: int) -> StudentGoal:
    pagecache.students_changed(school.id, [student.id])
    goal = StudentGoal.objects.filter(school=school, student=student, pk=goal_id).first()
    if goal is None:
        raise ValidationError("That goal does not exist.")
    if goal.achieved_at is None:
        goal.achieved_at = timezone.now()
        goal.save(update_fields=["achieved_at"])
    return goal


@transaction.atomic
def invitation_create(
    *,
    school: School,
    created_by: User,
    email: str,
    full_name: str,
    language: str,
    students: list[Student],
    relationship: str = "",
) -> tuple[GuardianInvitation, str, str]:
    """An invitation for one guardian to see these students. Returns (invitation, token, code):
    the token and the code are shown once and only their digests are kept."""
    if not students or any(s.school_id != school.id for s in students):
        raise ValidationError({"students": ["Choose at least one student of this school."]})
    token, code = GuardianInvitation.new_secrets()
    invitation = GuardianInvitation.objects.create(
        school=school,
        email=get_user_model().objects.normalize_address(email),
        full_name=full_name.strip(),
        language=language,
        students=[s.id for s in students],
        relationship=relationship.strip()[:40],
        token_digest=digest(token),
        code_digest=digest(code.replace("-", "")),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return invitation, token, code


def invitation_find(
    *, token: str | None = None, code: str | None = None
) -> GuardianInvitation | None:
    """A usable invitation by its link token or its letter code (any school), or None."""
    with all_schools():  # the school is not known yet: the invitation says which
        if token:
            found = (
                GuardianInvitation.objects.filter(token_digest=digest(token))
                .select_related("school")
                .first()
            )
        else:
            cleaned = "".join(ch for ch in (code or "").upper() if ch.isalnum())
            found = (
                GuardianInvitation.objects.filter(code_digest=digest(cleaned))
                .select_related("school")
                .first()
            )
    return found if found is not None and found.usable else None


def invitation_needs(invitation: GuardianInvitation, user: User | AnonymousUser | None) -> str:
    """What accepting this invitation takes, as the identity rule (mastery.accounts) has it:
    "password" (a new account, or the school's own waiting family account: the guardian chooses
    its password), "accept" (the signed-in owner of the invited address), or "signin" (an
    account someone owns: only signing in as it accepts the invitation)."""
    User = get_user_model()
    existing = User.objects.filter(email=User.objects.normalize_address(invitation.email)).first()
    if existing is None or accounts.letter_may_activate(user=existing, school=invitation.school):
        return "password"
    if user is not None and user.is_authenticated and user.pk == existing.pk:
        return "accept"
    return "signin"


@transaction.atomic
def invitation_accept(
    *,
    invitation: GuardianInvitation,
    user: User | AnonymousUser | None = None,
    full_name: str,
    password: str | None,
    language: str,
) -> User:
    """Use up the invitation: the guardian's account (created for a new address and given its
    password; an existing one only when `user`, the signed-in person, owns it), a guardian role
    in the school and the children. Raises ValidationError otherwise: an invitation never sets
    the password of someone's account (mastery.accounts)."""
    User = get_user_model()
    with all_schools():
        locked = GuardianInvitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.usable:
        raise ValidationError("This invitation was already used, or it has expired.")
    needs = invitation_needs(locked, user)
    if needs == "signin":
        raise ValidationError(
            "An account already uses this address: sign in to it, then open the invitation again."
        )
    if needs == "password" and not password:
        raise ValidationError("Choose a password for your account.")
    account = User.objects.filter(email=User.objects.normalize_address(locked.email)).first()
    if account is None:
        account = User.objects.create_user(
            locked.email, None, full_name=full_name, preferred_language=language
        )
    elif needs == "password":
        account.full_name = account.full_name or full_name
    account.preferred_language = language
    account.save(update_fields=["full_name", "preferred_language"])
    school = locked.school
    with enter_school(school):
        membership, given = Membership.objects.get_or_create(
            school=school, user=account, role=Role.GUARDIAN
        )
        if given:
            audit.record_many(
                [
                    audit.membership_event(
                        action=AuditEvent.Action.CREATE,
                        membership=membership,
                        user=account,
                        actor=account,
                        source="invitation",
                    )
                ]
            )
            accounts.links_announce(school=school, grants=[(account, Role.GUARDIAN)])
        for student in Student.objects.filter(school=school, pk__in=locked.students):
            Guardianship.objects.get_or_create(
                school=school,
                guardian=account,
                student=student,
                defaults={"relationship": locked.relationship},
            )
    if needs == "password":
        # After the membership: the activation is recorded in the school's trail.
        accounts.password_set(
            user=account,
            password=cast(str, password),  # refused above when empty
            actor=account,
            source="invitation",
        )
    locked.accepted_at, locked.accepted_by = timezone.now(), account
    locked.save(update_fields=["accepted_at", "accepted_by"])
    return account


# --- Report batches ------------------------------------------------------------------------------


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


@transaction.atomic
def batch_start(
    *,
    school: School,
    requested_by: User,
    section: Section | None = None,
    grade_level: int | None = None,
    language: str = "family",
    students: list[Student] | None = None,
) -> ReportBatch:
    """Queue a batch of progress reports; each student's PDF renders in its own Celery task.

    The batch covers a section, a grade level or the whole school; `students` names them
    instead (the benchmark's batch of 100).
    """

    if language not in ReportBatch.Language.values:
        raise ValidationError({"language": ["Choose the reports' language."]})
    if students is None:
        students = list(batch_students(school=school, section=section, grade_level=grade_level))
    if not students:
        raise ValidationError("No student to report on.")
    batch = ReportBatch.objects.create(
        school=school,
        requested_by=requested_by,
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


def batch_render_file(*, school: School, file_id: int) -> None:
    """Render one student's report of a batch (or reuse an identical one). Safe to run twice."""

    item = (
        ReportFile.objects.filter(school=school, pk=file_id)
        .select_related("student", "batch")
        .first()
    )
    if item is None or item.status != ReportFile.Status.PENDING:
        return
    ReportBatch.objects.filter(
        school=school, pk=item.batch_id, status=ReportBatch.Status.QUEUED
    ).update(status=ReportBatch.Status.RUNNING)
    try:
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

    batch = ReportBatch.objects.filter(school=school, pk=batch_id).first()
    if batch is None or batch.status == ReportBatch.Status.DONE:
        return Path(batch.zip_path) if batch and batch.zip_path else None
    target = report_dir(school) / "batches" / f"batch-{batch.id}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in ReportFile.objects.filter(
            school=school, batch=batch, status=ReportFile.Status.DONE
        ).select_related("student"):
            s = item.student
            name = f"{s.last_name}_{s.first_name}_{s.local_id}_{item.language}.pdf".replace(
                " ", "-"
            ).replace("/", "-")
            archive.write(item.path, arcname=name)
    partial.replace(target)
    ReportBatch.objects.filter(school=school, pk=batch.pk).update(
        status=ReportBatch.Status.DONE, zip_path=str(target), finished_at=timezone.now()
    )
    return target


# --- Records requests ------------------------------------------------------------------------------


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
    requests, intervention roster entries with attendance, goals, progress reports made, the
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
            resolved_at="resolved_at",
            resolved_by=lambda r: name(r.resolved_by),
            evidence_id="evidence_id",
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
