"""Assessments of a section: the list (what needs scoring), create and edit."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from gradebook.forms import AssessmentForm
from gradebook.models import Assessment, CourseTarget, Evidence
from gradebook.permissions import can_score_section
from gradebook.selectors import files as file_reads
from gradebook.selectors import home as home_reads
from gradebook.selectors import scoring as scoring_reads
from gradebook.services.assessments import assessment_save
from gradebook.services.evidence import EvidenceError
from gradebook.views.common import section_for
from gradebook.views.scoring import assessment_for
from mastery.forms import add_service_errors
from mastery.models import LearningTarget


def assessment_list(request, school_slug: str, section_id: int):
    section = section_for(request, section_id)
    assessments = list(scoring_reads.section_assessments(school=request.school, section=section))
    counted = home_reads.sections_with_counts(school=request.school, ids=[section.id])
    todo = {
        t.assessment.id: t
        for t in home_reads.scoring_todo(school=request.school, sections=counted, since_days=3650)
    }
    return render(
        request,
        "gradebook/assessment_list.html",
        {
            "section": section,
            "assessments": assessments,
            "todo": todo,
            "can_score": can_score_section(request.access, request.user, section),
        },
    )


def _form(request, section, assessment=None):
    targets = LearningTarget.objects.filter(
        school=request.school,
        id__in=CourseTarget.objects.filter(
            school=request.school, course_id=section.course_id
        ).values("target_id"),
    ).order_by("code")
    others = scoring_reads.section_assessments(school=request.school, section=section)
    if assessment is not None:
        others = others.exclude(id=assessment.id)
    initial = None
    if assessment is not None:
        initial = {
            "title": assessment.title,
            "kind": assessment.kind,
            "assessed_on": assessment.assessed_on,
            "scope": "section" if assessment.section_id else "course",
            "targets": list(assessment.targets.all()),
            "tier": assessment.tier,
            "original": assessment.original,
            "description": assessment.description,
        }
    elif request.method == "GET":
        initial = {
            "assessed_on": timezone.localdate(),
            "kind": request.GET.get("kind") or "formative",
            "targets": request.GET.getlist("target"),
            "original": request.GET.get("original") or None,
            "scope": "section" if request.GET.get("kind") == "reassessment" else "course",
        }
    data = request.POST if request.method == "POST" else None
    return AssessmentForm(data, initial=initial, targets=targets, assessments=others)


def _save(request, section, assessment: Assessment | None):
    form = _form(request, section, assessment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = assessment_save(
                school=request.school,
                saved_by=request.user,
                assessment=assessment,
                title=data["title"],
                kind=data["kind"],
                assessed_on=data["assessed_on"],
                course=section.course,
                section=section if data["scope"] == "section" else None,
                target_ids=[t.id for t in data["targets"]],
                tier=data["tier"],
                original=data["original"],
                description=data["description"],
            )
        except EvidenceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved “{saved.title}”.")
            return redirect(
                reverse("gradebook:score", args=[request.school.slug, section.id, saved.id])
            )
    status = 422 if request.method == "POST" else 200
    scored = (
        Evidence.objects.filter(
            school=request.school, assessment=assessment, voided_at__isnull=True
        ).count()
        if assessment
        else 0
    )
    return render(
        request,
        "gradebook/assessment_form.html",
        {
            "section": section,
            "form": form,
            "assessment": assessment,
            "scored": scored,
            # The task's own files (its sheet, an answer key): staff only.
            "task_files": file_reads.assessment_files(
                school=request.school, assessment_id=assessment.id
            )
            if assessment
            else [],
        },
        status=status,
    )


def assessment_create(request, school_slug: str, section_id: int):
    section = section_for(request, section_id, scoring=True)
    return _save(request, section, None)


def assessment_edit(request, school_slug: str, section_id: int, assessment_id: int):
    section = section_for(request, section_id, scoring=True)
    assessment = assessment_for(request, section, assessment_id)
    return _save(request, section, assessment)
