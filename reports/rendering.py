"""Rendering one student's progress report, or report card of record, in a language, as HTML or
as a PDF."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from gradebook.models import GradingPeriod, Student
from mastery.gcpause import gc_paused
from mastery.models import School
from mastery.pdf import last_page_filled, render_document
from reports.report_cards import ReportCard, report_card
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


# A last page holding less than this is nearly empty: a short final section (the intervention
# table, say) that did not fit at the foot of the page before.
NEARLY_EMPTY = 0.3
TEMPLATE, STYLE = "reports/progress_report.html", ("css/report.css",)


def report_pdf(
    *, school: School, student: Student, language: str, report: StudentReport | None = None
) -> bytes:
    """The report as a PDF. When its last page would be nearly empty, it is laid out once more a
    little tighter (less space between targets), which pulls that page's content back onto the
    page before; kept only if it saves the page."""
    with translation.override(language), gc_paused():
        report = report or student_report(school=school, student=student)
        document = render_document(TEMPLATE, {"report": report, "pdf": True}, stylesheets=STYLE)
        if len(document.pages) > 1 and last_page_filled(document) < NEARLY_EMPTY:
            tighter = render_document(
                TEMPLATE, {"report": report, "pdf": True, "compact": True}, stylesheets=STYLE
            )
            if len(tighter.pages) < len(document.pages):
                document = tighter
        return document.write_pdf()


CARD_TEMPLATE = "reports/report_card.html"


def report_card_pdf(
    *,
    school: School,
    student: Student,
    period: GradingPeriod,
    language: str,
    card: ReportCard | None = None,
) -> bytes:
    """The report card of record as of `period`, as a PDF (the same template as its page)."""
    with translation.override(language), gc_paused():
        card = card or report_card(school=school, student=student, period=period)
        document = render_document(CARD_TEMPLATE, {"card": card, "pdf": True}, stylesheets=STYLE)
        return document.write_pdf()
