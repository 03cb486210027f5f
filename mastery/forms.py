"""Forms of the core: learning targets, competencies, the grading policy, the audit filters."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from mastery import calculation
from mastery.fields import BoundedDateField, parse_id
from mastery.models import AuditEvent, Competency, GradingPolicy


class CompetencyForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Competency.Kind.choices)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


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

    def __init__(self, *args, competencies, levels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["competency"].queryset = competencies
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


COUNTED_KINDS = [(k, calculation.KIND_LABELS[k].capitalize()) for k in calculation.KINDS]


class PolicyForm(forms.Form):
    method = forms.ChoiceField(
        label=_("How evidence becomes a level"), choices=GradingPolicy.Method.choices
    )
    weight = forms.DecimalField(
        label=_("Weight on the newest score (%)"),
        min_value=Decimal("0.01"),
        max_value=100,
        decimal_places=2,
        help_text=_("Decaying and weighted average."),
    )
    n = forms.IntegerField(
        label=_("Times mastery must be shown"),
        min_value=1,
        max_value=20,
        help_text=_("Mastered n times."),
    )
    recent = forms.IntegerField(
        label=_("Only the last N scores"),
        min_value=1,
        max_value=50,
        required=False,
        help_text=_("Average, median, most frequent. Empty: all scores."),
    )
    power_law_at = forms.ChoiceField(
        label=_("Power law evaluated at"),
        choices=GradingPolicy._meta.get_field("power_law_at").choices,
    )
    mode_ties = forms.ChoiceField(
        label=_("Most frequent: ties go to"),
        choices=GradingPolicy._meta.get_field("mode_ties").choices,
    )
    counted_kinds = forms.MultipleChoiceField(
        label=_("Evidence that counts"), choices=COUNTED_KINDS, widget=forms.CheckboxSelectMultiple
    )
    min_evidence = forms.IntegerField(
        label=_("Scores needed before a level is given"), min_value=1, max_value=20
    )
    mastery_threshold = forms.DecimalField(label=_("Mastery at"), decimal_places=2, max_digits=4)
    missing_counts_as_minimum = forms.BooleanField(
        label=_("Count missing work as the lowest score"),
        required=False,
        help_text=_("Off: missing work is shown but never counted."),
    )
    course_grade_rule = forms.ChoiceField(
        label=_("Course grade"), choices=GradingPolicy.CourseGradeRule.choices
    )
    grade_bands = forms.CharField(
        label=_("Letters by average"),
        required=False,
        help_text=_("For the average rule, e.g. “A 3.0, B 2.5, C 2.0, D 1.5”."),
    )
    threshold_bands = forms.CharField(
        label=_("Letters by targets mastered"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One letter per line, e.g. “A: 90% at 3, 50% at 4, none below 2”."),
    )
    fallback_letter = forms.CharField(label=_("Letter when no rule is met"), max_length=4)
    note = forms.CharField(
        label=_("Why this change (kept with the version)"), max_length=300, required=False
    )

    def clean_grade_bands(self):
        text = self.cleaned_data.get("grade_bands", "").strip()
        if not text:
            return []
        bands = []
        for part in text.replace(";", ",").split(","):
            bits = part.split()
            if len(bits) != 2:
                raise forms.ValidationError(
                    _("Write each letter and its lowest average, e.g. “A 3.0, B 2.5”.")
                )
            try:
                bands.append({"letter": bits[0], "min_score": str(Decimal(bits[1]))})
            except ArithmeticError:
                raise forms.ValidationError(
                    _("“%(value)s” is not a number."), params={"value": bits[1]}
                ) from None
        return bands

    def clean_threshold_bands(self):
        import re

        text = self.cleaned_data.get("threshold_bands", "").strip()
        bands = []
        for line in filter(None, (raw.strip() for raw in text.splitlines())):
            letter, _, rule = line.partition(":")
            if not rule:
                raise forms.ValidationError(_("Write each line as “A: 90% at 3, none below 2”."))
            at_least = [
                [lvl, pct]
                for pct, lvl in re.findall(r"(\d+(?:\.\d+)?)%\s*at\s*(\d+(?:\.\d+)?)", rule)
            ]
            below = re.search(r"none\s+below\s+(\d+(?:\.\d+)?)", rule)
            if not at_least and not below:
                raise forms.ValidationError(
                    _("“%(line)s” has no rule I can read."), params={"line": line}
                )
            bands.append(
                {
                    "letter": letter.strip(),
                    "at_least": at_least,
                    "none_below": below[1] if below else None,
                }
            )
        return bands

    @staticmethod
    def initial_from(policy: GradingPolicy) -> dict:
        def fmt_threshold(b):
            parts = [
                f"{calculation.fmt(Decimal(p))}% at {calculation.fmt(Decimal(lv))}"
                for lv, p in b.get("at_least", [])
            ]
            if b.get("none_below") is not None:
                parts.append(f"none below {calculation.fmt(Decimal(b['none_below']))}")
            return f"{b['letter']}: " + ", ".join(parts)

        engine = calculation.Policy()
        grade_bands = policy.grade_bands or [
            {"letter": b.letter, "min_score": str(b.min_score)} for b in engine.grade_bands
        ]
        threshold_bands = policy.threshold_bands or [
            {
                "letter": b.letter,
                "at_least": [[str(lv), str(p)] for lv, p in b.at_least],
                "none_below": b.none_below,
            }
            for b in engine.threshold_bands
        ]
        return {
            "method": policy.method,
            "weight": policy.weight,
            "n": policy.n,
            "recent": policy.recent,
            "power_law_at": policy.power_law_at,
            "mode_ties": policy.mode_ties,
            "counted_kinds": policy.counted_kinds or list(calculation.KINDS),
            "min_evidence": policy.min_evidence,
            "mastery_threshold": policy.mastery_threshold,
            "missing_counts_as_minimum": policy.missing_counts_as_minimum,
            "course_grade_rule": policy.course_grade_rule,
            "grade_bands": ", ".join(
                f"{b['letter']} {calculation.fmt(Decimal(b['min_score']))}" for b in grade_bands
            ),
            "threshold_bands": "\n".join(fmt_threshold(b) for b in threshold_bands),
            "fallback_letter": policy.fallback_letter,
        }


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
