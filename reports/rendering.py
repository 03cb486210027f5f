"""Rendering one student's progress report, in a language, as HTML or as a PDF."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from gradebook.models import Student
from mastery.models import School
from reports.pdf import render_pdf
from reports.selectors import StudentReport, student_report


def report_language(student: Student, requested: str | None = None) -> str:
    """The requested language if we have it, else the family's preferred one."""
    languages = dict(settings.LANGUAGES)
    if requested in languages:
        return requested
    return (
        student.preferred_language
        if student.preferred_language in languages
        else settings.LANGUAGE_CODE
    )


def build_report(*, school: School, student: Student, language: str) -> StudentReport:
    with translation.override(language):
        return student_report(school=school, student=student)


def report_pdf(
    *, school: School, student: Student, language: str, report: StudentReport | None = None
) -> bytes:
    with translation.override(language):
        report = report or student_report(school=school, student=student)
        return render_pdf(
            "reports/progress_report.html",
            {"report": report, "pdf": True},
            stylesheets=("css/report.css",),
        )
