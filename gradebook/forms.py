"""Forms validate input shape; the services validate meaning and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from gradebook.models import Assessment, AssessmentKind
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
