"""One student on one target: the evidence, how the level was computed, reassess, void."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from gradebook.forms import ReassessForm, VoidForm
from gradebook.models import AssessmentKind, Evidence, ReassessmentRequest, SelfAssessment
from gradebook.permissions import can_score_section
from gradebook.selectors import cells as cells_reads
from gradebook.selectors import common as common_reads
from gradebook.selectors import files as file_reads
from gradebook.selectors import grid as grid_reads
from gradebook.selectors import home as home_reads
from gradebook.selectors.reassessment import BY_TEACHER, next_school_day
from gradebook.services.evidence import EvidenceError, evidence_void
from gradebook.services.reassessment import reassessment_record, submission_token
from gradebook.services.requests import request_create, request_decline, requests_accept
from gradebook.services.self_assessment import self_assessment_reply
from gradebook.services.submissions import SCORED_KINDS
from gradebook.views.common import section_for, student_in_section
from grading.rules import course_statement
from mastery.models import LearningTarget
from mastery.selectors import achievement_levels


def _target_in_course(request, section, target_id: int) -> LearningTarget:
    target = LearningTarget.objects.filter(
        school=request.school, id=target_id, course_targets__course_id=section.course_id
    ).first()
    if target is None:
        raise Http404("No such learning target in this course")
    return target


def _render_detail(request, section, student, target, *, form_errors=None, status=200):
    detail = cells_reads.cell_detail(
        school=request.school, section=section, student=student, target=target
    )
    context = {
        "section": section,
        "detail": detail,
        "can_score": can_score_section(request.access, request.user, section),
        "form_errors": form_errors or {},
        "today": timezone.localdate(),
        "submission_token": submission_token(),  # the reassessment form's: one attempt per form
        "default_day": next_school_day(timezone.localdate()),
        "cell_url": reverse(
            "gradebook:cell_detail",
            args=[request.school.slug, section.id, student.id, target.id],
        ),
        "ctx": request.GET.get("ctx") or request.POST.get("ctx") or "",
        # The files on each piece of evidence (voided ones too: staff keep the record), and the
        # work the student submitted on this target.
        "files": file_reads.evidence_files(
            school=request.school, evidence_ids=[e.id for e in detail.history], staff=True
        ),
        "submissions": file_reads.cell_submissions(
            school=request.school, student=student, target=target
        ),
        "kinds": [(k, AssessmentKind(k).label) for k in SCORED_KINDS],
    }
    if request.htmx:
        context["oob"] = _oob_context(request, section, student, target, context["ctx"])
        return render(request, "gradebook/cell_detail.html#detail", context, status=status)
    return render(request, "gradebook/cell_detail.html", context, status=status)


def _oob_context(request, section, student, target, ctx: str):
    """After a change made in the dialog, what else on the page underneath must be redrawn: on
    the grid, the student's cell on the target, the row's course grade and the target's column
    summary, drawn by the grid's own partials (gradebook/_grid_*.html, the grid_cell tag)."""
    if request.method != "POST":
        return None
    if ctx == "grid":
        grid = grid_reads.section_grid(school=request.school, section=section)
        row = next((r for r in grid.rows if r.student.id == student.id), None)
        column = next((c for c in grid.columns if c.target.id == target.id), None)
        return {"kind": "grid", "grid": grid, "row": row, "column": column}
    return None


# Where the dialog shows a field's error: the score and the date at their inputs, the rest (the
# assessment list's, the feedback's, the title's) above the button.
SHOWN_AT = {"value": "score", "assessed_on": "assessed_on", "assessment": "assessment"}


def _shown(errors) -> dict:
    shown: dict[str, list] = {}
    for field, messages_ in errors.items():
        at = SHOWN_AT.get(field, "target")
        label = "" if field in SHOWN_AT else f"{field.capitalize()}: "
        shown.setdefault(at, []).extend(f"{label}{m}" for m in messages_)
    return shown


def cell_detail(request, school_slug: str, section_id: int, student_id: int, target_id: int):
    section = section_for(request, section_id)
    student = student_in_section(request, section, student_id)
    target = _target_in_course(request, section, target_id)
    return _render_detail(request, section, student, target)


@require_POST
def cell_reassess(request, school_slug: str, section_id: int, student_id: int, target_id: int):
    """Record a reassessment of this student on this target (its assessment made if needed)."""
    section = section_for(request, section_id, scoring=True)
    student = student_in_section(request, section, student_id)
    target = _target_in_course(request, section, target_id)
    form = ReassessForm(request.POST)
    if not form.is_valid():
        return _render_detail(
            request, section, student, target, form_errors=_shown(form.errors), status=422
        )
    data = form.cleaned_data
    try:
        reassessment_record(
            school=request.school,
            recorded_by=request.user,
            section=section,
            student_id=student.id,
            target_id=target.id,
            text=data["value"],
            assessed_on=data["assessed_on"],
            feedback=data["feedback"],
            assessment_id=data["assessment"],
            title=data["title"],
            token=request.POST.get("submission", ""),
        )
    except EvidenceError as exc:
        return _render_detail(
            request, section, student, target, form_errors=exc.message_dict, status=422
        )
    messages.success(request, f"Reassessment recorded for {student.display_name} on {target.code}.")
    if request.htmx:
        return _render_detail(request, section, student, target)
    return redirect(
        reverse("gradebook:cell_detail", args=[school_slug, section.id, student.id, target.id])
    )


@require_POST
def self_assessment_reply_view(
    request, school_slug: str, section_id: int, student_id: int, target_id: int, rating_id: int
):
    """A teacher of the student's section answers one of the student's ratings of themselves."""
    section = section_for(request, section_id, scoring=True)
    student = student_in_section(request, section, student_id)
    target = _target_in_course(request, section, target_id)
    rating = SelfAssessment.objects.filter(
        school=request.school,
        id=rating_id,
        student=student,
        target=target,
        voided_at__isnull=True,
    ).first()
    if rating is None:
        raise Http404("No such self-assessment in this cell")
    try:
        self_assessment_reply(
            school=request.school,
            rating_id=rating.id,
            reply=request.POST.get("reply", ""),
            replied_by=request.user,
        )
    except EvidenceError as exc:
        return _render_detail(
            request, section, student, target, form_errors={rating.id: exc.messages}, status=422
        )
    messages.success(request, _("Your answer is saved; the student sees it on their page."))
    if request.htmx:
        return _render_detail(request, section, student, target)
    return redirect(
        reverse("gradebook:cell_detail", args=[school_slug, section.id, student.id, target.id])
        + f"#rating-{rating.id}"
    )


@require_POST
def evidence_void_view(request, school_slug: str, section_id: int, evidence_id: int):
    section = section_for(request, section_id, scoring=True)
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
    student, target = evidence.student, evidence.target
    form = VoidForm(request.POST)
    try:
        if not form.is_valid():
            raise EvidenceError(form.errors["reason"])
        evidence_void(
            school=request.school,
            evidence_id=evidence.id,
            voided_by=request.user,
            reason=form.cleaned_data["reason"],
        )
    except EvidenceError as exc:
        return _render_detail(
            request,
            section,
            student,
            target,
            form_errors={f"void-{evidence.id}": exc.messages},
            status=422,
        )
    messages.success(request, "The evidence is voided; it stays in the history, struck through.")
    if request.htmx:
        return _render_detail(request, section, student, target)
    return redirect(
        reverse("gradebook:cell_detail", args=[school_slug, section.id, student.id, target.id])
    )


def reassessment_list(request, school_slug: str, section_id: int):
    """Students who have not reached mastery, per target: who to re-teach and reassess."""
    section = section_for(request, section_id)
    candidates = cells_reads.reassessment_candidates(school=request.school, section=section)
    requests = home_reads.open_reassessment_requests(school=request.school, sections=[section])
    by_target: dict[int, list[ReassessmentRequest]] = {}
    for found in requests:
        by_target.setdefault(found.target_id, []).append(found)
    return render(
        request,
        "gradebook/reassessments.html",
        {
            "section": section,
            "candidates": candidates,
            "requests": requests,
            "request_groups": [(group[0].target, group) for group in by_target.values()],
            "default_day": next_school_day(timezone.localdate()),
            "statement": course_statement(request.school, section.course_id),
            "levels": common_reads.level_infos(achievement_levels(request.school)),
            "can_score": can_score_section(request.access, request.user, section),
        },
    )


@require_POST
def cell_request(request, school_slug: str, section_id: int, student_id: int, target_id: int):
    """A teacher notes a request for the student (where the rules let teachers ask)."""
    section = section_for(request, section_id, scoring=True)
    student = student_in_section(request, section, student_id)
    target = _target_in_course(request, section, target_id)
    try:
        request_create(
            school=request.school,
            requested_by=request.user,
            student=student,
            target=target,
            by=BY_TEACHER,
            note=request.POST.get("note", ""),
        )
        messages.success(request, _("The request is noted; accept it with a day."))
    except EvidenceError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(
        reverse("gradebook:cell_detail", args=[school_slug, section.id, student.id, target.id])
    )


def _back(request, school_slug: str, section) -> str:
    """Where a request's form came from (the home page, the cell, the list), inside the school."""
    back = request.POST.get("next", "")
    if not (
        back.startswith(f"/s/{school_slug}/")
        and url_has_allowed_host_and_scheme(back, allowed_hosts=None)
    ):
        back = reverse("gradebook:reassessment_list", args=[school_slug, section.id])
    return back


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


@require_POST
def request_resolve(request, school_slug: str, section_id: int, request_id: int):
    """Accept a request for a day (status=scheduled, scheduled_on) or decline it (status=declined,
    reason). Refusals come back as a message; nothing changes."""
    section = section_for(request, section_id, scoring=True)
    found = (
        ReassessmentRequest.objects.filter(school=request.school, id=request_id, section=section)
        .select_related("student", "target")
        .first()
    )
    if found is None:
        raise Http404("No such request in this section")
    status = request.POST.get("status", "")
    try:
        if status == ReassessmentRequest.Status.SCHEDULED:
            day = _day(request.POST.get("scheduled_on", ""))
            if day is None:
                raise EvidenceError({"scheduled_on": ["Enter the reassessment's day."]})
            requests_accept(
                school=request.school,
                request_ids=[found.id],
                accepted_by=request.user,
                scheduled_on=day,
            )
            messages.success(
                request,
                _("Accepted: %(student)s on %(target)s, %(day)s.")
                % {
                    "student": found.student.display_name,
                    "target": found.target.code,
                    "day": date_format(day, "l, N j"),
                },
            )
        elif status == ReassessmentRequest.Status.DECLINED:
            request_decline(
                school=request.school,
                request_id=found.id,
                declined_by=request.user,
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request,
                _("Declined: %(student)s on %(target)s.")
                % {"student": found.student.display_name, "target": found.target.code},
            )
        else:
            raise EvidenceError({"status": ["A request can be accepted or declined here."]})
    except EvidenceError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_back(request, school_slug, section))


@require_POST
def requests_schedule(request, school_slug: str, section_id: int):
    """Accept several requests into one sitting: the checked requests, one day."""
    section = section_for(request, section_id, scoring=True)
    ids = [int(v) for v in request.POST.getlist("request") if v.isdigit()][:200]
    mine = list(
        ReassessmentRequest.objects.filter(
            school=request.school, id__in=ids, section=section
        ).values_list("id", flat=True)
    )
    try:
        if not ids:
            raise EvidenceError({"request": ["Tick the requests to schedule together."]})
        if len(mine) != len(set(ids)):
            raise Http404("No such request in this section")
        day = _day(request.POST.get("scheduled_on", ""))
        if day is None:
            raise EvidenceError({"scheduled_on": ["Enter the reassessment's day."]})
        accepted = requests_accept(
            school=request.school, request_ids=mine, accepted_by=request.user, scheduled_on=day
        )
        messages.success(
            request,
            ngettext(
                "%(n)s request scheduled for %(day)s.",
                "%(n)s requests scheduled together for %(day)s.",
                len(accepted),
            )
            % {"n": len(accepted), "day": date_format(day, "l, N j")},
        )
    except EvidenceError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_back(request, school_slug, section))
