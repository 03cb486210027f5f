"""The school's audit trail: every recorded change, newest first, filtered by kind, person, dates.

It lives with the gradebook because it names the students and targets of its events."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from gradebook.models import Student
from mastery.decorators import roles_required
from mastery.forms import AuditFilterForm
from mastery.models import STAFF_ROLES, AuditEvent, LearningTarget, Role, User
from mastery.tenancy import DISTRICT_ADMIN

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
        "gradebook/audit_log.html",
        {
            "page": page,
            "rows": rows,
            "chosen": chosen,
            "types": AuditEvent.ObjectType.choices,
            "people": people,
        },
        status=status,
    )
