"""Forms validate input shape; the services validate meaning and write."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from gradebook.models import Assessment, AssessmentKind
from gradebook.services.feedback import MAX_INTERVAL_DAYS, MIN_INTERVAL_DAYS
from mastery import calculation
from mastery.fields import BoundedDateField, IdField
from mastery.models import LearningTarget


class AssessmentForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=AssessmentKind.choices, initial=AssessmentKind.FORMATIVE
    )
    assessed_on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    scope = forms.ChoiceField(
        label=_("Given to"),
        choices=[
            ("course", _("Every section of the course (common assessment)")),
            ("section", _("This section only")),
        ],
        widget=forms.RadioSelect,
        initial="course",
    )
    targets = forms.ModelMultipleChoiceField(
        label=_("Learning targets it assesses"),
        queryset=LearningTarget.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    tier = forms.CharField(
        label=_("Tier (optional)"),
        max_length=40,
        required=False,
        help_text=_("For tiered versions, e.g. “Tier 2”."),
    )
    original = forms.ModelChoiceField(
        label=_("Retakes (for a reassessment)"), queryset=Assessment.objects.none(), required=False
    )
    description = forms.CharField(
        label=_("Notes (optional)"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def __init__(self, *args, targets, assessments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["targets"].queryset = targets
        self.fields["targets"].label_from_instance = lambda t: f"{t.code} — {t.statement}"
        self.fields["original"].queryset = assessments
        self.fields["original"].label_from_instance = lambda a: (
            f"{a.title} ({a.assessed_on:%b %-d})"
        )


class GridQueryForm(forms.Form):
    """The section grid's query string: how to sort, which rows to show, at which level."""

    SORTS = ("name", "grade", "target")
    SHOWS = ("all", "below", "level")

    sort = forms.ChoiceField(choices=[(s, s) for s in SORTS], required=False)
    show = forms.ChoiceField(choices=[(s, s) for s in SHOWS], required=False)
    target = IdField(required=False)
    level = forms.CharField(required=False)

    def __init__(self, *args, levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.levels = [lv.value for lv in levels]

    def clean_level(self) -> Decimal | None:
        """One of the scale's level values ("3", "2.5", "3.0"), else an error naming them."""
        raw = self.cleaned_data["level"].strip()
        if not raw:
            return None
        try:
            number = Decimal(raw)
        except ArithmeticError:
            number = None
        # sNaN and NaN compare with nothing (sNaN raises); only a finite number can be a level.
        if number is not None and number.is_finite():
            for value in self.levels:
                if value == number:
                    return value
        raise forms.ValidationError(
            _("Choose a level of the scale: %(levels)s."),
            params={"levels": ", ".join(calculation.fmt(v) for v in self.levels)},
            code="invalid_choice",
        )


class ReassessForm(forms.Form):
    """The shape of a reassessment from the cell dialog; reassessment_record checks the meaning
    (the score against the scale, the date against the term, the assessment's course)."""

    value = forms.CharField(required=False, strip=False)
    assessed_on = BoundedDateField(error_messages={"required": _("Enter the date as YYYY-MM-DD.")})
    assessment = IdField(required=False)
    feedback = forms.CharField(required=False, strip=False, max_length=4000)
    title = forms.CharField(required=False, max_length=200)


class VoidForm(forms.Form):
    """The shape of a void's reason (no NUL, which PostgreSQL refuses); evidence_void says
    whether it is a reason."""

    reason = forms.CharField(required=False, strip=False)


OUT_OF_RANGE = format_lazy(
    _("Enter a whole number of days from {low} to {high}. Nothing was changed."),
    low=MIN_INTERVAL_DAYS,
    high=MAX_INTERVAL_DAYS,
)


class FeedbackIntervalForm(forms.Form):
    """Only validates: the service writes (and checks the range again)."""

    days = forms.IntegerField(
        label=_("Feedback interval (days)"),
        min_value=MIN_INTERVAL_DAYS,
        max_value=MAX_INTERVAL_DAYS,
        help_text=_(
            "Every student should receive feedback (a comment, or a score with feedback) at "
            "least this often. 14: every other week."
        ),
        error_messages={
            "required": OUT_OF_RANGE,
            "invalid": OUT_OF_RANGE,
            "min_value": OUT_OF_RANGE,
            "max_value": OUT_OF_RANGE,
        },
    )
