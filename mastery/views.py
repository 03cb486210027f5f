"""Pages outside and at the top of a school: home, the school's landing page, health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django_scopes import scopes_disabled

from gradebook import selectors as gradebook_selectors
from gradebook.models import Guardianship, Student
from mastery.models import Role
from mastery.tenancy import schools_for_user


@login_required
def home(request):
    """The user's schools; with exactly one, straight into it."""
    schools = schools_for_user(request.user)
    if len(schools) == 1:
        return redirect("school_home", school_slug=schools[0][0].slug)
    return render(request, "mastery/home.html", {"schools": schools})


def school_home(request, school_slug: str):
    """The landing page of a school, by role: sections for teachers, children for guardians…"""
    school, access, user = request.school, request.access, request.user
    context = {"sections": [], "children": [], "own_records": []}
    if access.has(Role.TEACHER):
        context["sections"] = list(gradebook_selectors.sections_taught_by(school=school, user=user))
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
