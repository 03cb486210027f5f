"""Template helpers for levels and scores: a number, a label and a colour, never colour alone."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html

from mastery import calculation

register = template.Library()


@register.filter
def fmt(value) -> str:
    """3, 2.5, 2.65 — never 3.00."""
    if value is None or value == "":
        return ""
    return calculation.fmt(value)


def level_css(value) -> str:
    if value is None:
        return "level--none"
    return "level--" + calculation.fmt(value).replace(".", "_")


@register.filter
def level_class(value) -> str:
    return level_css(value)


def _label_for(value, levels) -> str:
    for level in levels or ():
        if Decimal(level.value) == Decimal(value):
            return level.label
    return ""


@register.simple_tag
def level_chip(record, levels, empty_text="No evidence yet"):
    """A Mastery record (or None) as a chip: “3 Proficient”, or the insufficient-evidence marker."""
    if record is None:
        return format_html('<span class="level level--none">{}</span>', empty_text)
    if record.level is None:
        return format_html(
            '<span class="level level--none" title="{}">Insufficient evidence</span>',
            record.explanation,
        )
    return format_html(
        '<span class="level {}" title="{}"><span class="level__num">{}</span>'
        '<span class="level__label">{}</span></span>',
        level_css(record.level),
        record.explanation,
        calculation.fmt(record.score),
        _label_for(record.level, levels),
    )


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template, or None."""
    if mapping is None:
        return None
    return mapping.get(key)
