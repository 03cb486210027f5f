"""One student on one target: the evidence, how the level was computed, reassess, void."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gradebook.forms import ReassessForm, VoidForm
from gradebook.models import Evidence, ReassessmentRequest
from gradebook.permissions import can_score_section
from gradebook.selectors import cells as cells_reads
from gradebook.selectors import common as common_reads
from gradebook.selectors import grid as grid_reads
from gradebook.selectors import home as home_reads
from gradebook.services.evidence import EvidenceError, evidence_void
from gradebook.services.reassessment import (
    reassessment_record,
    reassessment_request_resolve,
    submission_token,
)
from gradebook.views.common import section_for, student_in_section
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
        "ctx": request.GET.get("ctx") or request.POST.get("ctx") or "",
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
    return render(
        request,
        "gradebook/reassessments.html",
        {
            "section": section,
            "candidates": candidates,
            "requests": requests,
            "levels": common_reads.level_infos(achievement_levels(request.school)),
            "can_score": can_score_section(request.access, request.user, section),
        },
    )


@require_POST
def request_resolve(request, school_slug: str, section_id: int, request_id: int):
    section = section_for(request, section_id, scoring=True)
    if not ReassessmentRequest.objects.filter(
        school=request.school, id=request_id, section=section
    ).exists():
        raise Http404("No such request in this section")
    try:
        reassessment_request_resolve(
            school=request.school,
            request_id=request_id,
            resolved_by=request.user,
            status=request.POST.get("status", ""),
        )
    except EvidenceError as exc:
        messages.error(request, " ".join(exc.messages))
    back = request.POST.get("next", "")
    if not (
        back.startswith(f"/s/{school_slug}/")
        and url_has_allowed_host_and_scheme(back, allowed_hosts=None)
    ):
        back = reverse("gradebook:reassessment_list", args=[school_slug, section.id])
    return redirect(back)
