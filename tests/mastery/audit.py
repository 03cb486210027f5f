"""What the audit trail tests share: reading a school's events."""

from __future__ import annotations

from django_scopes import scope

from mastery.models import AuditEvent

Type = AuditEvent.ObjectType


# --- Helpers ---------------------------------------------------------------------------------------


def events(w, object_type=None, **filters) -> list[AuditEvent]:
    """The world's events, oldest first."""
    with scope(school=w.school):
        found = AuditEvent.objects.filter(school=w.school, **filters)
        if object_type:
            found = found.filter(object_type=object_type)
        return list(found.select_related("actor").order_by("at", "id"))
