"""Writes of the alerts app: a person's choices."""

from __future__ import annotations

from datetime import time

from django.db import transaction
from django.utils import timezone

from alerts.models import AlertSettings, Frequency
from alerts.preferences import DEFAULTS
from mastery.models import User


@transaction.atomic
def alerts_save(
    user: User,
    *,
    frequencies: dict[str, str],
    details: bool,
    quiet_from: time | None,
    quiet_until: time | None,
) -> AlertSettings:
    """Save a person's choices (kinds not given keep what they were)."""
    row, _ = AlertSettings.objects.select_for_update().get_or_create(user=user)
    known = {k: v for k, v in frequencies.items() if k in DEFAULTS and v in Frequency.values}
    row.frequencies = {**row.frequencies, **known}
    row.details = details
    row.quiet_from, row.quiet_until = quiet_from, quiet_until
    row.updated_at = timezone.now()
    row.save()
    return row


@transaction.atomic
def alerts_stop(user: User) -> AlertSettings:
    """Every alert off (the one-click unsubscribe). Idempotent."""
    row, _ = AlertSettings.objects.select_for_update().get_or_create(user=user)
    row.frequencies = dict.fromkeys(DEFAULTS, Frequency.NEVER)
    row.updated_at = timezone.now()
    row.save()
    return row
