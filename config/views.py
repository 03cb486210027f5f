"""The site's own pages: the signed-in home, a school's landing page by role, the health check.

They sit above every app (the school's landing page gathers a teacher's sections, groups and
requests from gradebook and intervention), which is why they live here and not in an app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_scopes import scopes_disabled

from gradebook.models import Guardianship, Section, Student
from gradebook.selectors import files as file_reads
from gradebook.selectors import home as home_reads
from gradebook.selectors.feedback import teacher_feedback_owed
from gradebook.selectors.reassessment import next_school_day
from intervention.selectors import teacher_groups_this_week
from mastery.models import District, Role
from mastery.tenancy import DISTRICT_ADMIN, schools_for_user


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
    return render(request, "site/home.html", {"schools": schools, "districts": districts})


def school_home(request, school_slug: str):
    """The landing page of a school, by role: sections for teachers, children for guardians…"""
    school, access, user = request.school, request.access, request.user
    context = {"sections": [], "children": [], "own_records": []}
    if access.has(Role.TEACHER):
        sections = home_reads.sections_taught_by(school=school, user=user)
        context["sections"] = sections
        context["todo"] = home_reads.scoring_todo(school=school, sections=sections)
        context["requests"] = home_reads.open_reassessment_requests(
            school=school, sections=sections
        )
        context["default_day"] = next_school_day(timezone.localdate())
        # Work students handed in, waiting to be scored (one query).
        waiting = file_reads.pending_counts(access=access, user=user)
        context["work_waiting"] = [
            (section, waiting[section.id]) for section in sections if section.id in waiting
        ]
        context["intervention_groups"] = teacher_groups_this_week(
            school=school, teacher=user, today=timezone.localdate()
        )
        # Who in these sections has had no feedback within the school's interval (2 queries).
        owed = teacher_feedback_owed(school=school, user=user)
        context["feedback_owed"] = [
            (section, owed[section.id])
            for section in sections
            if section.id in owed and owed[section.id].owed
        ]
        context["feedback_checked"] = bool(owed)  # some section in a running term
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
            Section.objects.filter(school=school, archived_at__isnull=True)
            .select_related("course", "term")
            .order_by("course__code", "period")
        )
    return render(request, "site/school_home.html", context)


@never_cache
def healthz(request):
    """Liveness and database check for the load balancer."""
    with scopes_disabled(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "database": connection.vendor})
