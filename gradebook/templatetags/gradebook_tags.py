"""Template filters of the gradebook's own pages (the core's shared ones are in mastery_tags)."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html

from gradebook.models import Evidence
from gradebook.selectors.common import evidence_display
from mastery import calculation
from mastery.templatetags.mastery_tags import level_css

register = template.Library()


@register.filter
def entry(evidence: Evidence | None) -> str:
    """What a scoring cell shows for a piece of evidence: 3, 2.5, M, EX, INC, IE."""
    return evidence_display(evidence)


@register.simple_tag
def rating_chip(score: Decimal, levels) -> str:
    """A student's rating of themselves as a chip in the colour of the level it bands into, as a
    computed score would (the highest level whose cut-off is at or below it): “3 Proficient”."""
    reached = None
    for level in sorted(levels or (), key=lambda lv: Decimal(lv.cutoff)):
        if Decimal(level.cutoff) <= score:
            reached = level
    label = getattr(reached, "display_label", getattr(reached, "label", "")) if reached else ""
    return format_html(
        '<span class="level {}"><span class="level__num">{}</span>'
        '<span class="level__label">{}</span></span>',
        level_css(reached.value if reached else None),
        calculation.fmt(score),
        label,
    )
