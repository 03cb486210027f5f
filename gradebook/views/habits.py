"""Habits of work: a separate entry grid per section and date, on the habits scale."""

from __future__ import annotations

import re
from datetime import date

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from gradebook.models import Habit, HabitScore, Student
from gradebook.permissions import can_score_section
from gradebook.selectors import common as common_reads
from gradebook.services.evidence import EvidenceError
from gradebook.services.habits import habit_score_record
from gradebook.views.common import section_for
from mastery import calculation
from mastery.fields import parse_id
from mastery.models import ProficiencyScale, ScaleLevel
from mastery.selectors import allowed_scores

CELL = re.compile(r"^h-([0-9]+)-([0-9]+)$")  # student and habit ids, read by parse_id


def _day(request, section) -> date:
    """The date shown: a valid date in the term, else today (held inside the term)."""
    try:
        day = date.fromisoformat(request.GET.get("date") or request.POST.get("date") or "")
    except ValueError:
        day = timezone.localdate()
    return min(max(day, section.term.starts_on), section.term.ends_on)


def _posted_day(request) -> date | None:
    """The date a score is for, exactly as asked (None if it is not a date): never moved silently."""
    try:
        return date.fromisoformat(request.GET.get("date") or request.POST.get("date") or "")
    except ValueError:
        return None


def _grid(request, section, day):
    students = common_reads.section_students(school=request.school, section=section)
    habits = list(Habit.objects.filter(school=request.school).order_by("position", "name"))
    scores = {
        (h.student_id, h.habit_id): h
        for h in HabitScore.objects.filter(
            school=request.school, section=section, assessed_on=day, voided_at__isnull=True
        )
    }
    levels = list(
        ScaleLevel.objects.filter(
            school=request.school, scale__kind=ProficiencyScale.Kind.HABITS
        ).select_related("scale")
    )
    dates = list(
        HabitScore.objects.filter(school=request.school, section=section, voided_at__isnull=True)
        .order_by("-assessed_on")
        .values_list("assessed_on", flat=True)
        .distinct()[:12]
    )
    rows = [(s, [(h, scores.get((s.id, h.id))) for h in habits]) for s in students]
    return {
        "rows": rows,
        "habits": habits,
        "levels": levels,
        "allowed": ", ".join(calculation.fmt(v) for v in allowed_scores(levels)),
        "dates": dates,
    }


def habit_grid(request, school_slug: str, section_id: int):
    section = section_for(request, section_id)
    day = _day(request, section)
    can_score = can_score_section(request.access, request.user, section)
    errors = {}
    if request.method == "POST":
        if not can_score:
            section_for(request, section_id, scoring=True)  # raises 403
        posted = _posted_day(request)
        if posted is None:
            errors[(0, 0)] = "Choose the date these habits are for (YYYY-MM-DD)."
            messages.error(request, errors[(0, 0)])
            return render(
                request,
                "gradebook/habits.html",
                {
                    "section": section,
                    "day": day,
                    "can_score": can_score,
                    "errors": errors,
                    **_grid(request, section, day),
                },
                status=422,
            )
        day = posted
        for key, value in request.POST.items():
            match = CELL.match(key)
            pair = (parse_id(match[1]), parse_id(match[2])) if match else (None, None)
            if None in pair:  # not a cell of any grid
                continue
            try:
                habit_score_record(
                    school=request.school,
                    recorded_by=request.user,
                    section=section,
                    student_id=pair[0],
                    habit_id=pair[1],
                    assessed_on=day,
                    text=value,
                )
            except EvidenceError as exc:
                errors[pair] = " ".join(exc.messages)
        if not errors:
            messages.success(request, "Habits of work saved.")
            return redirect(
                reverse("gradebook:habits", args=[school_slug, section.id])
                + f"?date={day.isoformat()}"
            )
    context = {
        "section": section,
        "day": day,
        "can_score": can_score,
        "errors": errors,
        **_grid(request, section, day),
    }
    return render(request, "gradebook/habits.html", context, status=422 if errors else 200)


@require_POST
def habit_cell(request, school_slug: str, section_id: int):
    section = section_for(request, section_id, scoring=True)
    day = _posted_day(request)
    cells = [(CELL.match(k), v) for k, v in request.POST.items() if CELL.match(k)]
    if len(cells) != 1:
        return HttpResponseBadRequest("Post exactly one cell.")
    match, value = cells[0]
    student_id, habit_id = parse_id(match[1]), parse_id(match[2])
    if student_id is None or habit_id is None:
        raise Http404("No such student or habit")
    student = Student.objects.filter(
        school=request.school, id=student_id, enrollments__section=section
    ).first()
    habit = Habit.objects.filter(school=request.school, id=habit_id).first()
    if student is None or habit is None:
        raise Http404("No such student or habit")
    error = None if day is not None else "Choose the date these habits are for (YYYY-MM-DD)."
    try:
        if error:
            raise EvidenceError({"assessed_on": [error]})
        score = habit_score_record(
            school=request.school,
            recorded_by=request.user,
            section=section,
            student_id=student.id,
            habit_id=habit.id,
            assessed_on=day,
            text=value,
        )
    except EvidenceError as exc:
        error, score = " ".join(exc.messages), None
    context = {
        "section": section,
        "day": day,
        "student": student,
        "habit": habit,
        "score": score,
        "error": error,
        "value": value if error else (calculation.fmt(score.score) if score else ""),
        "saved": error is None,
    }
    return render(request, "gradebook/_habit_cell.html", context, status=422 if error else 200)
