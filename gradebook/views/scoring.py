"""Scoring an assessment: a keyboard-first grid of students × the assessment's targets.

With JavaScript (static/js/scoring.js) each cell saves as the teacher leaves it (score_cell) and
the answer is the re-rendered cell plus the student's course grade and the undo button (marked
hx-swap-oob); the script tracks every save until it is answered. Without JavaScript the whole grid
is one form that saves every changed cell (score, POST). Both go through gradebook.services.grid,
which keeps each change on the user's undo stack in the same transaction.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gradebook.models import Assessment, Student
from gradebook.selectors import common as common_reads
from gradebook.selectors import scoring as scoring_reads
from gradebook.services.evidence import EvidenceError
from gradebook.services.grid import feedback_save, fill_enter, score_enter, scoring_undo_pop
from gradebook.views.common import section_for
from mastery.fields import parse_id

# A cell's key names its student and target ids, a comment's its student id: ASCII digits, read
# by parse_id (None for a number no row can have).
CELL = re.compile(r"^c-([0-9]+)-([0-9]+)$")
FEEDBACK = re.compile(r"^fb-([0-9]+)$")


def assessment_for(request, section, assessment_id: int) -> Assessment:
    assessment = (
        scoring_reads.section_assessments(school=request.school, section=section)
        .filter(id=assessment_id)
        .first()
    )
    if assessment is None:
        raise Http404("No such assessment in this section")
    return assessment


def _undo_label(request, section, assessment) -> str | None:
    return scoring_reads.scoring_undo_label(
        school=request.school, user=request.user, section=section, assessment=assessment
    )


def _messages(error: EvidenceError) -> str:
    return " ".join(m for msgs in error.message_dict.values() for m in msgs)


def _page(
    request,
    section,
    assessment,
    *,
    errors=None,
    entered=None,
    comment_errors=None,
    comment_entered=None,
    saved=(),
    status=200,
):
    grid = scoring_reads.scoring_grid(school=request.school, section=section, assessment=assessment)
    context = {
        "section": section,
        "assessment": assessment,
        "grid": grid,
        "errors": errors or {},
        "entered": entered or {},
        "comment_errors": comment_errors or {},
        "comment_entered": comment_entered or {},
        "saved_cells": set(saved),
        "undo_label": _undo_label(request, section, assessment),
    }
    template = "gradebook/scoring.html"
    if request.htmx and request.htmx.target == "score-grid":
        template += "#grid"
    return render(request, template, context, status=status)


def score(request, school_slug: str, section_id: int, assessment_id: int):
    """The scoring page; its POST saves every changed cell and comment (the no-JavaScript path)."""
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    if request.method != "POST":
        return _page(request, section, assessment)

    grid = scoring_reads.scoring_grid(school=request.school, section=section, assessment=assessment)
    current = {
        (r.student.id, t.id): common_reads.evidence_display(e)
        for r in grid.rows
        for t, e, _ in r.cells
    }
    comments = {r.student.id: r.feedback for r in grid.rows}
    students = {r.student.id: r.student for r in grid.rows}
    errors, entered, changed = {}, {}, 0
    comment_errors, comment_entered = {}, {}
    for key, value in request.POST.items():
        if match := CELL.match(key):
            pair = (parse_id(match[1]), parse_id(match[2]))
            if pair not in current or value.strip().upper() == current[pair]:
                continue
            try:
                result = score_enter(
                    school=request.school,
                    entered_by=request.user,
                    section=section,
                    assessment=assessment,
                    student=students[pair[0]],
                    target_id=pair[1],
                    text=value,
                )
            except EvidenceError as exc:
                errors[pair], entered[pair] = _messages(exc), value
                continue
            changed += result.changed
        elif match := FEEDBACK.match(key):
            student_id = parse_id(match[1])
            typed = value.replace("\r\n", "\n").strip()  # as feedback_save keeps it
            if student_id in comments and typed != comments[student_id]:
                try:
                    feedback_save(
                        school=request.school,
                        written_by=request.user,
                        assessment=assessment,
                        student_id=student_id,
                        text=value,
                    )
                    changed += 1
                except EvidenceError as exc:
                    # Shown in its box with the text as typed: a refused comment is never lost.
                    comment_errors[student_id], comment_entered[student_id] = _messages(exc), value
    if errors:
        messages.error(
            request,
            f"{len(errors)} cell{'s' if len(errors) != 1 else ''} could not be saved; see the marked cells.",
        )
    if comment_errors:
        messages.error(
            request,
            f"{len(comment_errors)} comment{'s' if len(comment_errors) != 1 else ''} could not be "
            "saved; see the marked boxes.",
        )
    if errors or comment_errors:
        return _page(
            request,
            section,
            assessment,
            errors=errors,
            entered=entered,
            comment_errors=comment_errors,
            comment_entered=comment_entered,
            status=422,
        )
    messages.success(request, f"Saved {changed} change{'s' if changed != 1 else ''}.")
    return redirect(reverse("gradebook:score", args=[school_slug, section.id, assessment.id]))


@require_POST
def score_cell(request, school_slug: str, section_id: int, assessment_id: int):
    """One cell, saved on change through htmx: the cell back, plus the student's course grade."""
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    cells = [(CELL.match(k), v) for k, v in request.POST.items() if CELL.match(k)]
    if len(cells) != 1:
        return HttpResponseBadRequest("Post exactly one cell.")
    match, value = cells[0]
    student_id, target_id = parse_id(match[1]), parse_id(match[2])
    if student_id is None or target_id is None:
        raise Http404("No such student or target")
    student = Student.objects.filter(
        school=request.school,
        id=student_id,
        enrollments__section=section,
        enrollments__withdrawn_on__isnull=True,
    ).first()
    if student is None:
        raise Http404("No such student in this section")
    error, result, undo_label = None, None, None
    try:
        # The score and its undo entry commit together (one transaction, one commit).
        result = score_enter(
            school=request.school,
            entered_by=request.user,
            section=section,
            assessment=assessment,
            student=student,
            target_id=target_id,
            text=value,
        )
        undo_label = result.undo_label
    except EvidenceError as exc:
        error = _messages(exc)
    grid = scoring_reads.scoring_grid(
        school=request.school, section=section, assessment=assessment, students=[student]
    )
    row = grid.rows[0]
    cell = next((c for c in row.cells if c[0].id == target_id), None)
    if cell is None:
        raise Http404("That learning target is not on this assessment")
    target, evidence, mastery = cell
    context = {
        "section": section,
        "assessment": assessment,
        "grid": grid,
        "row": row,
        "target": target,
        "evidence": evidence,
        "mastery": mastery,
        "error": error,
        "value": value if error else common_reads.evidence_display(evidence),
        "saved": error is None and result is not None and result.changed,
        # The change just kept is the top of the undo stack; otherwise ask.
        "undo_label": undo_label or _undo_label(request, section, assessment),
        "errors": {},
        "entered": {},
        "saved_cells": set(),
    }
    return render(
        request, "gradebook/_score_cell_response.html", context, status=422 if error else 200
    )


@require_POST
def score_feedback(request, school_slug: str, section_id: int, assessment_id: int):
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    fields = [(FEEDBACK.match(k), v) for k, v in request.POST.items() if FEEDBACK.match(k)]
    if len(fields) != 1:
        return HttpResponseBadRequest("Post exactly one comment.")
    match, text = fields[0]
    student = Student.objects.filter(
        school=request.school, id=parse_id(match[1]) or 0, enrollments__section=section
    ).first()
    if student is None:
        raise Http404("No such student in this section")
    error = None
    try:
        feedback_save(
            school=request.school,
            written_by=request.user,
            assessment=assessment,
            student_id=student.id,
            text=text,
        )
    except EvidenceError as exc:
        error = _messages(exc)
    return render(
        request,
        "gradebook/_feedback_cell.html",
        {
            "section": section,
            "assessment": assessment,
            "student": student,
            "text": text,
            "error": error,
            "saved": not error,
        },
        status=422 if error else 200,
    )


@require_POST
def score_fill(request, school_slug: str, section_id: int, assessment_id: int):
    """Fill every empty cell (of one target, or all) with one value; a refusal fills nothing and
    answers 422 with the page and the reason."""
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    target = request.POST.get("target", "").strip()
    value = request.POST.get("value", "")
    try:
        if target and parse_id(target) is None:
            raise EvidenceError({"target": ["Choose a learning target of this assessment."]})
        # The cells and their undo entry commit together.
        filled = fill_enter(
            school=request.school,
            filled_by=request.user,
            section=section,
            assessment=assessment,
            text=value,
            target_ids=[parse_id(target)] if target else None,
        )
    except EvidenceError as exc:
        messages.error(request, _messages(exc))
        return _page(request, section, assessment, status=422)
    else:
        shown = value.strip().upper()
        messages.success(
            request, f"Filled {filled} empty cell{'s' if filled != 1 else ''} with {shown}."
        )
    if request.htmx:
        return _page(request, section, assessment)
    return redirect(reverse("gradebook:score", args=[school_slug, section.id, assessment.id]))


@require_POST
def score_undo(request, school_slug: str, section_id: int, assessment_id: int):
    """Undo the last change this user made in this grid (this section, this assessment)."""
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    result = scoring_undo_pop(
        school=request.school, user=request.user, section=section, assessment=assessment
    )
    if result.label is None:
        messages.info(request, "There is nothing to undo.")
    elif result.refused:
        messages.error(request, result.refused)
    else:
        messages.success(request, f"Undone: {result.label}.")
    if request.htmx:
        return _page(request, section, assessment)
    return redirect(reverse("gradebook:score", args=[school_slug, section.id, assessment.id]))
