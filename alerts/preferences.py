"""What each person hears about and when: the kinds each audience may choose, their defaults,
quiet hours, and when an item falls due (right away, or at the person's next digest).

Families and students hear about their own (or their child's) work; staff hear about what waits
for them. The defaults favour the digest: one mail a day at most unless something needs action
(missing work, an answered request, a placement).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from alerts.models import AlertSettings, Frequency
from mastery.models import AlertEvent

Kind = AlertEvent.Kind

FAMILY_KINDS: tuple[str, ...] = (
    Kind.SCORE,
    Kind.BELOW,
    Kind.MISSING,
    Kind.FEEDBACK,
    Kind.OPPORTUNITY,
    Kind.REQUEST_ANSWERED,
    Kind.PLACEMENT,
    Kind.REPORT_CARD,
)
STAFF_KINDS: tuple[str, ...] = (Kind.REQUEST_RECEIVED, Kind.DEADLINE, Kind.BATCH_DONE)

DEFAULTS: dict[str, str] = {
    Kind.SCORE: Frequency.DAILY,
    Kind.BELOW: Frequency.DAILY,
    Kind.MISSING: Frequency.IMMEDIATE,
    Kind.FEEDBACK: Frequency.DAILY,
    Kind.REQUEST_ANSWERED: Frequency.IMMEDIATE,
    Kind.OPPORTUNITY: Frequency.IMMEDIATE,
    Kind.PLACEMENT: Frequency.IMMEDIATE,
    Kind.REPORT_CARD: Frequency.IMMEDIATE,
    Kind.REQUEST_RECEIVED: Frequency.DAILY,
    Kind.BATCH_DONE: Frequency.IMMEDIATE,
    Kind.DEADLINE: Frequency.IMMEDIATE,
}


@dataclass(frozen=True)
class Choices:
    """One person's choices, with the defaults filled in."""

    frequencies: dict[str, str]
    details: bool = False
    quiet_from: time | None = None
    quiet_until: time | None = None

    def frequency(self, kind: str) -> str:
        return self.frequencies.get(kind, DEFAULTS.get(kind, Frequency.NEVER))


def choices_of(row: AlertSettings | None) -> Choices:
    if row is None:
        return Choices(frequencies=dict(DEFAULTS))
    known = {k: v for k, v in (row.frequencies or {}).items() if v in Frequency.values}
    return Choices(
        frequencies={**DEFAULTS, **known},
        details=row.details,
        quiet_from=row.quiet_from,
        quiet_until=row.quiet_until,
    )


def choices_for(user_ids: Iterable[int]) -> dict[int, Choices]:
    """Everyone's choices in one query (no row: the defaults)."""
    ids = set(user_ids)
    rows = {s.user_id: s for s in AlertSettings.objects.filter(user_id__in=ids)}
    return {uid: choices_of(rows.get(uid)) for uid in ids}


def _in_quiet(moment: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # overnight: 21:00 to 07:00


def after_quiet(when: datetime, choices: Choices, zone: ZoneInfo) -> datetime:
    """`when`, or the end of the person's quiet hours if it falls inside them."""
    if choices.quiet_from is None or choices.quiet_until is None:
        return when
    local = when.astimezone(zone)
    if not _in_quiet(local.time(), choices.quiet_from, choices.quiet_until):
        return when
    end = datetime.combine(local.date(), choices.quiet_until, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), choices.quiet_until, tzinfo=zone)
    return end


def due_at(frequency: str, choices: Choices, *, now: datetime, zone: ZoneInfo) -> datetime:
    """When an item of this frequency goes out: now, or the next daily or weekly digest (at
    ALERTS_DIGEST_HOUR in the school's time zone; the weekly one on ALERTS_WEEKLY_DAY), moved
    past the person's quiet hours."""
    if frequency == Frequency.IMMEDIATE:
        return after_quiet(now, choices, zone)
    local = now.astimezone(zone)
    digest = local.replace(hour=settings.ALERTS_DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if frequency == Frequency.WEEKLY:
        days = (settings.ALERTS_WEEKLY_DAY - local.weekday()) % 7
        digest += timedelta(days=days)
        if digest <= local:
            digest += timedelta(days=7)
    elif digest <= local:
        digest += timedelta(days=1)
    return after_quiet(digest, choices, zone)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)
