"""Input that the database can hold, refused before any query when it cannot.

Every id is a 64-bit signed integer (PostgreSQL's bigint, SQLite's INTEGER). SQLite, which the demo
runs on, raises OverflowError for a query parameter beyond that range, and a bigint column refuses
to store one: an id typed, posted or put in a query string is read here, and a number that no row
can carry is refused as the bad input it is (a form error, a 400 or a 404), never a 500. Dates are
bounded too: a day near the ends of Python's calendar (0001-01-01, 9999-12-31) overflows as soon
as a page adds a day to it or turns it into a moment of the school's time zone.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

ID_MIN = 1
ID_MAX = 2**63 - 1  # bigint / SQLite INTEGER
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ID_DIGITS = len(str(ID_MAX))

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)


def parse_id(value) -> int | None:
    """An id as a row can carry it (1 … 2**63 - 1), or None.

    Only ASCII digits: "²".isdigit() is true but int("²") raises, and a sign, a space or a string of
    thousands of digits (which int() refuses beyond 4300) is no id either.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if ID_MIN <= value <= ID_MAX else None
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        return None
    if len(value.lstrip("0")) > _ID_DIGITS:
        return None
    number = int(value)
    return number if ID_MIN <= number <= ID_MAX else None


def in_int64(number) -> bool:
    """Whether an integer (or a whole Decimal) fits a 64-bit signed column."""
    return INT64_MIN <= number <= INT64_MAX


class IdField(forms.IntegerField):
    """A form field for the id of a row: a whole number from 1 to 2**63 - 1."""

    default_error_messages = {"invalid": _("Choose one from the list.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        number = parse_id(value.strip() if isinstance(value, str) else value)
        if number is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """ModelMultipleChoiceField whose integer keys are checked before its `pk__in` query (an id
    beyond 64 bits there is an OverflowError on SQLite, not an invalid choice)."""

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        model_field = (
            self.queryset.model._meta.pk
            if key == "pk"
            else self.queryset.model._meta.get_field(key)
        )
        if isinstance(model_field, models.IntegerField):
            for pk in value:
                if parse_id(pk.strip() if isinstance(pk, str) else pk) is None:
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": pk},
                    )
        return super()._check_values(value)


class BoundedDateField(forms.DateField):
    """A date the pages can compute with: from 1900-01-01 to 9998-12-31, written YYYY-MM-DD."""

    input_formats = ["%Y-%m-%d"]
    default_error_messages = {
        "invalid": _("Enter the date as YYYY-MM-DD."),
        "out_of_range": _("Enter a date between %(low)s and %(high)s."),
    }

    def to_python(self, value):
        day = super().to_python(value)
        if day is not None and not DATE_MIN <= day <= DATE_MAX:
            raise ValidationError(
                self.error_messages["out_of_range"],
                code="out_of_range",
                params={"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
            )
        return day


def parse_day(value) -> date | None:
    """A YYYY-MM-DD date within the pages' bounds, or None (for a query string's optional day)."""
    try:
        return BoundedDateField(required=False).clean(value)
    except ValidationError:
        return None
