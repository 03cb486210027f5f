"""Evidence files: who may read a file, the files on evidence, and the submissions to score.

Who may read a file mirrors who may read the student's cell detail (gradebook.permissions):
school admins, counselors and district admins, any file of the school; a teacher, the files on
a student's work on a target of a course they teach the student in, on work handed in to their
sections and on the assessments of their courses; the
student, the files on their own work; a guardian, those on their children's. Students and
families see only live files on live evidence or on submissions; a voided file (or one on voided
evidence) is for staff alone. Anything else is not found: the same 404 as another school's file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from gradebook.models import (
    Enrollment,
    EvidenceFile,
    FileAttachment,
    Section,
    SectionTeacher,
    Student,
    Submission,
)
from gradebook.permissions import SCHOOL_WIDE, visible_sections
from mastery.models import LearningTarget, Role, School, User
from mastery.tenancy import SchoolAccess


def teacher_readable(access: SchoolAccess, user: User) -> Q:
    """The attachments a teacher may read, as the cell detail allows (gradebook.views.cells):
    work on a target of a course of a section they teach the student in; work handed in to one
    of their sections; the files of their courses' assessments. Not the PE teacher reading the
    same student's English work."""
    taught = SectionTeacher.objects.filter(school=access.school, teacher=user).values("section_id")
    in_their_course = Enrollment.objects.filter(
        school=access.school,
        section_id__in=taught,
        student_id=OuterRef("student_id"),
        section__course__course_targets__target_id=OuterRef("evidence__target_id"),
    )
    courses = visible_sections(access, user).values("course_id")
    return (
        Q(evidence__isnull=False, student__isnull=False) & Exists(in_their_course)
        | Q(submission__section_id__in=taught)
        | Q(assessment__course_id__in=courses)
    )


def _own_students(access: SchoolAccess, user: User) -> QuerySet[Student]:
    students = Student.objects.filter(school=access.school)
    mine = Q(pk__in=[])
    if access.has(Role.GUARDIAN):
        mine |= Q(guardianships__guardian=user)
    if access.has(Role.STUDENT):
        mine |= Q(user=user)
    return students.filter(mine)


def family_visible(attachments: QuerySet[FileAttachment]) -> QuerySet[FileAttachment]:
    """What a student or a family may see: live files on live evidence, and those of work
    handed in. Once the work is scored its files are shown through its evidence only: a photo
    the teacher took off the evidence ("it shows another student"), or one on a voided score,
    is gone for the family, not kept visible by the submission it came in with."""
    on_live_evidence = FileAttachment.objects.filter(
        evidence_id=OuterRef("submission__evidence_id"),
        evidence__voided_at__isnull=True,
        file_id=OuterRef("file_id"),
        voided_at__isnull=True,
    )
    return attachments.filter(voided_at__isnull=True, file__voided_at__isnull=True).filter(
        Q(evidence__isnull=False, evidence__voided_at__isnull=True)
        | (
            Q(submission__isnull=False)
            & (~Q(submission__status=Submission.Status.SCORED) | Exists(on_live_evidence))
        )
    )


def file_for_viewer(*, access: SchoolAccess, user: User, file_id: int) -> EvidenceFile | None:
    """The file, when this user may read it; None (answer 404) otherwise."""
    found = EvidenceFile.objects.filter(school=access.school, id=file_id).first()
    if found is None:
        return None
    if access.has(*SCHOOL_WIDE):
        return found
    attachments = FileAttachment.objects.filter(school=access.school, file=found)
    if access.has(Role.TEACHER) and attachments.filter(teacher_readable(access, user)).exists():
        return found
    if access.has(Role.GUARDIAN, Role.STUDENT) and (
        family_visible(attachments)
        .filter(student__in=_own_students(access, user).values("id"))
        .exists()
    ):
        return found
    return None


@dataclass
class Shown:
    """One file as a page shows it: the attachment, its file, and the other students whose
    work has the same photo (it may show them)."""

    attachment: FileAttachment
    shared: int = 0

    @property
    def file(self) -> EvidenceFile:
        return self.attachment.file

    @property
    def id(self) -> int:
        return self.attachment.id

    @property
    def voided_at(self) -> datetime | None:
        return self.attachment.voided_at

    @property
    def void_reason(self) -> str:
        return self.attachment.void_reason


def _shared_counts(school: School, attachments: list[FileAttachment]) -> dict[tuple[str, int], int]:
    """For each (file hash, student): how many other students have the same bytes on their work."""
    hashes = {a.file.sha256 for a in attachments}
    if not hashes:
        return {}
    owners: dict[str, set[int]] = defaultdict(set)
    for sha, student_id in (
        FileAttachment.objects.filter(
            school=school, file__sha256__in=hashes, voided_at__isnull=True, student__isnull=False
        )
        .values_list("file__sha256", "student_id")
        .distinct()
    ):
        owners[sha].add(student_id)
    return {
        (a.file.sha256, a.student_id or 0): len(owners[a.file.sha256] - {a.student_id})
        for a in attachments
    }


def evidence_files(
    *, school: School, evidence_ids: Iterable[int], staff: bool
) -> dict[int, list[Shown]]:
    """The files on each piece of evidence (two queries). Staff see voided ones too."""
    attachments: QuerySet[FileAttachment] = FileAttachment.objects.filter(
        school=school, evidence_id__in=list(evidence_ids)
    )
    if not staff:
        attachments = family_visible(attachments)
    rows = list(attachments.select_related("file").order_by("attached_at", "id"))
    shared = _shared_counts(school, rows) if staff else {}
    by_evidence: dict[int, list[Shown]] = defaultdict(list)
    for a in rows:
        assert a.evidence_id is not None
        by_evidence[a.evidence_id].append(
            Shown(attachment=a, shared=shared.get((a.file.sha256, a.student_id or 0), 0))
        )
    return by_evidence


def assessment_files(*, school: School, assessment_id: int) -> list[FileAttachment]:
    return list(
        FileAttachment.objects.filter(school=school, assessment_id=assessment_id)
        .select_related("file")
        .order_by("attached_at", "id")
    )


def student_files(*, school: School, student: Student) -> list[FileAttachment]:
    """The files on a student's live evidence, newest first, for the student and the family."""
    return list(
        family_visible(FileAttachment.objects.filter(school=school, student=student))
        .filter(evidence__isnull=False)
        .select_related("file", "evidence__target", "evidence__assessment")
        .order_by("evidence__target__code", "-evidence__assessed_on", "-id")
    )


def student_submissions(
    *, school: School, student: Student, pending: bool = False
) -> list[Submission]:
    """A student's submissions (only those waiting for the teacher, if `pending`), newest
    first, with their live files (for the portal)."""
    live = family_visible(FileAttachment.objects.filter(school=school)).select_related("file")
    found = Submission.objects.filter(school=school, student=student)
    if pending:
        found = found.filter(status=Submission.Status.PENDING)
    return list(
        found.select_related("target", "evidence")
        .prefetch_related(Prefetch("attachments", queryset=live, to_attr="live_attachments"))
        .order_by("-submitted_at", "-id")[:50]
    )


def pending_submissions(
    *, access: SchoolAccess, user: User, section: Section | None = None
) -> QuerySet[Submission]:
    """Work waiting for a teacher: in the sections this user may see (one section, if given)."""
    sections = visible_sections(access, user)
    if section is not None:
        sections = sections.filter(id=section.id)
    return (
        Submission.objects.filter(
            school=access.school, status=Submission.Status.PENDING, section__in=sections
        )
        .select_related("student", "target", "section__course")
        .prefetch_related("attachments__file")
        .order_by("submitted_at", "id")
    )


def pending_counts(*, access: SchoolAccess, user: User) -> dict[int, int]:
    """Pending submissions per section the user may see (the home page's badge)."""
    return dict(
        Submission.objects.filter(
            school=access.school,
            status=Submission.Status.PENDING,
            section__in=visible_sections(access, user),
        )
        .values_list("section_id")
        .annotate(n=Count("id"))
        .values_list("section_id", "n")
    )


def cell_submissions(
    *, school: School, student: Student, target: LearningTarget
) -> list[Submission]:
    """The student's submissions on one target (the cell detail), newest first."""
    return list(
        Submission.objects.filter(school=school, student=student, target=target)
        .select_related("section")
        .prefetch_related("attachments__file")
        .order_by("-submitted_at", "-id")
    )
