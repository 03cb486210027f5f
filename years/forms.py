"""The years page's forms: add a school year, and close one and open the next (the rollover)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from gradebook.models import SchoolYear
from mastery.fields import BoundedDateField
from years.services import TOP_GRADE, student_numbers


def _day() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SchoolYearForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=40, help_text=_("e.g. 2026-2027"))
    starts_on = BoundedDateField(label=_("First day"), widget=_day())
    ends_on = BoundedDateField(label=_("Last day"), widget=_day())


class RolloverForm(forms.Form):
    year = forms.TypedChoiceField(label=_("Year to close"), coerce=int)
    name = forms.CharField(label=_("Next year's name"), max_length=40)
    starts_on = BoundedDateField(label=_("Next year's first day"), widget=_day())
    ends_on = BoundedDateField(label=_("Next year's last day"), widget=_day())
    promote = forms.BooleanField(
        label=_("Promote students a grade"),
        required=False,
        help_text=_(
            "Untick when next year's roster was imported from the SIS first: its grade levels "
            "are next year's already."
        ),
    )
    top_grade = forms.IntegerField(
        label=_("Top grade"),
        min_value=0,
        max_value=13,
        initial=TOP_GRADE,
        help_text=_("Students in it graduate (their grade level is kept)."),
    )
    retained = forms.CharField(
        label=_("Students retained (student numbers, one per line)"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("They keep their grade level."),
    )

    def __init__(self, *args, years: list[SchoolYear], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [(y.id, y.name) for y in years]

    def clean_retained(self) -> list[str]:
        return student_numbers(self.cleaned_data.get("retained", ""))
