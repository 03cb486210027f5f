"""Helpers shared by the gradebook views: find a section the user may see (or score), or 404."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from gradebook.models import Section
from gradebook.permissions import (
    SCHOOL_WIDE,
    can_score_section,
    visible_sections,
    visible_students,
)


def section_for(request, section_id: int, *, scoring: bool = False) -> Section:
    """The section, if the user may see it (404 otherwise, also for other schools' sections).

    With scoring=True the user must also be allowed to score it (its teacher, or a school admin):
    a counselor who may read the grid gets 403 on the scoring pages.
    """
    section = (
        visible_sections(request.access, request.user)
        .select_related("course__department", "term")
        .filter(id=section_id)
        .first()
    )
    if section is None:
        raise Http404("No such section")
    # Without a school-wide role a user sees only the sections they teach (visible_sections), so
    # the lookup above already proved they may score it.
    own_only = not request.access.has(*SCHOOL_WIDE)
    if scoring and not own_only and not can_score_section(request.access, request.user, section):
        raise PermissionDenied("Only the section's teachers (or a school admin) can score it.")
    return section


def student_in_section(request, section: Section, student_id: int):
    student = (
        visible_students(request.access, request.user)
        .filter(id=student_id, enrollments__section=section)
        .first()
    )
    if student is None:
        raise Http404("No such student in this section")
    return student
