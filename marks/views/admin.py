"""The school admin's pages of the marks of record: the grading periods' posting windows and how
the course grade is shown, the posting progress of a period (who has posted, what is overridden),
and the comment bank.

Who: school admins only, as the other school set-up pages (years): teachers, counselors,
families, students and district admins without a membership get 403; another school's people and
objects 404 (the middleware, then every query scoped to request.school). Staff pages: English.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from gradebook.models import GradingPeriod
from marks import selectors
from marks.models import CommentBankEntry, CourseGradeForm, MarkSettings
from marks.services import (
    PLACEHOLDERS,
    PostingError,
    comment_entry_retire,
    comment_entry_save,
    grade_form_set,
    posting_window_set,
    school_today,
)
from mastery import calculation
from mastery.decorators import roles_required
from mastery.fields import BoundedDateField, parse_id
from mastery.forms import add_service_errors
from mastery.models import Department, LearningTarget, Role, School
from mastery.selectors import achievement_levels, allowed_scores

# The overridden marks listed on the progress page, newest first; the CSV of the period's posted
# marks has them all.
OVERRIDES_SHOWN = 300
STATES = {"not": "not posted", "partly": "partly posted", "posted": "posted"}
COUNT_OF_STATE = {"posted": "posted", "partly posted": "partly", "not posted": "unposted"}


def _day() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class WindowForm(forms.Form):
    opens_on = BoundedDateField(label="Posting opens on", required=False, widget=_day())
    closes_on = BoundedDateField(label="Posting closes on", required=False, widget=_day())

    def clean(self):
        data = super().clean()
        opens, closes = data.get("opens_on"), data.get("closes_on")
        if opens and closes and closes < opens:
            raise ValidationError("The window must close on or after the day it opens.")
        return data


class GradeFormForm(forms.Form):
    course_grade_form = forms.ChoiceField(
        label="Course grade shown as", choices=CourseGradeForm.choices
    )


class CommentEntryForm(forms.Form):
    """An entry of the bank. The department and level are picked from the school's; the target is
    typed by its code (a school has hundreds) and looked up in the school."""

    code = forms.CharField(
        label="Code",
        max_length=40,
        help_text="What teachers type in the posting grid to pick it, e.g. M3 (up to 12 letters, "
        "digits, dots, dashes or underscores).",
    )
    department = forms.TypedChoiceField(
        label="Department", required=False, coerce=int, empty_value=None
    )
    target = forms.CharField(
        label="Learning target code",
        required=False,
        max_length=40,
        help_text="Optional: offered with this target only.",
    )
    level = forms.TypedChoiceField(label="Level", required=False, coerce=Decimal, empty_value=None)

    def __init__(self, *args, school: School, **kwargs):
        super().__init__(*args, **kwargs)
        self.school = school
        self.fields["department"].choices = [("", "Any department")] + [
            (d.id, d.name) for d in Department.objects.filter(school=school).order_by("name")
        ]
        levels = allowed_scores(achievement_levels(school))
        self.fields["level"].choices = [("", "Any level")] + [
            (calculation.fmt(v), calculation.fmt(v)) for v in levels
        ]
        for code, name in settings.LANGUAGES:
            self.fields[f"text_{code}"] = forms.CharField(
                label=f"Text in {name}",
                required=False,
                widget=forms.Textarea(
                    attrs={"rows": 3, "lang": code, "aria-describedby": "placeholders-help"}
                ),
            )

    def clean_target(self) -> int | None:
        code = self.cleaned_data["target"].strip()
        if not code:
            return None
        found = (
            LearningTarget.objects.filter(school=self.school, code__iexact=code)
            .values_list("id", flat=True)
            .first()
        )
        if found is None:
            raise ValidationError(f"No learning target of this school has the code {code}.")
        return found

    def texts(self) -> dict[str, str]:
        return {code: self.cleaned_data[f"text_{code}"] for code, _ in settings.LANGUAGES}

    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("code", "department", "target", "level")]

    def text_fields(self) -> list[forms.BoundField]:
        return [self[f"text_{code}"] for code, _ in settings.LANGUAGES]


def _entry_initial(entry: CommentBankEntry) -> dict:
    initial = {
        "code": entry.code,
        "department": entry.department_id,
        "target": entry.target.code if entry.target else "",
        "level": calculation.fmt(entry.level) if entry.level is not None else "",
    }
    for code, _ in settings.LANGUAGES:
        initial[f"text_{code}"] = entry.texts.get(code, "")
    return initial


# --- Periods: posting windows and the course grade's form -------------------------------------------


@roles_required(Role.SCHOOL_ADMIN)
@require_http_methods(["GET", "POST"])
def periods_page(request, school_slug: str):
    """Every grading period with its posting window, one form each; the course grade's form."""
    school = request.school
    periods = list(
        GradingPeriod.objects.filter(school=school)
        .select_related("term")
        .order_by("-term__starts_on", "term__name", "starts_on")
    )
    found = MarkSettings.objects.filter(school=school).first()
    current_form = found.course_grade_form if found else CourseGradeForm.LETTER
    grade_form = GradeFormForm(initial={"course_grade_form": current_form})
    bound: dict[int, WindowForm] = {}
    status = 200
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "window":
        period_id = parse_id(request.POST.get("period", ""))
        period = next((p for p in periods if p.id == period_id), None)
        if period is None:
            raise Http404("No such grading period")
        form = WindowForm(request.POST, auto_id=f"w{period.id}-%s")
        if form.is_valid():
            opens, closes = form.cleaned_data["opens_on"], form.cleaned_data["closes_on"]
            if (opens, closes) == (period.posting_opens_on, period.posting_closes_on):
                messages.info(request, f"The posting window of {period} is unchanged.")
                return redirect("marks:periods", school_slug=school_slug)
            try:
                posting_window_set(
                    school=school, period=period, opens_on=opens, closes_on=closes, by=request.user
                )
            except PostingError as exc:
                form.add_error(None, list(exc.errors.values()))
            else:
                messages.success(request, f"Posting window of {period} saved.")
                return redirect("marks:periods", school_slug=school_slug)
        bound[period.id] = form
        status = 422
    elif request.method == "POST" and action == "grade_form":
        grade_form = GradeFormForm(request.POST)
        if grade_form.is_valid():
            try:
                saved = grade_form_set(
                    school=school,
                    form=grade_form.cleaned_data["course_grade_form"],
                    by=request.user,
                )
            except PostingError as exc:
                grade_form.add_error(None, list(exc.errors.values()))
            else:
                messages.success(request, f"The course grade of record is shown as {saved}.")
                return redirect("marks:periods", school_slug=school_slug)
        status = 422
    elif request.method == "POST":
        return render(
            request,
            "marks/admin_periods.html",
            _periods_context(school, periods, bound, grade_form)
            | {"problem": "Choose what to save."},
            status=400,
        )
    return render(
        request,
        "marks/admin_periods.html",
        _periods_context(school, periods, bound, grade_form),
        status=status,
    )


def _periods_context(
    school: School,
    periods: list[GradingPeriod],
    bound: dict[int, WindowForm],
    grade_form: GradeFormForm,
) -> dict:
    today = school_today(school)
    rows = []
    for period in periods:
        form = bound.get(period.id) or WindowForm(
            initial={"opens_on": period.posting_opens_on, "closes_on": period.posting_closes_on},
            auto_id=f"w{period.id}-%s",
        )
        rows.append({"period": period, "form": form, "open": period.posting_open_on(today)})
    return {"rows": rows, "grade_form": grade_form, "today": today}


# --- Progress: who has posted, what is overridden ------------------------------------------------


@roles_required(Role.SCHOOL_ADMIN)
def progress_page(request, school_slug: str):
    """A period's sections (posted, partly, not posted) and its overridden marks, in a constant
    number of queries whatever the school's size."""
    school = request.school
    periods = list(
        GradingPeriod.objects.filter(school=school)
        .select_related("term")
        .order_by("starts_on", "term__name", "name")
    )
    today = school_today(school)
    raw = request.GET.get("period", "").strip()
    if raw:
        period_id = parse_id(raw)
        period = next((p for p in periods if p.id == period_id), None)
        if period is None:
            raise Http404("No such grading period")
    else:
        period = selectors.open_period(periods, today)
    state = request.GET.get("state", "")
    if state not in STATES:
        state = ""
    rows: list[selectors.SectionProgress] = []
    counts = {"sections": 0, "posted": 0, "partly": 0, "unposted": 0}
    overrides: list = []
    more_overrides = False
    if period is not None:
        everything = selectors.period_progress(school=school, period=period)
        counts["sections"] = len(everything)
        for row in everything:
            counts[COUNT_OF_STATE[row.state]] += 1
        rows = [r for r in everything if not state or r.state == STATES[state]]
        overrides = list(
            selectors.overridden_marks(school=school, period=period)[: OVERRIDES_SHOWN + 1]
        )
        more_overrides = len(overrides) > OVERRIDES_SHOWN
        overrides = overrides[:OVERRIDES_SHOWN]
    return render(
        request,
        "marks/admin_progress.html",
        {
            "periods": periods,
            "period": period,
            "window_open": period.posting_open_on(today) if period else False,
            "rows": rows,
            "counts": counts,
            "state": state,
            "state_label": STATES.get(state, ""),
            "states": STATES,
            "overrides": overrides,
            "more_overrides": more_overrides,
            "overrides_shown": OVERRIDES_SHOWN,
        },
    )


# --- The comment bank --------------------------------------------------------------------------------


def _bank_context(school: School, form: CommentEntryForm, **extra) -> dict:
    entries = list(
        CommentBankEntry.objects.filter(school=school)
        .select_related("department", "target")
        .order_by("code")
    )
    return {
        "live": [e for e in entries if e.retired_at is None],
        "retired": [e for e in entries if e.retired_at is not None],
        "form": form,
        "languages": settings.LANGUAGES,
        "placeholders": ["{" + name + "}" for name in PLACEHOLDERS],
        **extra,
    }


def _save(request, form: CommentEntryForm, entry: CommentBankEntry | None) -> bool:
    """Save the entry through the service; False (errors on the form) when refused."""
    if not form.is_valid():
        return False
    data = form.cleaned_data
    try:
        saved = comment_entry_save(
            school=request.school,
            by=request.user,
            code=data["code"],
            texts=form.texts(),
            department_id=data["department"],
            target_id=data["target"],
            level=data["level"],
            entry=entry,
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return False
    messages.success(request, f"Comment {saved.code} saved.")
    return True


@roles_required(Role.SCHOOL_ADMIN)
@require_http_methods(["GET", "POST"])
def comments_page(request, school_slug: str):
    """The bank's entries, live and retired, and the form to add one."""
    school = request.school
    form = CommentEntryForm(school=school)
    if request.method == "POST":
        form = CommentEntryForm(request.POST, school=school)
        if _save(request, form, None):
            return redirect("marks:comments", school_slug=school_slug)
    status = 422 if form.is_bound else 200
    return render(request, "marks/admin_comments.html", _bank_context(school, form), status=status)


@roles_required(Role.SCHOOL_ADMIN)
@require_http_methods(["GET", "POST"])
def comment_edit(request, school_slug: str, comment_id: int):
    """Change an entry's code, narrowing or texts; retire it, or bring a retired one back."""
    school = request.school
    entry = (
        CommentBankEntry.objects.filter(school=school, pk=comment_id)
        .select_related("department", "target")
        .first()
    )
    if entry is None:
        raise Http404("No such comment bank entry")
    back = reverse("marks:comments", args=[school_slug])
    form = CommentEntryForm(initial=_entry_initial(entry), school=school)
    action = request.POST.get("action", "save")
    if request.method == "POST" and action in ("retire", "restore"):
        comment_entry_retire(
            school=school, entry=entry, by=request.user, retired=action == "retire"
        )
        done = "retired: teachers no longer pick it" if action == "retire" else "back in use"
        messages.success(request, f"Comment {entry.code} {done}.")
        return redirect(back)
    if request.method == "POST":
        form = CommentEntryForm(request.POST, school=school)
        if _save(request, form, entry):
            return redirect(back)
    return render(
        request,
        "marks/admin_comment_edit.html",
        {
            "entry": entry,
            "form": form,
            "placeholders": ["{" + name + "}" for name in PLACEHOLDERS],
        },
        status=422 if form.is_bound else 200,
    )
