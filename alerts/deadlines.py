"""Posting deadlines (issue [17]): a teacher hears, ALERTS_DEADLINE_DAYS before a grading
period's posting window closes, how many of their sections still have no marks posted for it.

Recorded as outbox news (kind `deadline`) by a nightly task, once per teacher and period: a run
that comes again the next day, or twice the same night, adds nothing. At the mail the period's
window is checked again (moved later or already over: no mail).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction

from gradebook.models import GradingPeriod, SectionTeacher
from marks.models import PostedMark
from mastery import outbox
from mastery.models import AlertEvent, School

Kind = AlertEvent.Kind


@transaction.atomic
def deadlines_record(school: School, *, today: date) -> int:
    """Record the school's deadline news for today; returns how many events were recorded."""
    soon = today + timedelta(days=settings.ALERTS_DEADLINE_DAYS)
    periods = list(
        GradingPeriod.objects.filter(
            school=school, posting_closes_on__gte=today, posting_closes_on__lte=soon
        )
    )
    if not periods:
        return 0
    told = set(
        AlertEvent.objects.filter(
            school=school,
            kind=Kind.DEADLINE,
            object_type="period",
            object_id__in=[p.id for p in periods],
        ).values_list("user_id", "object_id")
    )
    posted = set(
        PostedMark.objects.filter(school=school, period__in=periods).values_list(
            "period_id", "section_id"
        )
    )
    events = []
    for period in periods:
        waiting = Counter(
            teacher_id
            for section_id, teacher_id in SectionTeacher.objects.filter(
                school=school,
                section__term_id=period.term_id,
                section__archived_at__isnull=True,
                teacher__is_active=True,
            ).values_list("section_id", "teacher_id")
            if (period.id, section_id) not in posted
        )
        events += [
            outbox.event(
                school=school,
                kind=Kind.DEADLINE,
                user_id=teacher_id,
                object_type="period",
                object_id=period.id,
                details={
                    "period": period.name,
                    "closes_on": str(period.posting_closes_on),
                    "sections": count,
                },
            )
            for teacher_id, count in sorted(waiting.items())
            if (teacher_id, period.id) not in told
        ]
    return outbox.record_many(events)
