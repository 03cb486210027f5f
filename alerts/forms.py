"""The alert settings form: a frequency for each kind the person can hear about, scores and
comments in the mail or not, quiet hours."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from alerts.models import AlertSettings, Frequency
from alerts.preferences import Choices
from mastery.models import AlertEvent

LABELS = {
    AlertEvent.Kind.SCORE: _("A new score"),
    AlertEvent.Kind.BELOW: _("A learning target below proficient after a new score"),
    AlertEvent.Kind.MISSING: _("Work marked missing or incomplete"),
    AlertEvent.Kind.FEEDBACK: _("A teacher's comment"),
    AlertEvent.Kind.OPPORTUNITY: _("A reassessment a teacher offers"),
    AlertEvent.Kind.REQUEST_ANSWERED: _("An answer to a reassessment request"),
    AlertEvent.Kind.PLACEMENT: _("An intervention placement and its days"),
    AlertEvent.Kind.REPORT_CARD: _("A report card ready"),
    AlertEvent.Kind.REQUEST_RECEIVED: _("A reassessment request to answer"),
    AlertEvent.Kind.BATCH_DONE: _("A batch of reports finished"),
    AlertEvent.Kind.DEADLINE: _("Marks to post before a posting deadline"),
}


class AlertSettingsForm(forms.Form):
    details = forms.BooleanField(
        label=AlertSettings._meta.get_field("details").verbose_name,
        help_text=AlertSettings._meta.get_field("details").help_text,
        required=False,
    )
    quiet_from = forms.TimeField(
        label=_("Quiet hours from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_until = forms.TimeField(
        label=_("Quiet hours until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Mail that would arrive in these hours waits until they end."),
    )

    def __init__(self, *args, kinds: tuple[str, ...], choices: Choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        for kind in reversed(kinds):
            field = forms.ChoiceField(
                label=LABELS[kind], choices=Frequency.choices, initial=choices.frequency(kind)
            )
            self.fields = {f"kind_{kind}": field, **self.fields}
        self.initial.setdefault("details", choices.details)
        self.initial.setdefault("quiet_from", choices.quiet_from)
        self.initial.setdefault("quiet_until", choices.quiet_until)

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_from"), data.get("quiet_until")
        if (start is None) != (end is None):
            raise forms.ValidationError(_("Give both ends of the quiet hours, or neither."))
        if start is not None and start == end:
            raise forms.ValidationError(_("The quiet hours start and end at the same time."))
        return data

    def frequencies(self) -> dict[str, str]:
        return {kind: self.cleaned_data[f"kind_{kind}"] for kind in self.kinds}
