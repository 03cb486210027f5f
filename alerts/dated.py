"""News that comes with the calendar, recorded by a nightly task (issue [17]), each once: a run
that comes again the next day, or twice the same night, adds nothing.

- Posting deadlines: a teacher hears, ALERTS_DEADLINE_DAYS before a grading period's posting
  window closes, how many of their sections still have no marks posted for it (kind `deadline`;
  at the mail the window is checked again: moved later or already over, no mail).
- Report cards: the day a period's report cards are released to families (the day after its
  posting window closed: reports.report_cards.released), each student with marks posted in it
  and their family hear that the report card is ready (kind `report_card`). Only periods
  released in the last week: a school that starts using alerts is not told of old periods.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction

from gradebook.models import GradingPeriod, SectionTeacher
from marks.models import PostedMark
from mastery import outbox
from mastery.models import AlertEvent, School
from reports.report_cards import released

Kind = AlertEvent.Kind


def _told(
    school: School, kind: str, periods: list[GradingPeriod], who: str
) -> set[tuple[int, int]]:
    """(person or student, period) already told of `kind`: each is recorded once."""
    return set(
        AlertEvent.objects.filter(
            school=school,
            kind=kind,
            object_type="period",
            object_id__in=[p.id for p in periods],
        ).values_list(who, "object_id")
    )


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
    told = _told(school, Kind.DEADLINE, periods, "user_id")
    posted = set(
        PostedMark.objects.filter(school=school, period__in=periods).values_list(
            "period_id", "section_id"
        )
    )
    teaching: dict[int, list[tuple[int, int]]] = defaultdict(list)  # term → (section, teacher)
    for term_id, section_id, teacher_id in SectionTeacher.objects.filter(
        school=school,
        section__term_id__in={p.term_id for p in periods},
        section__archived_at__isnull=True,
        teacher__is_active=True,
    ).values_list("section__term_id", "section_id", "teacher_id"):
        teaching[term_id].append((section_id, teacher_id))
    events = []
    for period in periods:
        waiting = Counter(
            teacher_id
            for section_id, teacher_id in teaching[period.term_id]
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


@transaction.atomic
def report_cards_record(school: School, *, today: date) -> int:
    """Record "the report card is ready" for the periods released by today (and not before the
    last week); returns how many events were recorded."""
    periods = list(
        GradingPeriod.objects.filter(released(today), school=school).exclude(
            released(today - timedelta(days=7))
        )
    )
    if not periods:
        return 0
    told = _told(school, Kind.REPORT_CARD, periods, "student_id")
    names = {p.id: p.name for p in periods}
    marked = (
        PostedMark.objects.filter(school=school, period__in=periods)
        .values_list("student_id", "period_id")
        .distinct()
        .order_by("period_id", "student_id")
    )
    return outbox.record_many(
        outbox.event(
            school=school,
            kind=Kind.REPORT_CARD,
            student_id=student_id,
            object_type="period",
            object_id=period_id,
            details={"period": names[period_id]},
        )
        for student_id, period_id in marked
        if (student_id, period_id) not in told
    )
