"""The section gradebook grid: students × learning targets, sortable and filterable."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.shortcuts import render

from gradebook import selectors
from gradebook.views.common import section_for

SORTS = {"name", "grade", "target"}
SHOWS = {"all", "below", "level"}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def section_grid(request, school_slug: str, section_id: int):
    section = section_for(request, section_id)
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else "name"
    show = request.GET.get("show") if request.GET.get("show") in SHOWS else "all"
    try:
        level = Decimal(request.GET["level"]) if request.GET.get("level") else None
    except InvalidOperation:
        level = None
    grid = selectors.section_grid(
        school=request.school,
        section=section,
        sort=sort,
        focus_id=_int(request.GET.get("target")),
        show=show,
        level=level,
    )
    template = "gradebook/grid.html"
    if request.htmx and request.htmx.target == "grid":
        template += "#grid"
    return render(request, template, {"section": section, "grid": grid})
