"""CSV downloads: a section's gradebook and reassessment requests, and a school's mastery records
and requests (streamed)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from gradebook import exports
from gradebook.permissions import SCHOOL_WIDE
from gradebook.views.common import section_for
from mastery.decorators import roles_required


@never_cache
@require_safe
def section_export(request, school_slug: str, section_id: int):
    """The section grid as CSV, for whoever may see the grid (404 otherwise, as the grid does)."""
    section = section_for(request, section_id)
    return exports.section_response(school=request.school, section=section)


@never_cache
@require_safe
@roles_required(*SCHOOL_WIDE)
def mastery_export(request, school_slug: str):
    """Every Mastery record of the school (filtered by the query string), streamed as CSV."""
    try:
        filters = exports.parse_mastery_filters(request.GET, school=request.school)
    except exports.ExportFilterError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    return exports.mastery_response(school=request.school, filters=filters)


@never_cache
@require_safe
def section_requests_export(request, school_slug: str, section_id: int):
    """The section's reassessment requests (every status) as CSV, for whoever may see the grid
    (404 otherwise, as the grid does)."""
    section = section_for(request, section_id)
    return exports.requests_response(school=request.school, section=section)


@never_cache
@require_safe
@roles_required(*SCHOOL_WIDE)
def requests_export(request, school_slug: str):
    """Every reassessment request of the school, with its course and section, streamed as CSV."""
    return exports.requests_response(school=request.school)
