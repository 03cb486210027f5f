"""Template filters of the gradebook's own pages (the core's shared ones are in mastery_tags)."""

from __future__ import annotations

from django import template

from gradebook.models import Evidence
from gradebook.selectors.common import evidence_display

register = template.Library()


@register.filter
def entry(evidence: Evidence | None) -> str:
    """What a scoring cell shows for a piece of evidence: 3, 2.5, M, EX, INC, IE."""
    return evidence_display(evidence)
