from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from gradebook.models import Student
from mastery.models import LearningTarget


class GoalForm(forms.Form):
    target = forms.ModelChoiceField(
        label=_("Learning target"),
        queryset=LearningTarget.objects.none(),
        empty_label=_("Choose a target"),  # Django's own label has no Spanish yet
    )
    note = forms.CharField(
        label=_("My goal"),
        max_length=300,
        widget=forms.TextInput(
            attrs={"placeholder": _("e.g. Redo the practice set and ask for a retake by Friday")}
        ),
    )

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = LearningTarget.objects.filter(
            pk__in=[t.pk for t in targets]
        ).order_by("code")
        self.fields["target"].label_from_instance = lambda t: f"{t.code} — {t.display_statement}"


class InvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Guardian's name"), max_length=200)
    email = forms.EmailField(label=_("Guardian's email"))
    language = forms.ChoiceField(
        label=_("Language for the invitation and reports"), choices=settings.LANGUAGES
    )
    relationship = forms.CharField(
        label=_("Relationship (optional)"), max_length=40, required=False
    )
    # Checkboxes, not a multi-select: a school has hundreds of students, and picking two in a
    # 300-name <select multiple> took Ctrl-click and scrolling. families.js adds a filter above
    # them; without JavaScript the list scrolls in its box.
    students = forms.ModelMultipleChoiceField(
        label=_("Children"),
        queryset=Student.objects.none(),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "child-picker__box"}),
    )

    def __init__(self, *args, school, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["students"].queryset = Student.objects.filter(
            school=school, is_active=True
        ).order_by("last_name", "first_name")
        self.fields["students"].label_from_instance = lambda s: f"{s.sortable_name} ({s.local_id})"


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Invitation code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "characters"}
        ),
    )


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=200)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    password1 = forms.CharField(
        label=_("Choose a password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        required=False,
    )
    password2 = forms.CharField(
        label=_("The same password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        required=False,
    )

    def __init__(self, *args, needs_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_password = needs_password
        if not needs_password:
            del self.fields["password1"]
            del self.fields["password2"]
        else:
            self.fields["password1"].required = self.fields["password2"].required = True

    def clean(self):
        data = super().clean()
        if self.needs_password:
            first, second = data.get("password1"), data.get("password2")
            if first and second and first != second:
                self.add_error("password2", _("The two passwords are not the same."))
            elif first:
                try:
                    password_validation.validate_password(first)
                except forms.ValidationError as exc:
                    self.add_error("password1", exc)
        return data


class BatchForm(forms.Form):
    scope = forms.ChoiceField(label=_("Reports for"))
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[
            ("family", _("Each family's language")),
            ("en", _("English")),
            ("es", _("Spanish")),
        ],
    )

    def __init__(self, *args, sections, grades, whole_school: bool, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(f"section:{s.id}", f"{s.course.name} · {s.name}") for s in sections]
        choices += [(f"grade:{g}", _("Grade %(grade)s") % {"grade": g}) for g in grades]
        if whole_school:
            choices.append(("school", _("The whole school")))
        self.fields["scope"].choices = choices


class ReportCardBatchForm(forms.Form):
    """A batch of report cards of record: whose, as of which grading period, in which language."""

    scope = forms.ChoiceField(label="Report cards for")
    period = forms.ChoiceField(
        label="As of the grading period",
        help_text="Students with marks posted in that period get a card.",
    )
    language = forms.ChoiceField(
        label="Language",
        choices=[
            ("family", "Each family's language"),
            ("en", "English"),
            ("es", "Spanish"),
        ],
    )

    def __init__(self, *args, sections, grades, periods, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(f"section:{s.id}", f"{s.course.name} · {s.name} ({s.term})") for s in sections]
        choices += [(f"grade:{g}", f"Grade {g}") for g in grades]
        choices.append(("school", "The whole school"))
        self.fields["scope"].choices = choices
        self.fields["period"].choices = [
            (str(p.id), f"{p.term} · {p.name} (ends {p.ends_on:%b %-d, %Y})") for p in periods
        ]
