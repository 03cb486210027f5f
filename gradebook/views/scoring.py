"""Scoring an assessment: a keyboard-first grid of students × the assessment's targets.

With JavaScript (static/js/scoring.js) each cell saves as the teacher leaves it (score_cell) and
the answer is the re-rendered cell plus the student's course grade and the undo button (marked
hx-swap-oob); the script tracks every save until it is answered. Without JavaScript the whole grid
is one form that saves every changed cell (score, POST). Both go through gradebook.services.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gradebook import selectors
from gradebook.models import Assessment, Student
from gradebook.services import (
    EvidenceError,
    evidence_enter,
    evidence_fill,
    feedback_save,
    scoring_undo_pop,
    scoring_undo_push,
)
from gradebook.views.common import section_for
from mastery.fields import parse_id

# A cell's key names its student and target ids, a comment's its student id: ASCII digits, read
# by parse_id (None for a number no row can have).
CELL = re.compile(r"^c-([0-9]+)-([0-9]+)$")
FEEDBACK = re.compile(r"^fb-([0-9]+)$")


def assessment_for(request, section, assessment_id: int) -> Assessment:
    assessment = (
        selectors.section_assessments(school=request.school, section=section)
        .filter(id=assessment_id)
        .first()
    )
    if assessment is None:
        raise Http404("No such assessment in this section")
    return assessment


def _change_label(name: str, code: str, undo: dict) -> str:
    """What Undo will take back, in words: 'Ana Diaz: 3 on ALG.1 (was 2)'."""
    step = undo["steps"][0]
    now = selectors.cell_state_display(step["after"]) or "empty"
    was = selectors.cell_state_display(step["before"]) or "empty"
    return f"{name}: {now} on {code} (was {was})"


def _push_undo(request, section, assessment, undo: dict | None, label: str) -> str | None:
    return scoring_undo_push(
        school=request.school,
        user=request.user,
        section=section,
        assessment=assessment,
        undo=undo,
        label=label,
    )


def _undo_label(request, section, assessment) -> str | None:
    return selectors.scoring_undo_label(
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
    grid = selectors.scoring_grid(school=request.school, section=section, assessment=assessment)
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

    grid = selectors.scoring_grid(school=request.school, section=section, assessment=assessment)
    current = {
        (r.student.id, t.id): selectors.evidence_display(e)
        for r in grid.rows
        for t, e, _ in r.cells
    }
    comments = {r.student.id: r.feedback for r in grid.rows}
    names = {r.student.id: r.student.display_name for r in grid.rows}
    codes = {t.id: t.code for t in grid.targets}
    errors, entered, changed = {}, {}, 0
    comment_errors, comment_entered = {}, {}
    for key, value in request.POST.items():
        if match := CELL.match(key):
            pair = (parse_id(match[1]), parse_id(match[2]))
            if pair not in current or value.strip().upper() == current[pair]:
                continue
            try:
                result = evidence_enter(
                    school=request.school,
                    entered_by=request.user,
                    student_id=pair[0],
                    target_id=pair[1],
                    assessment_id=assessment.id,
                    text=value,
                )
            except EvidenceError as exc:
                errors[pair], entered[pair] = _messages(exc), value
                continue
            changed += result.changed
            if result.undo:
                label = _change_label(names[pair[0]], codes[pair[1]], result.undo)
                _push_undo(request, section, assessment, result.undo, label)
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
        with transaction.atomic():
            result = evidence_enter(
                school=request.school,
                entered_by=request.user,
                student_id=student.id,
                target_id=target_id,
                assessment_id=assessment.id,
                text=value,
                loaded_assessment=assessment,
            )
            if result.changed and result.undo:
                # The assessment came with its targets (section_assessments): no query.
                code = next((t.code for t in assessment.targets.all() if t.id == target_id), "")
                label = _change_label(student.display_name, code, result.undo)
                undo_label = _push_undo(request, section, assessment, result.undo, label)
    except EvidenceError as exc:
        error = _messages(exc)
    grid = selectors.scoring_grid(
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
        "value": value if error else selectors.evidence_display(evidence),
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
        undo = evidence_fill(
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
        filled, shown = len(undo["steps"]), value.strip().upper()
        _push_undo(
            request,
            section,
            assessment,
            undo if filled else None,
            f"fill {filled} cells with {shown}",
        )
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
