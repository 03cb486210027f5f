"""Reads of the alerts app: what a person may choose, and what the school sent."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from alerts.models import AlertDelivery
from alerts.preferences import FAMILY_KINDS, STAFF_KINDS
from mastery.models import STAFF_ROLES, Role, School, User
from mastery.tenancy import schools_for_user


def kinds_for(user: User) -> tuple[str, ...]:
    """The kinds of news this person can hear about, by their roles in any school."""
    roles = {role for _, school_roles in schools_for_user(user) for role in school_roles}
    kinds: tuple[str, ...] = ()
    if roles & {Role.GUARDIAN, Role.STUDENT}:
        kinds += FAMILY_KINDS
    if roles & STAFF_ROLES:
        kinds += STAFF_KINDS
    return kinds


def deliveries(school: School, *, status: str = "", search: str = "") -> QuerySet[AlertDelivery]:
    """The school's mails, newest first, by status and by address or subject."""
    found = AlertDelivery.objects.filter(school=school).select_related("recipient")
    if status in AlertDelivery.Status.values:
        found = found.filter(status=status)
    if search:
        found = found.filter(Q(address__icontains=search) | Q(subject__icontains=search))
    return found.order_by("-created_at", "-id")


def status_counts(school: School) -> dict[str, int]:
    rows = (
        AlertDelivery.objects.filter(school=school)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return dict(rows)
