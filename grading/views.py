"""The grading policy pages: the rule in words, its versions, a preview before saving, the recompute."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gradebook.models import Course, ReassessmentRule, RecomputeRun
from grading.forms import PolicyForm, RulesForm
from grading.preview import policy_preview
from grading.rules import course_rules, rules_for, rules_statement, school_rules
from grading.services import (
    RULE_FIELDS,
    course_rules_remove,
    policy_candidate,
    policy_change,
    policy_remove_override,
    rules_save,
)
from mastery import calculation
from mastery.decorators import roles_required
from mastery.fields import parse_id
from mastery.forms import add_service_errors
from mastery.models import GradingPolicy, Role
from mastery.selectors import achievement_levels

POLICY_READERS = (Role.SCHOOL_ADMIN, Role.TEACHER, Role.COUNSELOR, "district_admin")


# Fields that matter to one choice only, hidden by policy.js for the others (all shown without JS).
# The power law falls back to the decaying average below three scores, so it uses the weight too.
POLICY_FIELDS_SHOWN_WHEN = {
    "weight": ("method", "decaying_average weighted_average power_law"),
    "n": ("method", "n_times"),
    "recent": ("method", "mean mode median"),
    "power_law_at": ("method", "power_law"),
    "mode_ties": ("method", "mode"),
    "grade_bands": ("course_grade_rule", "mean_band"),
    "threshold_bands": ("course_grade_rule", "threshold_count"),
}


def _policy_fingerprint(candidate: GradingPolicy, changes: dict) -> str:
    """What a confirmation confirms: these settings as the next version of this policy."""
    text = repr((candidate.course_id, candidate.version, sorted(changes.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@roles_required(*POLICY_READERS)
def policy_page(request, school_slug: str, course_id: int | None = None):
    """The school's grading policy (or a course's override): the rule in words, preview, save."""
    school = request.school
    course = None
    if course_id is not None:
        course = Course.objects.filter(school=school, id=course_id).first()
        if course is None:
            raise Http404("No such course")
    own = GradingPolicy.objects.filter(school=school, course=course, is_current=True).first()
    default = GradingPolicy.objects.get(school=school, course__isnull=True, is_current=True)
    shown = own or default
    can_edit = request.access.has(Role.SCHOOL_ADMIN)
    levels = achievement_levels(school)
    form = PolicyForm(request.POST or None, initial=PolicyForm.initial_from(shown))
    preview = candidate = confirm = None
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only school admins change the grading policy.")
        action = request.POST.get("action")
        if action == "remove" and own is not None and course is not None:
            run = policy_remove_override(school=school, course=course, changed_by=request.user)
            messages.success(
                request,
                f"{course.name} now follows the school policy. Levels are being recomputed.",
            )
            return redirect(
                f"{reverse('policy_course', args=[school_slug, course.id])}?run={run.id}"
            )
        saving = action in ("save", "confirm")
        if form.is_valid() and saving and not form.cleaned_data["note"].strip():
            # A change of everyone's levels says why: the reason is kept with the version.
            form.add_error("note", _("Say why the policy changes: it is kept with the version."))
        if form.is_valid():
            changes = {k: v for k, v in form.cleaned_data.items() if k != "note"}
            try:
                candidate = policy_candidate(
                    school=school, changed_by=request.user, course=course, **changes
                )
                fingerprint = _policy_fingerprint(candidate, changes)
                if action == "confirm" and request.POST.get("confirm_of") == fingerprint:
                    new = policy_change(
                        school=school,
                        changed_by=request.user,
                        course=course,
                        note=form.cleaned_data["note"],
                        **changes,
                    )
                    messages.success(
                        request, f"Saved as version {new.version}. Levels are being recomputed."
                    )
                    run = RecomputeRun.objects.filter(school=school, policy=new).first()
                    target = (
                        reverse("policy_course", args=[school_slug, course.id])
                        if course
                        else reverse("policy", args=[school_slug])
                    )
                    return redirect(f"{target}?run={run.id}" if run else target)
                preview = policy_preview(school=school, candidate=candidate)
                if saving:
                    # Saving asks once more, with the preview's numbers for exactly these settings
                    # (changed settings, or a version saved meanwhile, ask again).
                    confirm = {"fingerprint": fingerprint, "again": action == "confirm"}
            except ValidationError as exc:
                add_service_errors(form, exc)
        if not form.is_valid():
            status = 422
    run = None
    if run_id := parse_id(request.GET.get("run", "")):
        run = RecomputeRun.objects.filter(school=school, id=run_id).first()
    versions = (
        GradingPolicy.objects.filter(school=school, course=course)
        .select_related("created_by")
        .order_by("-version")[:12]
    )
    overrides = GradingPolicy.objects.filter(
        school=school, course__isnull=False, is_current=True
    ).select_related("course")
    context = {
        "course": course,
        "own": own,
        "shown": shown,
        "form": form,
        "can_edit": can_edit,
        "words": calculation.describe_policy(shown.to_engine(levels)),
        "candidate_words": calculation.describe_policy(candidate.to_engine(levels))
        if candidate
        else None,
        "preview": preview,
        "confirm": confirm,
        "shows_when": POLICY_FIELDS_SHOWN_WHEN,
        "versions": versions,
        "overrides": overrides,
        "courses": Course.objects.filter(school=school).order_by("code"),
        "run": run,
        "rules_words": rules_statement(rules_for(school, course.id if course else None), shown),
    }
    return render(request, "grading/policy.html", context, status=status)


@roles_required(*POLICY_READERS)
def policy_run(request, school_slug: str, run_id: int):
    """The progress of one recompute (polled by the policy page while it runs)."""
    run = RecomputeRun.objects.filter(school=request.school, id=run_id).first()
    if run is None:
        raise Http404("No such recompute")
    return render(request, "grading/_policy_run.html", {"run": run})


@roles_required(*POLICY_READERS)
def rules_page(request, school_slug: str, course_id: int | None = None):
    """The reassessment rules of the school (or a course's own): in words, and the form."""
    school = request.school
    course = None
    if course_id is not None:
        course = Course.objects.filter(school=school, id=course_id).first()
        if course is None:
            raise Http404("No such course")
    own = ReassessmentRule.objects.filter(school=school, course=course).first()
    shown = own or school_rules(school)
    can_edit = request.access.has(Role.SCHOOL_ADMIN)
    here = (
        reverse("rules_course", args=[school_slug, course.id])
        if course
        else reverse("rules", args=[school_slug])
    )
    form = RulesForm(
        request.POST or None,
        instance=ReassessmentRule(**{name: getattr(shown, name) for name in RULE_FIELDS}),
    )
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only school admins change the reassessment rules.")
        if request.POST.get("action") == "remove" and course is not None:
            course_rules_remove(school=school, course=course, removed_by=request.user)
            messages.success(
                request, _("%(course)s follows the school's rules again.") % {"course": course.name}
            )
            return redirect(here)
        if form.is_valid():
            try:
                rules_save(
                    school=school,
                    values={name: form.cleaned_data[name] for name in RULE_FIELDS},
                    saved_by=request.user,
                    course=course,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("The reassessment rules are saved."))
                return redirect(here)
        status = 422
    policy = GradingPolicy.objects.filter(
        school=school, course=course, is_current=True
    ).first() or GradingPolicy.objects.get(school=school, course__isnull=True, is_current=True)
    context = {
        "course": course,
        "own": own,
        "form": form,
        "can_edit": can_edit,
        "words": rules_statement(shown, policy),
        "overrides": course_rules(school),
        "courses": Course.objects.filter(school=school).order_by("code"),
    }
    return render(request, "grading/rules.html", context, status=status)
