"""The section gradebook grid: students × learning targets, sortable and filterable."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render

from gradebook.forms import GridQueryForm
from gradebook.selectors import grid as grid_reads
from gradebook.views.common import section_for
from mastery.selectors import achievement_levels


def section_grid(request, school_slug: str, section_id: int):
    section = section_for(request, section_id)
    query = GridQueryForm(request.GET, levels=achievement_levels(request.school))
    status = 200
    if query.is_valid():
        chosen = query.cleaned_data
    else:
        # A query the page's own controls never send (a level off the scale, "sNaN", an id no
        # row can have): the grid as it opens, and what was wrong, with a 400.
        for field, errors in query.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        chosen, status = {}, 400
    grid = grid_reads.section_grid(
        school=request.school,
        section=section,
        sort=chosen.get("sort") or "name",
        focus_id=chosen.get("target"),
        show=chosen.get("show") or "all",
        level=chosen.get("level"),
    )
    template = "gradebook/grid.html"
    if request.htmx and request.htmx.target == "grid":
        template += "#grid"
    return render(request, template, {"section": section, "grid": grid}, status=status)
