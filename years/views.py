"""The years pages (school admins): the school's years, adding one, the rollover (a preview of
its plan, then the run), a rollover's progress, and a closed year's students and sections."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from gradebook.models import SchoolYear
from mastery import audit
from mastery.decorators import roles_required
from mastery.fields import parse_id
from mastery.forms import add_service_errors
from mastery.models import Role
from years import selectors
from years.forms import RolloverForm, SchoolYearForm
from years.models import YearRollover
from years.services import (
    NextYear,
    PlanChanged,
    plan_fingerprint,
    rollover_enqueue,
    rollover_plan,
    rollover_start,
    school_year_add,
)

# A rollover still waiting this long was probably never queued (the broker was down): the page
# offers to queue it again (running it twice changes nothing).
REQUEUE_AFTER = timedelta(minutes=1)


def _initial(opened: list[SchoolYear]) -> dict:
    if not opened:
        return {"promote": True}
    closing = opened[0]
    # The next year as the roster import made it, if it did; else the closing one a year on.
    later = next((y for y in opened if y.starts_on > closing.ends_on), None)
    suggestion = (
        NextYear(later.name, later.starts_on, later.ends_on)
        if later is not None
        else selectors.next_year_suggestion(closing)
    )
    return {
        "year": closing.id,
        "name": suggestion.name,
        "starts_on": suggestion.starts_on,
        "ends_on": suggestion.ends_on,
        "promote": True,
    }


@roles_required(Role.SCHOOL_ADMIN)
@audit.acting_user
@require_http_methods(["GET", "POST"])
def years_page(request, school_slug: str):
    """The school's years; add one; preview a rollover's plan, then run it (with the plan's
    fingerprint: a plan that changed meanwhile is shown again, not run)."""
    school = request.school
    opened = selectors.open_years(school=school)
    add_form = SchoolYearForm(prefix="add")
    form = RolloverForm(years=opened, initial=_initial(opened))
    plan = None
    changed = ""
    status = 200
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "add":
        add_form = SchoolYearForm(request.POST, prefix="add")
        if add_form.is_valid():
            try:
                year = school_year_add(
                    school=school, added_by=request.user, **add_form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(add_form, exc)
            else:
                messages.success(request, _("School year %(name)s added.") % {"name": year.name})
                return redirect("years:home", school_slug=school_slug)
        status = 422
    elif request.method == "POST":
        form = RolloverForm(request.POST, years=opened)
        if form.is_valid():
            data = form.cleaned_data
            year = next(y for y in opened if y.id == data["year"])
            inputs = {
                "next_year": NextYear(data["name"], data["starts_on"], data["ends_on"]),
                "retained": data["retained"],
                "top_grade": data["top_grade"],
                "promote": data["promote"],
            }
            try:
                if action == "run":
                    rollover = rollover_start(
                        school=school,
                        year=year,
                        confirmed=request.POST.get("confirm_of", ""),
                        requested_by=request.user,
                        **inputs,
                    )
                    url = reverse("years:home", args=[school_slug])
                    return redirect(f"{url}?rollover={rollover.id}")
                plan = rollover_plan(school=school, year=year, **inputs)
            except PlanChanged as exc:
                plan, changed = exc.plan, exc.messages[0]
            except ValidationError as exc:
                add_service_errors(form, exc)
        if not form.is_valid():
            status = 422
    rollover = None
    if rollover_id := parse_id(request.GET.get("rollover", "")):
        rollover = YearRollover.objects.filter(school=school, id=rollover_id).first()
    context = {
        "rows": selectors.school_years(school=school),
        "form": form,
        "add_form": add_form,
        "can_roll_over": bool(opened),
        "plan": plan,
        "fingerprint": plan_fingerprint(plan) if plan else "",
        "notes": selectors.plan_notes(school=school, plan=plan) if plan else [],
        "changed": changed,
        "rollover": rollover,
        "requeue_after": REQUEUE_AFTER,
    }
    return render(request, "years/years.html", context, status=status)


@roles_required(Role.SCHOOL_ADMIN)
@require_http_methods(["GET", "POST"])
def rollover_status(request, school_slug: str, rollover_id: int):
    """One rollover's progress and summary (polled while it runs); POST queues a rollover again
    that has waited too long (its task was never delivered)."""
    rollover = (
        YearRollover.objects.filter(school=request.school, id=rollover_id)
        .select_related("year", "next_year", "requested_by")
        .first()
    )
    if rollover is None:
        raise Http404("No such rollover")
    if request.method == "POST":
        if rollover.status == YearRollover.Status.PLANNED:
            rollover_enqueue(school_id=request.school.id, rollover_id=rollover.id)
        if not request.htmx:
            url = reverse("years:home", args=[school_slug])
            return redirect(f"{url}?rollover={rollover.id}")
    return render(
        request,
        "years/_rollover.html",
        {"rollover": rollover, "stuck": _stuck(rollover)},
    )


def _stuck(rollover: YearRollover) -> bool:
    return (
        rollover.status == YearRollover.Status.PLANNED
        and timezone.now() - rollover.created_at > REQUEUE_AFTER
    )


@roles_required(Role.SCHOOL_ADMIN)
def year_detail(request, school_slug: str, year_id: int):
    """A school year: its students' year-end records (closed years), its sections (archived by
    the rollover, still readable), and its rollover."""
    school = request.school
    year = SchoolYear.objects.filter(school=school, id=year_id).first()
    if year is None:
        raise Http404("No such school year")
    rollover = (
        YearRollover.objects.filter(school=school, year=year, status=YearRollover.Status.DONE)
        .select_related("requested_by", "next_year")
        .first()
    )
    return render(
        request,
        "years/year.html",
        {
            "year": year,
            "rollover": rollover,
            "students": selectors.year_students(school=school, year=year),
            "sections": selectors.year_sections(school=school, year=year),
        },
    )
