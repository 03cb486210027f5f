"""The school's feedback interval: how often every student should receive feedback (the grid, the
teacher's home and the department dashboard list who has gone longer; gradebook.selectors.feedback).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from mastery import audit
from mastery.models import AuditEvent, School, User

MIN_INTERVAL_DAYS = 1
MAX_INTERVAL_DAYS = 60


@transaction.atomic
def feedback_interval_save(*, school: School, changed_by: User, days: int) -> School:
    """Set the school's feedback interval (1-60 days), audited; the same value writes nothing.

    Raises ValidationError (on `days`) before anything is written when the value is out of range.
    Audited as a school setting (AuditEvent.ObjectType.SCHOOL, the school's id).
    """
    if (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not MIN_INTERVAL_DAYS <= days <= MAX_INTERVAL_DAYS
    ):
        raise ValidationError(
            {
                "days": [
                    f"The feedback interval is a whole number of days from {MIN_INTERVAL_DAYS} "
                    f"to {MAX_INTERVAL_DAYS}. Nothing was changed."
                ]
            }
        )
    # Locked so that two admins saving at once each record the value they replaced.
    current = School.objects.select_for_update().get(pk=school.pk)
    before = current.feedback_interval_days
    if before != days:
        current.feedback_interval_days = days
        current.save(update_fields=["feedback_interval_days"])
        audit.record(
            school=current,
            action=AuditEvent.Action.UPDATE,
            object_type=AuditEvent.ObjectType.SCHOOL,
            object_id=current.pk,
            actor=changed_by,
            before={"feedback_interval_days": before},
            after={"feedback_interval_days": days},
            summary=f"Feedback interval: {before} → {days} days",
        )
    school.feedback_interval_days = days
    return current
