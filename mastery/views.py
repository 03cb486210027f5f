"""Pages outside and at the top of a school: home, the school's landing page, health check."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_scopes import scopes_disabled

from gradebook import selectors as gradebook_selectors
from gradebook.models import Course, Guardianship, RecomputeRun, Student
from gradebook.recompute import policy_preview
from intervention.selectors import teacher_groups_this_week
from mastery import calculation
from mastery.decorators import roles_required
from mastery.fields import parse_id
from mastery.forms import ApiTokenForm, AuditFilterForm, PolicyForm, add_service_errors
from mastery.models import (
    STAFF_ROLES,
    AuditEvent,
    District,
    GradingPolicy,
    LearningTarget,
    Role,
    User,
)
from mastery.selectors import achievement_levels
from mastery.services import policy_candidate, policy_change, policy_remove_override
from mastery.tenancy import API_ROLES, DISTRICT_ADMIN, schools_for_user


@login_required
def home(request):
    """The user's schools; with exactly one, straight into it."""
    schools = schools_for_user(request.user)
    roles = {role for _, school_roles in schools for role in school_roles}
    if roles == {Role.GUARDIAN}:
        return redirect("family_home")  # families go straight to their children, across schools
    if roles == {Role.STUDENT} and len(schools) == 1:
        return redirect("reports:me", school_slug=schools[0][0].slug)
    districts = list(District.objects.filter(memberships__user=request.user).order_by("name"))
    if len(districts) == 1 and roles <= {DISTRICT_ADMIN}:
        # A district admin and nothing else: their work is the district's dashboard.
        return redirect("district_dashboard", district_slug=districts[0].slug)
    if len(schools) == 1 and not districts:
        return redirect("school_home", school_slug=schools[0][0].slug)
    return render(request, "mastery/home.html", {"schools": schools, "districts": districts})


def school_home(request, school_slug: str):
    """The landing page of a school, by role: sections for teachers, children for guardians…"""
    school, access, user = request.school, request.access, request.user
    context = {"sections": [], "children": [], "own_records": []}
    if access.has(Role.TEACHER):
        sections = gradebook_selectors.sections_taught_by(school=school, user=user)
        context["sections"] = sections
        context["todo"] = gradebook_selectors.scoring_todo(school=school, sections=sections)
        context["requests"] = gradebook_selectors.open_reassessment_requests(
            school=school, sections=sections
        )
        context["intervention_groups"] = teacher_groups_this_week(
            school=school, teacher=user, today=timezone.localdate()
        )
    if access.has(Role.GUARDIAN):
        context["children"] = [
            g.student
            for g in Guardianship.objects.filter(school=school, guardian=user)
            .select_related("student")
            .order_by("student__first_name")
        ]
    if access.has(Role.STUDENT):
        context["own_records"] = list(Student.objects.filter(school=school, user=user))
    if access.has(Role.SCHOOL_ADMIN, Role.COUNSELOR, "district_admin"):
        context["student_count"] = Student.objects.filter(school=school, is_active=True).count()
        context["all_sections"] = list(
            gradebook_selectors.Section.objects.filter(school=school)
            .select_related("course", "term")
            .order_by("course__code", "period")
        )
    return render(request, "mastery/school_home.html", context)


@never_cache
def healthz(request):
    """Liveness and database check for the load balancer."""
    with scopes_disabled(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "database": connection.vendor})


# --- The grading policy ------------------------------------------------------------------------

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
    }
    return render(request, "mastery/policy.html", context, status=status)


@roles_required(*POLICY_READERS)
def policy_run(request, school_slug: str, run_id: int):
    """The progress of one recompute (polled by the policy page while it runs)."""
    run = RecomputeRun.objects.filter(school=request.school, id=run_id).first()
    if run is None:
        raise Http404("No such recompute")
    return render(request, "mastery/_policy_run.html", {"run": run})


@require_POST
def language_switch(request):
    """Switch the interface language; remembered on the account (and in a cookie before login)."""
    from django.conf import settings as django_settings
    from django.utils import translation
    from django.utils.http import url_has_allowed_host_and_scheme

    language = request.POST.get("language", "")
    if language not in dict(django_settings.LANGUAGES):
        language = django_settings.LANGUAGE_CODE
    if request.user.is_authenticated and request.user.preferred_language != language:
        request.user.preferred_language = language
        request.user.save(update_fields=["preferred_language"])
    back = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "/"
    translation.activate(language)
    response = redirect(back)
    response.set_cookie(
        django_settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=django_settings.SESSION_COOKIE_SECURE,
        httponly=True,
    )
    return response


@never_cache
@roles_required(*API_ROLES)  # the roles the API serves
def api_tokens(request, school_slug: str):
    """The user's own API tokens in this school: make one (shown once), revoke one."""
    from mastery.models import ApiToken
    from mastery.services import api_token_create, api_token_revoke

    new_secret = None
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                token = api_token_revoke(
                    school=request.school,
                    user=request.user,
                    token_id=int(request.POST.get("revoke", "")),
                )
            except (ValueError, ApiToken.DoesNotExist) as exc:
                raise Http404("No such token") from exc
            messages.success(request, f"Revoked “{token.name}”: it no longer opens the API.")
            return redirect("api_tokens", school_slug=school_slug)
        form = ApiTokenForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError(form.errors["name"])
            _, secret = api_token_create(
                school=request.school, user=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            errors = exc.messages
            status = 422
        else:
            # Post/redirect/get, so a reload cannot make a second token; the secret waits in the
            # (server-side) session for exactly one page view.
            request.session["new_api_token"] = secret
            return redirect("api_tokens", school_slug=school_slug)
    else:
        new_secret = request.session.pop("new_api_token", None)
    tokens = ApiToken.objects.filter(school=request.school, user=request.user)
    return render(
        request,
        "mastery/api_tokens.html",
        {
            "tokens": tokens,
            "new_secret": new_secret,
            "errors": errors,
            "name": request.POST.get("name", "") if errors else "",
        },
        status=status,
    )


# --- The audit trail ---------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


@roles_required(Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
def audit_log(request, school_slug: str):
    """Every recorded change of the school, newest first, filtered by kind, person and dates.

    A filter the page's own form never sends (a day past 9998, an id no row can have) answers 400
    with what was wrong, and lists nothing rather than more than was asked for."""
    school = request.school
    events = AuditEvent.objects.filter(school=school).select_related("actor")
    chosen = {key: request.GET.get(key, "").strip() for key in ("type", "actor", "since", "until")}
    filters = AuditFilterForm(request.GET)
    status = 200
    if not filters.is_valid():
        for field, errors in filters.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        events, status = events.none(), 400
    else:
        wanted = filters.cleaned_data
        if wanted["type"]:
            events = events.filter(object_type=wanted["type"])
        if wanted["actor"] == "system":
            events = events.filter(actor__isnull=True)
        elif wanted["actor"]:
            events = events.filter(actor_id=wanted["actor"])
        zone = timezone.get_current_timezone()
        if since := wanted["since"]:
            events = events.filter(at__gte=datetime.combine(since, time.min, tzinfo=zone))
        if until := wanted["until"]:
            next_day = until + timedelta(days=1)
            events = events.filter(at__lt=datetime.combine(next_day, time.min, tzinfo=zone))
    page = Paginator(events.order_by("-at", "-id"), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # Name the students and targets of this page's events (two queries, whatever the page).
    rows = list(page.object_list)
    students = {
        s.id: s.display_name
        for s in Student.objects.filter(school=school, id__in={e.student_id for e in rows})
    }
    targets = dict(
        LearningTarget.objects.filter(
            school=school, id__in={e.target_id for e in rows}
        ).values_list("id", "code")
    )
    for event in rows:
        event.student_name = students.get(event.student_id, "")
        event.target_code = targets.get(event.target_id, "")
    people = (
        User.objects.filter(memberships__school=school, memberships__role__in=STAFF_ROLES)
        .distinct()
        .order_by("full_name", "email")
    )
    return render(
        request,
        "mastery/audit_log.html",
        {
            "page": page,
            "rows": rows,
            "chosen": chosen,
            "types": AuditEvent.ObjectType.choices,
            "people": people,
        },
        status=status,
    )
