"""CSV downloads of record: a grading period's posted marks, of a section or of the whole school
(streamed, overrides marked; marks.exports)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from gradebook.permissions import SCHOOL_WIDE
from gradebook.views.common import section_for
from marks import exports
from mastery.decorators import roles_required


def _bad_period(error: exports.PeriodChoiceError) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def section_marks_export(request, school_slug: str, section_id: int):
    """The section's posted marks of `?period=` as CSV, for whoever may see the section's grid
    (its teachers, school admins, counselors, district admins; 404 otherwise, as the grid)."""
    section = section_for(request, section_id)
    try:
        period = exports.period_from_query(
            request.school, request.GET.get("period"), section=section
        )
    except exports.PeriodChoiceError as error:
        return _bad_period(error)
    return exports.posted_marks_response(school=request.school, period=period, section=section)


@never_cache
@require_safe
@roles_required(*SCHOOL_WIDE)
def school_marks_export(request, school_slug: str):
    """Every section's posted marks of `?period=` as CSV, streamed (school admins, counselors and
    district admins, who read the whole school)."""
    try:
        period = exports.period_from_query(request.school, request.GET.get("period"))
    except exports.PeriodChoiceError as error:
        return _bad_period(error)
    return exports.posted_marks_response(school=request.school, period=period)
