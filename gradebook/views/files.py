"""Evidence files: the authorized download, attaching files to evidence and assessments, and
the teacher's list of submitted work to score (docs/files.md)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from gradebook.models import (
    Assessment,
    AssessmentKind,
    Evidence,
    FileAttachment,
    Submission,
)
from gradebook.permissions import SCHOOL_WIDE, can_score_section
from gradebook.selectors import files as file_reads
from gradebook.services.evidence import EvidenceError
from gradebook.services.files import (
    assessment_files_attach,
    attachment_void,
    evidence_files_attach,
    stored_name,
)
from gradebook.services.submissions import SCORED_KINDS, submission_return, submission_score
from gradebook.views.common import section_for
from mastery.models import Role

# Served files are never run or rendered as a page: sandboxed (no scripts, no same origin), no
# sniffing, private to the browser.
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def file_response(found, *, thumbnail: bool, staff: bool = True) -> FileResponse:
    """The stored file (or its thumbnail) as a response that is never run or rendered as a
    page: sandboxed, not sniffed, an image inline, a PDF downloaded. Staff's browsers may keep it
    a while; a student's or family's (often a shared or school device) keep nothing."""
    field = found.thumbnail if thumbnail and found.thumbnail else found.file
    content_type = "image/jpeg" if thumbnail and found.thumbnail else found.content_type
    try:
        handle = field.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from the store") from None
    inline = content_type.startswith("image/")  # PDFs are downloaded, never shown inline
    response = FileResponse(handle, content_type=content_type)
    # Named for what it is (files stored before names were checked too): never x.html.
    name = stored_name(found.original_name, content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "private, max-age=3600" if staff else "no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _staff(request) -> bool:
    return request.access.has(Role.TEACHER, *SCHOOL_WIDE)


@require_safe
def file_download(request, school_slug: str, file_id: int):
    """A file, for whoever may read it (a 404 for everyone else, other schools included)."""
    found = file_reads.file_for_viewer(access=request.access, user=request.user, file_id=file_id)
    if found is None:
        raise Http404("No such file")
    return file_response(found, thumbnail=False, staff=_staff(request))


@require_safe
def file_thumbnail(request, school_slug: str, file_id: int):
    found = file_reads.file_for_viewer(access=request.access, user=request.user, file_id=file_id)
    if found is None:
        raise Http404("No such file")
    return file_response(found, thumbnail=True, staff=_staff(request))


def _back(request, fallback: str) -> str:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return fallback


def _evidence_in_section(request, section, evidence_id: int) -> Evidence:
    evidence = (
        Evidence.objects.filter(
            school=request.school,
            id=evidence_id,
            student__enrollments__section=section,
            assessment__course_id=section.course_id,
        )
        .filter(Q(assessment__section__isnull=True) | Q(assessment__section=section))
        .select_related("student", "target")
        .first()
    )
    if evidence is None:
        raise Http404("No such evidence in this section")
    return evidence


def _tell_shared(request, shared) -> None:
    if shared:
        names = ", ".join(s.display_name for s in shared[:5])
        messages.warning(
            request,
            ngettext(
                "The same photo is on the work of %(n)s other student (%(names)s): it may show "
                "them. It is flagged in the students' records.",
                "The same photo is on the work of %(n)s other students (%(names)s): it may show "
                "them. It is flagged in the students' records.",
                len(shared),
            )
            % {"n": len(shared), "names": names},
        )


@require_POST
def evidence_files_add(request, school_slug: str, section_id: int, evidence_id: int):
    """Attach photos or PDFs to a piece of evidence (the section's teachers, school admins)."""
    section = section_for(request, section_id, scoring=True)
    evidence = _evidence_in_section(request, section, evidence_id)
    cell = reverse(
        "gradebook:cell_detail",
        args=[school_slug, section.id, evidence.student_id, evidence.target_id],
    )
    try:
        attached = evidence_files_attach(
            school=request.school,
            evidence=evidence,
            uploads=request.FILES.getlist("files"),
            attached_by=request.user,
        )
    except EvidenceError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(_back(request, cell))
    if attached.files:
        messages.success(
            request,
            ngettext("%(n)s file attached.", "%(n)s files attached.", len(attached.files))
            % {"n": len(attached.files)},
        )
    else:
        messages.info(request, _("Those files are already attached."))
    _tell_shared(request, attached.shared_with)
    return redirect(_back(request, cell))


@require_POST
def attachment_remove(request, school_slug: str, section_id: int, attachment_id: int):
    """Take a file off evidence, an assessment or work handed in to the section (voided: kept
    for staff)."""
    section = section_for(request, section_id, scoring=True)
    attachment = (
        FileAttachment.objects.filter(school=request.school, id=attachment_id)
        .filter(
            (
                Q(
                    evidence__student__enrollments__section=section,
                    evidence__assessment__course_id=section.course_id,
                )
                & (
                    Q(evidence__assessment__section__isnull=True)
                    | Q(evidence__assessment__section=section)
                )
            )
            | (
                Q(assessment__course_id=section.course_id)
                & (Q(assessment__section__isnull=True) | Q(assessment__section=section))
            )
            # Work handed in to this section, waiting or scored (a photo that shows another
            # student is taken off before it is scored too).
            | Q(submission__section=section)
        )
        .distinct()
        .first()
    )
    if attachment is None:
        raise Http404("No such file in this section")
    try:
        attachment_void(
            school=request.school,
            attachment_id=attachment.id,
            voided_by=request.user,
            reason=request.POST.get("reason", "") or _("Removed by the teacher"),
        )
    except EvidenceError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The file is removed; it stays in the records for staff."))
    return redirect(
        _back(request, reverse("gradebook:section_detail", args=[school_slug, section.id]))
    )


@require_POST
def assessment_files_add(request, school_slug: str, section_id: int, assessment_id: int):
    """Attach the task, its pages or an answer key to an assessment (staff only see them)."""
    section = section_for(request, section_id, scoring=True)
    assessment = (
        Assessment.objects.filter(school=request.school, id=assessment_id, course=section.course)
        .filter(Q(section__isnull=True) | Q(section=section))
        .first()
    )
    if assessment is None:
        raise Http404("No such assessment in this section")
    back = reverse("gradebook:assessment_edit", args=[school_slug, section.id, assessment.id])
    try:
        attached = assessment_files_attach(
            school=request.school,
            assessment=assessment,
            uploads=request.FILES.getlist("files"),
            attached_by=request.user,
        )
    except EvidenceError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext("%(n)s file attached.", "%(n)s files attached.", len(attached.files))
            % {"n": len(attached.files)},
        )
    return redirect(_back(request, back))


def _submission_in_section(request, section, submission_id: int) -> Submission:
    submission = (
        Submission.objects.filter(school=request.school, id=submission_id, section=section)
        .select_related("student", "target")
        .first()
    )
    if submission is None:
        raise Http404("No such submission in this section")
    return submission


def _render_list(request, section, *, errors=None, status=200):
    pending = list(
        file_reads.pending_submissions(access=request.access, user=request.user, section=section)
    )
    return render(
        request,
        "gradebook/submissions.html",
        {
            "section": section,
            "pending": pending,
            "kinds": [(k, AssessmentKind(k).label) for k in SCORED_KINDS],
            "today": timezone.localdate(),
            "errors": errors or {},
            # A photo that shows another student can be taken off before scoring (its teachers).
            "can_score": can_score_section(request.access, request.user, section),
        },
        status=status,
    )


@require_safe
def submission_list(request, school_slug: str, section_id: int):
    """Work students submitted in this section, waiting to be scored."""
    section = section_for(request, section_id)
    return _render_list(request, section)


@require_POST
def submission_score_view(request, school_slug: str, section_id: int, submission_id: int):
    section = section_for(request, section_id, scoring=True)
    submission = _submission_in_section(request, section, submission_id)
    day = request.POST.get("assessed_on") or ""
    try:
        assessed_on = timezone.datetime.fromisoformat(day).date() if day else None
    except ValueError:
        return _render_list(
            request, section, errors={submission.id: [_("Enter a valid date.")]}, status=422
        )
    try:
        submission_score(
            school=request.school,
            submission_id=submission.id,
            scored_by=request.user,
            text=request.POST.get("value", ""),
            kind=request.POST.get("kind") or AssessmentKind.FORMATIVE,
            assessed_on=assessed_on,
            feedback=request.POST.get("feedback", ""),
        )
    except EvidenceError as exc:
        return _render_list(request, section, errors={submission.id: exc.messages}, status=422)
    messages.success(
        request,
        _("%(student)s's work on %(target)s is scored; it now counts.")
        % {"student": submission.student.display_name, "target": submission.target.code},
    )
    return redirect(
        _back(request, reverse("gradebook:submission_list", args=[school_slug, section.id]))
    )


@require_POST
def submission_return_view(request, school_slug: str, section_id: int, submission_id: int):
    section = section_for(request, section_id, scoring=True)
    submission = _submission_in_section(request, section, submission_id)
    try:
        submission_return(
            school=request.school,
            submission_id=submission.id,
            returned_by=request.user,
            response=request.POST.get("response", ""),
        )
    except EvidenceError as exc:
        return _render_list(request, section, errors={submission.id: exc.messages}, status=422)
    messages.success(request, _("The work is returned to the student with your note."))
    return redirect(reverse("gradebook:submission_list", args=[school_slug, section.id]))
