"""The dashboard pages. Every figure on a page downloads as CSV with `?csv=<figure slug>`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from gradebook.models import Course, Term
from mastery.decorators import roles_required
from mastery.models import Department, District, Role
from mastery.tenancy import DISTRICT_ADMIN, district_schools
from reports.dashboards.department import department_dashboard
from reports.dashboards.district import current_terms, district_dashboard
from reports.dashboards.figures import figure_csv, figure_or_404
from reports.dashboards.intervention import intervention_dashboard
from reports.dashboards.school import school_dashboard

# Who reads which dashboard. Teachers see the departments they teach in; the people who run the
# school (admins, counselors, the district's admins) see every department.
DEPARTMENT_READERS = (Role.SCHOOL_ADMIN, Role.COUNSELOR, Role.TEACHER, DISTRICT_ADMIN)
WHOLE_SCHOOL = (Role.SCHOOL_ADMIN, Role.COUNSELOR, DISTRICT_ADMIN)
INTERVENTION_READERS = (Role.SCHOOL_ADMIN, Role.COUNSELOR, DISTRICT_ADMIN)
SCHOOL_READERS = (Role.SCHOOL_ADMIN, DISTRICT_ADMIN)


def visible_departments(request) -> QuerySet[Department]:
    """Every department for those who run the school; for a teacher, the ones they teach in."""
    departments = Department.objects.filter(school=request.school)
    if request.access.has(*WHOLE_SCHOOL):
        return departments
    return departments.filter(Q(courses__sections__teachers=request.user)).distinct()


def dashboard_term(request) -> Term:
    """The term in `?term=` (a foreign or unknown id: 404), else the current one, else the latest."""
    terms = Term.objects.filter(school=request.school)
    raw = request.GET.get("term")
    if raw:
        if not raw.isdigit():
            raise Http404("No such term.")
        term = terms.filter(id=int(raw)).first()
        if term is None:
            raise Http404("No such term.")
        return term
    term = current_terms([request.school.id], timezone.localdate()).get(request.school.id)
    if term is None:
        raise Http404("This school has no term yet.")
    return term


def _csv_or_page(request, dashboard, template: str, *, term: Term, name: str, **context):
    """One figure as CSV (`?csv=<slug>`), else the page with its term menu."""
    slug = request.GET.get("csv")
    if slug:
        figure = figure_or_404(dashboard.figures, slug)
        return figure_csv(figure, school=request.school, name=name, on=timezone.localdate())
    terms = Term.objects.filter(school=request.school).order_by("-starts_on")
    return render(
        request, template, {"dashboard": dashboard, "terms": terms, "term": term, **context}
    )


def _chosen_course(request, courses: list[Course]) -> Course | None:
    """`?course=` (an id, or "all"); by default the first course, or all when there is one."""
    raw = request.GET.get("course", "")
    if raw == "all" or (not raw and len(courses) <= 1):
        return None
    if not raw:
        return courses[0]
    course = next((c for c in courses if str(c.id) == raw), None)
    if course is None:
        raise Http404("No such course in this department this term.")
    return course


@require_safe
@roles_required(*DEPARTMENT_READERS)
def dashboards_home(request, school_slug: str):
    """Which dashboards this user can open."""
    return render(
        request,
        "reports/dashboards/home.html",
        {
            "departments": visible_departments(request).order_by("name"),
            "can_intervention": request.access.has(*INTERVENTION_READERS),
            "can_school": request.access.has(*SCHOOL_READERS),
            "district": request.school.district
            if request.access.has(DISTRICT_ADMIN) and request.school.district_id
            else None,
        },
    )


@require_safe
@roles_required(*DEPARTMENT_READERS)
def department_view(request, school_slug: str, department_id: int):
    department = visible_departments(request).filter(id=department_id).first()
    if department is None:
        raise Http404("No such department, or not one you teach in.")
    term = dashboard_term(request)
    # A PLC is usually one course's team: the first course taught this term unless asked.
    courses = list(
        Course.objects.filter(school=request.school, department=department, sections__term=term)
        .distinct()
        .order_by("code")
    )
    course = _chosen_course(request, courses)
    raw_target = request.GET.get("target", "")
    if raw_target and not raw_target.isdigit():
        raise Http404("No such target.")
    dashboard = department_dashboard(
        school=request.school,
        department=department,
        term=term,
        today=timezone.localdate(),
        course_id=course.id if course else None,
        focus_target_id=int(raw_target) if raw_target else None,
        # The CSV of the students not yet proficient holds every target unless one is chosen.
        every_target=bool(request.GET.get("csv")) and not raw_target,
    )
    return _csv_or_page(
        request,
        dashboard,
        "reports/dashboards/department.html",
        term=term,
        name=course.code if course else (department.code or department.name),
        courses=courses,
        course=course,
    )


@require_safe
@roles_required(*INTERVENTION_READERS)
def intervention_view(request, school_slug: str):
    term = dashboard_term(request)
    dashboard = intervention_dashboard(school=request.school, term=term, today=timezone.localdate())
    return _csv_or_page(
        request, dashboard, "reports/dashboards/intervention.html", term=term, name="intervention"
    )


@require_safe
@roles_required(*SCHOOL_READERS)
def school_view(request, school_slug: str):
    term = dashboard_term(request)
    dashboard = school_dashboard(school=request.school, term=term, today=timezone.localdate())
    return _csv_or_page(
        request, dashboard, "reports/dashboards/school.html", term=term, name="school"
    )


@require_safe
@login_required
def district_view(request, district_slug: str):
    """The district's schools side by side, for the district's own admins (anyone else: 404)."""
    district = District.objects.filter(slug=district_slug, memberships__user=request.user).first()
    if district is None:
        raise Http404("No such district, or not one you administer.")
    today = timezone.localdate()
    # Across the district's schools on purpose: every query names them (school_id IN …), and the
    # database's wall admits those schools only.
    with district_schools(district):
        dashboard = district_dashboard(district=district, today=today)
    slug = request.GET.get("csv")
    if slug:
        return figure_csv(
            figure_or_404(dashboard.figures, slug), school=None, name=district.slug, on=today
        )
    return render(request, "reports/dashboards/district.html", {"dashboard": dashboard})
