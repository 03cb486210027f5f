"""Gradebook pages. Views parse, authorize, call a selector or service, and render."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from gradebook import selectors
from gradebook.permissions import visible_sections, visible_students
from mastery.models import Competency
from mastery.selectors import achievement_levels


def section_detail(request, school_slug: str, section_id: int):
    section = (
        visible_sections(request.access, request.user)
        .select_related("course", "term")
        .filter(id=section_id)
        .first()
    )
    if section is None:
        raise Http404("No such section")
    table = selectors.section_table(school=request.school, section=section)
    return render(request, "gradebook/section_detail.html", {"section": section, "table": table})


def student_detail(request, school_slug: str, student_id: int):
    student = visible_students(request.access, request.user).filter(id=student_id).first()
    if student is None:
        raise Http404("No such student")
    progress = selectors.student_progress(school=request.school, student=student)
    return render(
        request,
        "gradebook/student_detail.html",
        {"student": student, "progress": progress, "levels": achievement_levels(request.school)},
    )


def target_list(request, school_slug: str):
    competencies = (
        Competency.objects.filter(school=request.school)
        .select_related("department")
        .prefetch_related("targets")
        .order_by("department__name", "position", "code")
    )
    return render(request, "gradebook/target_list.html", {"competencies": competencies})


def target_detail(request, school_slug: str, target_id: int):
    target = selectors.target_with_descriptors(school=request.school, target_id=target_id)
    if target is None:
        raise Http404("No such learning target")
    levels = achievement_levels(request.school)
    descriptors = {d.level_value: d for d in target.descriptors.all()}
    rubric = [(level, descriptors.get(level.value)) for level in reversed(levels)]
    return render(request, "gradebook/target_detail.html", {"target": target, "rubric": rubric})
