"""How a dashboard figure's cells read on the page (the CSV writes the raw values)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import template
from django.utils.formats import date_format

from mastery import calculation

register = template.Library()


@register.filter
def is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


@register.filter
def figure_value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, Decimal):
        return calculation.fmt(value)
    if isinstance(value, date):
        return date_format(value, "SHORT_DATE_FORMAT")
    return str(value)
