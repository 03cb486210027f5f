"""Student submissions: work a student hands in on a target, and its scoring by a teacher.

A submission is pending until a teacher scores it and counts for nothing until then: the
calculation reads Evidence only. Scoring makes an assessment in the student's section (the
submission's title, the kind the teacher chose, formative by default), records the score on it
through `evidence_record` (so it is validated, audited and recomputed like any score) and moves
the files onto that evidence. A teacher may instead return it with a note (not scored), and the
student may withdraw it while it is pending. Every step is one transaction and audited; the
same form sent twice (a double tap on "Send" or on "Score") does it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gradebook.models import (
    Assessment,
    AssessmentKind,
    AssessmentTarget,
    CourseTarget,
    Enrollment,
    FileAttachment,
    Mastery,
    Section,
    Student,
    Submission,
)
from gradebook.services.evidence import EvidenceError, RecordResult, evidence_record
from gradebook.services.files import file_store, files_check
from gradebook.services.grid import parse_entry
from grading.pair import pair_recompute
from mastery import audit, pagecache
from mastery.models import AuditEvent, LearningTarget, School, User

Status = Submission.Status
TITLE_MAX = 200
NOTE_MAX = 2000
RESPONSE_MAX = 500
SCORED_KINDS = (
    AssessmentKind.FORMATIVE,
    AssessmentKind.SUMMATIVE,
    AssessmentKind.INTERIM,
    AssessmentKind.PRE,
)


def _token(value: object) -> uuid.UUID | None:
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _audit(submission: Submission, *, action: str, actor: User, summary: str) -> None:
    audit.record(
        school=submission.school_id,
        action=action,
        # The submission's own trail; the student and target place it beside their evidence.
        object_type=AuditEvent.ObjectType.SUBMISSION,
        object_id=submission.id,
        student_id=submission.student_id,
        target_id=submission.target_id,
        summary=summary,
        before=None,
        after={"status": submission.status, "evidence": submission.evidence_id},
        actor=actor,
    )


def submission_section(
    *, school: School, student: Student, target: LearningTarget
) -> Section | None:
    """The section the work is for: the student's current section whose course has the target."""
    enrollment = (
        Enrollment.objects.filter(
            school=school,
            student=student,
            withdrawn_on__isnull=True,
            section__course__in=CourseTarget.objects.filter(school=school, target=target).values(
                "course_id"
            ),
        )
        .select_related("section")
        .order_by("-enrolled_on", "-id")
        .first()
    )
    return enrollment.section if enrollment is not None else None


@transaction.atomic
def submission_create(
    *,
    school: School,
    student: Student,
    target: LearningTarget,
    title: str,
    note: str,
    uploads: Sequence[File],
    submitted_by: User,
    token: str = "",
) -> Submission:
    """A student hands in work on a target: a title, a note and photos or PDFs (at least one
    file or a note). Pending until a teacher scores it. The same form sent twice makes one."""
    once = _token(token)
    if once is not None:
        made = Submission.objects.filter(school=school, submission_token=once).first()
        if made is not None and made.student_id == student.id:
            return made
        if made is not None:
            # Another student's form's token (copied, or a shared device's Back): never their
            # submission; this work is made without one.
            once = None
    title = (title or "").strip()
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = [_("Give your work a title.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [_("Keep the title to %(n)s characters.") % {"n": TITLE_MAX}]
    if len(note) > NOTE_MAX:
        errors["note"] = [_("Keep the note to %(n)s characters.") % {"n": NOTE_MAX}]
    if "\x00" in title + note:
        errors["note"] = [_("The text cannot hold a NUL character.")]
    if not uploads and not note:
        errors.setdefault("files", []).append(_("Add a photo or a file of your work, or a note."))
    section = submission_section(school=school, student=student, target=target)
    if section is None:
        errors["target"] = [_("That learning target is not in any of your classes.")]
    if errors:
        raise EvidenceError(errors)
    checked = files_check(uploads)  # every file checked before anything is written
    try:
        with transaction.atomic():
            submission = Submission.objects.create(
                school=school,
                student=student,
                target=target,
                section=section,
                title=title,
                note=note,
                submitted_by=submitted_by,
                submitted_at=timezone.now(),
                submission_token=once,
            )
    except IntegrityError:
        # The same form, sent at the same moment, committed first: that is this submission.
        found = Submission.objects.filter(
            school=school, student=student, submission_token=once
        ).first()
        if found is None:
            raise
        return found
    stored = [file_store(school=school, checked=item, uploaded_by=submitted_by) for item in checked]
    FileAttachment.objects.bulk_create(
        FileAttachment(
            school=school,
            file=f,
            submission=submission,
            student=student,
            attached_by=submitted_by,
            attached_at=submission.submitted_at,
        )
        for f in stored
    )
    _audit(
        submission,
        action=AuditEvent.Action.CREATE,
        actor=submitted_by,
        summary=f"Work submitted on {target.code}: {title} ({len(stored)} file(s)); not counted "
        "until scored",
    )
    pagecache.students_changed(school.id, [student.id])
    return submission


def _pending_for_update(school: School, submission_id: int) -> Submission:
    submission = (
        Submission.objects.select_for_update(of=("self",))
        .filter(school=school, id=submission_id)
        .select_related("target", "section__course", "student")
        .first()
    )
    if submission is None:
        raise EvidenceError({"submission": [_("That submission does not exist in this school.")]})
    return submission


@transaction.atomic
def submission_score(
    *,
    school: School,
    submission_id: int,
    scored_by: User,
    text: str,
    kind: str = AssessmentKind.FORMATIVE,
    assessed_on: date | None = None,
    feedback: str = "",
) -> RecordResult:
    """Score a pending submission: it becomes an assessment in the student's section and the
    Evidence on it, which counts from now on; its files follow onto the evidence. Scoring a
    submission already scored (a double click) answers the score it already has."""
    submission = _pending_for_update(school, submission_id)
    if submission.status == Status.SCORED and submission.evidence is not None:
        evidence = submission.evidence
        mastery = Mastery.objects.filter(
            school=school, student_id=evidence.student_id, target_id=evidence.target_id
        ).first() or pair_recompute(
            school=school, student_id=evidence.student_id, target_id=evidence.target_id
        )
        return RecordResult(evidence=evidence, mastery=mastery, replaced=None, changed=False)
    if submission.status != Status.PENDING:
        raise EvidenceError(
            {
                "submission": [
                    _("This submission was %(status)s.")
                    % {"status": submission.get_status_display().lower()}
                ]
            }
        )
    section = submission.section
    if section is None:
        raise EvidenceError({"submission": [_("The student is no longer in a section for it.")]})
    if kind not in SCORED_KINDS:
        raise EvidenceError(
            {"kind": [_("Choose formative, summative, interim or pre-assessment.")]}
        )
    typed, status = parse_entry(text)
    if status is None:
        raise EvidenceError({"score": [_("Enter a score or a status.")]})
    day = assessed_on or timezone.localdate()
    assessment = Assessment.objects.create(
        school=school,
        title=submission.title[:200],
        kind=kind,
        assessed_on=day,
        course_id=section.course_id,
        section=section,
        created_by=scored_by,
        description=f"Work the student submitted on {submission.submitted_at:%b %-d, %Y}.",
    )
    AssessmentTarget.objects.create(school=school, assessment=assessment, target=submission.target)
    # Refused (a score off the scale, a day outside the term): the transaction is rolled back,
    # the assessment above with it.
    result = evidence_record(
        school=school,
        recorded_by=scored_by,
        student_id=submission.student_id,
        target_id=submission.target_id,
        assessment_id=assessment.id,
        score=typed,
        status=status,
        assessed_on=day,
        feedback=feedback,
    )
    now = timezone.now()
    FileAttachment.objects.bulk_create(
        FileAttachment(
            school=school,
            file_id=a.file_id,
            evidence=result.evidence,
            student_id=submission.student_id,
            attached_by_id=a.attached_by_id,
            attached_at=now,
        )
        for a in submission.attachments.filter(voided_at__isnull=True)
    )
    submission.status = Status.SCORED
    submission.evidence = result.evidence
    submission.resolved_by, submission.resolved_at = scored_by, now
    submission.save(update_fields=["status", "evidence", "resolved_by", "resolved_at"])
    _audit(
        submission,
        action=AuditEvent.Action.UPDATE,
        actor=scored_by,
        summary=f"Submitted work on {submission.target.code} scored: {submission.title}",
    )
    pagecache.students_changed(school.id, [submission.student_id])
    return result


@transaction.atomic
def submission_return(
    *, school: School, submission_id: int, returned_by: User, response: str
) -> Submission:
    """Give the work back unscored, with a note (try again, wrong target): it counts for nothing."""
    response = (response or "").strip()
    if not response:
        raise EvidenceError({"response": [_("Say what the student should do.")]})
    if len(response) > RESPONSE_MAX:
        raise EvidenceError(
            {"response": [_("Keep the note to %(n)s characters.") % {"n": RESPONSE_MAX}]}
        )
    submission = _pending_for_update(school, submission_id)
    if submission.status == Status.RETURNED:
        return submission
    if submission.status != Status.PENDING:
        raise EvidenceError({"submission": [_("Only a pending submission can be returned.")]})
    submission.status, submission.response = Status.RETURNED, response
    submission.resolved_by, submission.resolved_at = returned_by, timezone.now()
    submission.save(update_fields=["status", "response", "resolved_by", "resolved_at"])
    _audit(
        submission,
        action=AuditEvent.Action.UPDATE,
        actor=returned_by,
        summary=f"Submitted work on {submission.target.code} returned: {response}",
    )
    pagecache.students_changed(school.id, [submission.student_id])
    return submission


@transaction.atomic
def submission_withdraw(*, school: School, submission_id: int, withdrawn_by: User) -> Submission:
    """The student takes back a pending submission (sent by mistake)."""
    submission = _pending_for_update(school, submission_id)
    if submission.status == Status.WITHDRAWN:
        return submission
    if submission.status != Status.PENDING:
        raise EvidenceError({"submission": [_("Only a pending submission can be withdrawn.")]})
    submission.status = Status.WITHDRAWN
    submission.resolved_by, submission.resolved_at = withdrawn_by, timezone.now()
    submission.save(update_fields=["status", "resolved_by", "resolved_at"])
    _audit(
        submission,
        action=AuditEvent.Action.UPDATE,
        actor=withdrawn_by,
        summary=f"Submitted work on {submission.target.code} withdrawn",
    )
    pagecache.students_changed(school.id, [submission.student_id])
    return submission
