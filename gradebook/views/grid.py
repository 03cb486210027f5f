"""The section gradebook grid: students × learning targets, sortable and filterable."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render

from gradebook.forms import GridQueryForm
from gradebook.permissions import SCHOOL_WIDE, can_score_section
from gradebook.selectors import grid as grid_reads
from gradebook.selectors.feedback import section_feedback_owed
from gradebook.views.common import section_for
from mastery.models import Role
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
    context = {"section": section, "grid": grid}
    if request.htmx and request.htmx.target == "grid":
        template += "#grid"
    else:
        # The whole page (not the filtered grid alone): who has had no feedback lately (2 queries).
        cadence = section_feedback_owed(school=request.school, section=section)
        context["feedback_owed"] = [(section, cadence)] if cadence and cadence.owed else []
        context["can_give_feedback"] = _gives_feedback(request, section)
    return render(request, template, context, status=status)


def _gives_feedback(request, section) -> bool:
    """Whether the user writes comments in this section (its scoring pages): a school admin, or
    its teacher. A teacher without a school-wide role sees only the sections they teach, so no
    query is needed for them."""
    access = request.access
    if access.has(Role.SCHOOL_ADMIN):
        return True
    if not access.has(Role.TEACHER):
        return False
    if not access.has(*SCHOOL_WIDE):
        return True
    return can_score_section(access, request.user, section)
