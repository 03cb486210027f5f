"""Forms of the core: learning targets, competencies, the audit filters, API tokens."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mastery import calculation
from mastery.fields import BoundedDateField, parse_id
from mastery.models import AuditEvent, Competency


class CompetencyForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Competency.Kind.choices)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class StandardsField(forms.MultipleChoiceField):
    """CASE identifiers of framework items, ticked among those listed. Which identifiers exist
    and may be used is the service's question (`target_align`), so any value passes here."""

    def valid_value(self, value) -> bool:
        return True


class TargetForm(forms.Form):
    competency = forms.ModelChoiceField(label=_("Competency"), queryset=Competency.objects.none())
    code = forms.CharField(
        label=_("Code"), max_length=40, help_text=_("Short and unique, e.g. ALG.F1")
    )
    statement = forms.CharField(
        label=_("Learning target"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Student-facing: “I can …”"),
    )
    standard_code = forms.CharField(
        label=_("Standard code (optional)"), max_length=80, required=False
    )
    dok_level = forms.TypedChoiceField(
        label=_("Depth of Knowledge"),
        choices=[("", "—"), (1, "1"), (2, "2"), (3, "3"), (4, "4")],
        coerce=int,
        empty_value=None,
        required=False,
    )
    d4 = forms.CharField(
        label=_("Level 4 (Advanced): I can …"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    d3 = forms.CharField(
        label=_("Level 3 (Proficient): I can …"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    d2 = forms.CharField(
        label=_("Level 2 (Developing): I can …"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    d1 = forms.CharField(
        label=_("Level 1 (Beginning): I can …"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )

    case_items = StandardsField(
        label=_("Aligned standards"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Tick the standards this target teaches (search above, or browse the frameworks "
            "below); untick one to remove it. The target keeps its own statement and descriptors."
        ),
    )

    def __init__(self, *args, competencies, levels=(), standards=None, **kwargs):
        """`standards`: (identifier, label) of the items to offer; None: the school has no
        framework, so the form has no standards field and saving leaves alignments alone."""
        super().__init__(*args, **kwargs)
        self.fields["competency"].queryset = competencies
        if standards is None:
            del self.fields["case_items"]
        else:
            self.fields["case_items"].choices = standards
        for level in levels:
            name = f"d{calculation.fmt(level.value)}"
            if name in self.fields:
                self.fields[
                    name
                ].label = f"Level {calculation.fmt(level.value)} ({level.label}): I can …"


class TargetImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("At most 2 MB."))
    dry_run = forms.BooleanField(label=_("Only check the file; import nothing"), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        return upload


def add_service_errors(form: forms.Form, exc) -> None:
    """Show a service's ValidationError on the form: on the field it names, else above the form."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


class AuditFilterForm(forms.Form):
    """The audit trail's filters: what, who (a staff member's id, or "system"), from and to."""

    type = forms.ChoiceField(
        choices=[("", "")] + list(AuditEvent.ObjectType.choices), required=False
    )
    actor = forms.CharField(required=False)
    since = BoundedDateField(required=False)
    until = BoundedDateField(required=False)

    def clean_actor(self) -> str | int:
        raw = self.cleaned_data["actor"].strip()
        if raw in ("", "system"):
            return raw
        actor = parse_id(raw)
        if actor is None:
            raise forms.ValidationError(_("Choose a person from the list."), code="invalid")
        return actor


class ApiTokenForm(forms.Form):
    """The shape of a new token's name (no NUL); api_token_create says whether it is a name."""

    name = forms.CharField(required=False)
