"""A student's progress and the school's learning targets (read-only pages)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from gradebook.models import SchoolYear
from gradebook.permissions import visible_students
from gradebook.selectors import students as students_reads
from mastery.fields import parse_id
from mastery.models import Competency, Department
from mastery.selectors import achievement_levels
from mastery.standards.selectors import target_alignments


def student_detail(request, school_slug: str, student_id: int):
    """This year's levels (with last year's as context), or with ?year= a closed year's levels
    as they were kept when it closed."""
    school = request.school
    student = visible_students(request.access, request.user).filter(id=student_id).first()
    if student is None:
        raise Http404("No such student")
    year = None
    if "year" in request.GET:
        year_id = parse_id(request.GET["year"])
        year = (
            SchoolYear.objects.filter(school=school, id=year_id, closed_at__isnull=False).first()
            if year_id
            else None
        )
        if year is None:
            raise Http404("No such closed school year")
    context = {
        "student": student,
        "levels": achievement_levels(school),
        "year": year,
        "years": students_reads.student_closed_years(school=school, student=student),
    }
    if year is not None:
        context["kept"] = students_reads.year_end_progress(
            school=school, student=student, year=year
        )
    else:
        context["progress"] = students_reads.student_progress(school=school, student=student)
        context["habits"] = students_reads.student_habits(school=school, student=student)
        context["last_year"] = students_reads.last_year_by_target(school=school, student=student)
    return render(request, "gradebook/student_detail.html", context)


def target_list(request, school_slug: str):
    competencies = (
        Competency.objects.filter(school=request.school)
        .select_related("department")
        .prefetch_related("targets")
        .order_by("department__name", "position", "code")
    )
    departments = Department.objects.filter(school=request.school).order_by("name")
    return render(
        request,
        "gradebook/target_list.html",
        {"competencies": competencies, "departments": departments},
    )


def target_detail(request, school_slug: str, target_id: int):
    target = students_reads.target_with_descriptors(school=request.school, target_id=target_id)
    if target is None:
        raise Http404("No such learning target")
    levels = achievement_levels(request.school)
    descriptors = {d.level_value: d for d in target.descriptors.all()}
    rubric = [(level, descriptors.get(level.value)) for level in reversed(levels)]
    return render(
        request,
        "gradebook/target_detail.html",
        {
            "target": target,
            "rubric": rubric,
            "alignments": target_alignments(request.school, target),
        },
    )
