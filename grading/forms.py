"""The grading policy's form: every setting a school admin may choose, with its words."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from gradebook.models import ReassessmentRule
from mastery import calculation
from mastery.models import GradingPolicy

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
    carry_prior_years = forms.BooleanField(
        label=_("Keep evidence from earlier school years"),
        required=False,
        help_text=_(
            "Off: each school year's levels start from that year's evidence; earlier years stay "
            "readable, and teachers see last year's level as context. On: a target taught again "
            "keeps counting the evidence of earlier years."
        ),
    )
    count_self_assessment = forms.BooleanField(
        label=_("Count students' self-assessments"),
        required=False,
        help_text=_(
            "Off: a student's rating of themselves is shown beside the teacher's scores, and "
            "never counted. On: only the student's latest rating on a target counts, as one "
            "score, on the day it was made, under the method above."
        ),
    )
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
            "carry_prior_years": policy.carry_prior_years,
            "count_self_assessment": policy.count_self_assessment,
        }


class RulesForm(forms.ModelForm):
    """The reassessment rules an admin sets (grading.services.rules_save writes them)."""

    class Meta:
        model = ReassessmentRule
        fields = [
            "students_may_request",
            "families_may_request",
            "teachers_may_request",
            "requires_practice",
            "max_per_period",
            "min_days_after",
            "closes_days_before_end",
            "expires_after_days",
            "note",
        ]
        labels = {
            "students_may_request": _("Students may ask"),
            "families_may_request": _("Families may ask"),
            "teachers_may_request": _("Teachers may note a request for a student"),
            "requires_practice": _("Practice first (a practice score or an intervention session)"),
            "max_per_period": _("Reassessments per target per grading period"),
            "min_days_after": _("Days to wait after the attempt"),
            "closes_days_before_end": _("Requests close this many days before the period ends"),
            "expires_after_days": _("A scheduled reassessment expires after (days)"),
            "note": _("Anything else students and families should know"),
        }
        help_texts = {
            "teachers_may_request": "",
            "requires_practice": _(
                "Since the attempt being retaken: a formative score on the target, or an "
                "intervention session on it attended."
            ),
            "max_per_period": _("Empty: no limit."),
            "min_days_after": "",
            "closes_days_before_end": _("0: open until the period's last day."),
            "expires_after_days": "",
            "note": _("Shown with the rules on the portal and the report."),
        }
