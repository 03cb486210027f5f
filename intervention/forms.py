from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from intervention.models import WEEKDAYS, InterventionSettings
from mastery.fields import BoundedDateField, BoundedModelMultipleChoiceField
from mastery.models import Department, User


class SettingsForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Intervention days"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    focus = BoundedModelMultipleChoiceField(
        label=_("Focus subjects (their targets feed the rosters)"),
        queryset=Department.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = InterventionSettings
        fields = ["cycle_weeks", "weekdays", "group_capacity", "enrichment_capacity"]
        labels = {
            "cycle_weeks": _("Weeks per cycle"),
            "group_capacity": _("Students per re-teaching group"),
            "enrichment_capacity": _("Students per enrichment group"),
        }

    def __init__(self, *args, departments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["focus"].queryset = departments
        self.fields["focus"].initial = [d.pk for d in departments if d.intervention_focus]
        self.initial.setdefault("weekdays", self.instance.weekdays)


class SlotForm(forms.Form):
    teacher = forms.ModelChoiceField(label=_("Teacher"), queryset=None)
    weekday = forms.ChoiceField(label=_("Day"), choices=WEEKDAYS, initial=2)
    room = forms.CharField(label=_("Room"), max_length=40, required=False)
    capacity = forms.IntegerField(
        label=_("Capacity (optional)"), min_value=1, max_value=60, required=False
    )

    def __init__(self, *args, teachers, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["teacher"].queryset = User.objects.filter(
            pk__in=[t.pk for t in teachers]
        ).order_by("full_name")


class CycleOpenForm(forms.Form):
    starts_on = BoundedDateField(required=False)
