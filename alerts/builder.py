"""The alerts builder: outbox events → each person's items → one mail per person.

Two steps, each set-based (a constant number of queries per batch, whatever the school's size):

1. `items_build`: events older than the grace period (ALERTS_GRACE_SECONDS: a score corrected
   within it alerts nobody) get their recipients — the student, the student's guardians, the
   teachers of a request's section, the staff member who started a batch — each by their own
   choice of frequency (never: no item). The events are marked handled in the same transaction.
   An item is unique per event and person, so a build that runs twice adds nothing.
2. `mails_build`: the items that are due (right away, or at the person's digest) become one mail
   per person — a family with two children gets one. Before the words are written, each change
   is checked again: a score voided or replaced since, a comment changed or removed, a request
   whose answer changed, are dropped ("undone"); a guardianship that has ended drops the items
   about that child. The words are in the person's language and carry scores and comments only
   if the person turned that on.

Sending (alerts.sending) is separate: it takes the built mails one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from alerts import preferences, writing
from alerts.models import AlertDelivery, AlertItem, Frequency
from alerts.preferences import FAMILY_KINDS
from gradebook.models import (
    AssessmentFeedback,
    Evidence,
    GradingPeriod,
    Guardianship,
    Mastery,
    ReassessmentRequest,
    SectionTeacher,
    Student,
)
from mastery.models import AlertEvent, School, User
from reports.report_cards import released

Kind = AlertEvent.Kind
# The advisory lock's first key: the alerts builder's namespace (the second, the school).
BUILD_LOCK = 1_700_017


def _lock(school: School) -> None:
    """One builder of mails per school at a time (a second waits, then finds nothing due)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BUILD_LOCK, school.pk])


def _family_recipients(school: School, student_ids: set[int]) -> dict[int, set[int]]:
    """student id → the people who hear of that student: their guardians and themselves."""
    heard: dict[int, set[int]] = defaultdict(set)
    for student_id, guardian_id in Guardianship.objects.filter(
        school=school, student_id__in=student_ids, guardian__is_active=True
    ).values_list("student_id", "guardian_id"):
        heard[student_id].add(guardian_id)
    for student_id, user_id in Student.objects.filter(
        school=school, id__in=student_ids, user__isnull=False, user__is_active=True
    ).values_list("id", "user_id"):
        heard[student_id].add(user_id)
    return heard


def _request_teachers(school: School, request_ids: set[int]) -> dict[int, set[int]]:
    """request id → the teachers of its section (but the teacher who noted it, if one did)."""
    requests = {
        rid: (section_id, by)
        for rid, section_id, by in ReassessmentRequest.objects.filter(
            school=school, id__in=request_ids
        ).values_list("id", "section_id", "requested_by_id")
    }
    teachers: dict[int, set[int]] = defaultdict(set)
    for section_id, teacher_id in SectionTeacher.objects.filter(
        school=school, section_id__in={s for s, _ in requests.values()}, teacher__is_active=True
    ).values_list("section_id", "teacher_id"):
        teachers[section_id].add(teacher_id)
    return {rid: teachers.get(sid, set()) - {by} for rid, (sid, by) in requests.items()}


@transaction.atomic
def items_build(school: School, *, now: datetime | None = None, limit: int = 2000) -> int:
    """Turn the school's unhandled events (past the grace period) into items; returns how many
    events were handled."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ALERTS_GRACE_SECONDS)
    events = list(
        AlertEvent.objects.select_for_update(skip_locked=True)
        .filter(school=school, handled_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at", "id")[:limit]
    )
    if not events:
        return 0
    events += _below_proficient(school, events, now)
    family = _family_recipients(
        school, {e.student_id for e in events if e.kind in FAMILY_KINDS and e.student_id}
    )
    teachers = _request_teachers(
        school,
        {e.object_id for e in events if e.kind == Kind.REQUEST_RECEIVED and e.object_id},
    )
    heard_by: list[tuple[AlertEvent, set[int]]] = []
    for event in events:
        if event.kind in FAMILY_KINDS:
            people = family.get(event.student_id or 0, set())
        elif event.kind == Kind.REQUEST_RECEIVED:
            people = teachers.get(event.object_id or 0, set())
        else:
            people = {event.user_id} if event.user_id else set()
        heard_by.append((event, people))
    choices = preferences.choices_for(uid for _, people in heard_by for uid in people)
    zone = preferences.zone_of(school.timezone)
    items = []
    for event, people in heard_by:
        for user_id in sorted(people):
            frequency = choices[user_id].frequency(event.kind)
            if frequency == Frequency.NEVER:
                continue
            items.append(
                AlertItem(
                    school=school,
                    event=event,
                    recipient_id=user_id,
                    frequency=frequency,
                    due_at=preferences.due_at(frequency, choices[user_id], now=now, zone=zone),
                )
            )
    AlertItem.objects.bulk_create(items, batch_size=20_000, ignore_conflicts=True)
    AlertEvent.objects.filter(
        school=school, id__in=[e.id for e in events], handled_at__isnull=True
    ).update(handled_at=now)
    return len(events)


def _below_proficient(school: School, events: list[AlertEvent], now: datetime) -> list[AlertEvent]:
    """News the builder derives: a target below proficient after a new score (the student's
    record on it has a score under the mastery threshold). One event per student and target of
    the batch, recorded handled (its items are made now, with the others)."""
    scored = {
        (e.student_id, e.details.get("target_id"))
        for e in events
        if e.kind == Kind.SCORE and e.student_id and e.details.get("target_id")
    }
    if not scored:
        return []
    below = [
        (mastery_id, student_id, target_id, code)
        for mastery_id, student_id, target_id, code in Mastery.objects.filter(
            school=school,
            student_id__in={s for s, _ in scored},
            target_id__in={t for _, t in scored},
            mastered=False,
            score__isnull=False,
        ).values_list("id", "student_id", "target_id", "target__code")
        if (student_id, target_id) in scored
    ]
    derived = [
        AlertEvent(
            school=school,
            kind=Kind.BELOW,
            student_id=student_id,
            object_type="mastery",
            object_id=mastery_id,
            details={"target_id": target_id, "target": code},
            created_at=now,
            handled_at=now,
        )
        for mastery_id, student_id, target_id, code in below
    ]
    return AlertEvent.objects.bulk_create(derived) if derived else []


def _still_standing(school: School, events: Iterable[AlertEvent]) -> set[int]:
    """The ids of the events whose change still stands (one query per kind of object)."""
    events = list(events)
    by_type: dict[str, set[int]] = defaultdict(set)
    for e in events:
        if e.object_id is not None:
            by_type[e.object_type].add(e.object_id)
    live_evidence = set(
        Evidence.objects.filter(
            school=school, id__in=by_type.get("evidence", ()), voided_at__isnull=True
        ).values_list("id", flat=True)
    )
    comments = dict(
        AssessmentFeedback.objects.filter(
            school=school, id__in=by_type.get("feedback", ())
        ).values_list("id", "text")
    )
    requests = dict(
        ReassessmentRequest.objects.filter(
            school=school, id__in=by_type.get("request", ())
        ).values_list("id", "status")
    )
    today = timezone.localdate()
    periods = GradingPeriod.objects.filter(school=school, id__in=by_type.get("period", ()))
    open_periods, released_periods = set(), set()
    for period_id, window_open, is_released in periods.annotate(
        window_open=ExpressionWrapper(Q(posting_closes_on__gte=today), BooleanField()),
        is_released=ExpressionWrapper(released(today), BooleanField()),
    ).values_list("id", "window_open", "is_released"):
        if window_open:
            open_periods.add(period_id)
        if is_released:
            released_periods.add(period_id)
    still_below = set(
        Mastery.objects.filter(
            school=school, id__in=by_type.get("mastery", ()), mastered=False
        ).values_list("id", flat=True)
    )
    standing = set()
    for e in events:
        if e.kind in (Kind.SCORE, Kind.MISSING):
            ok = e.object_id in live_evidence
        elif e.kind == Kind.FEEDBACK:
            ok = comments.get(e.object_id or 0) == e.details.get("text")
        elif e.kind == Kind.REQUEST_ANSWERED:
            ok = requests.get(e.object_id or 0) == e.details.get("status")
        elif e.kind in (Kind.REQUEST_RECEIVED, Kind.OPPORTUNITY):
            ok = requests.get(e.object_id or 0) in ReassessmentRequest.LIVE
        elif e.kind == Kind.BELOW:
            ok = e.object_id in still_below
        elif e.kind == Kind.DEADLINE:
            ok = e.object_id in open_periods
        elif e.kind == Kind.REPORT_CARD:
            ok = e.object_id in released_periods  # a window moved later since: not yet
        else:
            ok = True
        if ok:
            standing.add(e.id)
    return standing


def guardian_pairs(school: School, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of (person, student) pairs, those where the person may still hear of the student: a
    guardian of theirs, or the student themselves (one query each)."""
    pairs = set(pairs)
    people = {p for p, _ in pairs}
    students = {s for _, s in pairs}
    kept = set(
        Guardianship.objects.filter(
            school=school, guardian_id__in=people, student_id__in=students
        ).values_list("guardian_id", "student_id")
    )
    kept |= set(
        Student.objects.filter(school=school, id__in=students, user_id__in=people).values_list(
            "user_id", "id"
        )
    )
    return pairs & kept


def _about_a_child(event: AlertEvent) -> bool:
    """Family news about one student (a request for staff names a student, but is not theirs)."""
    return event.kind in FAMILY_KINDS and event.student_id is not None


def _due(school: School, now: datetime) -> QuerySet[AlertItem]:
    return AlertItem.objects.filter(school=school, state=AlertItem.State.WAITING, due_at__lte=now)


@dataclass(frozen=True)
class Built:
    """One batch of `mails_build`: the people whose due items it handled, the mails it made
    (fewer when every item of someone was undone or withheld). False when nothing was due."""

    people: int = 0
    mails: int = 0

    def __bool__(self) -> bool:
        return self.people > 0


@transaction.atomic
def mails_build(school: School, *, now: datetime | None = None, batch: int | None = None) -> Built:
    """Turn due items into mails, `batch` people at a time."""
    now = now or timezone.now()
    batch = batch or settings.ALERTS_BATCH
    _lock(school)
    people = list(
        _due(school, now)
        .order_by("recipient_id")
        .values_list("recipient_id", flat=True)
        .distinct()[:batch]
    )
    if not people:
        return Built()
    items = list(
        _due(school, now)
        .filter(recipient_id__in=people)
        .select_related("event")
        .order_by("event__created_at", "event_id")
    )
    standing = _still_standing(school, (i.event for i in items))
    allowed = guardian_pairs(
        school,
        (
            (i.recipient_id, i.event.student_id)
            for i in items
            if _about_a_child(i.event) and i.event.student_id is not None
        ),
    )
    students = {
        s.id: s
        for s in Student.objects.filter(
            school=school, id__in={i.event.student_id for i in items if i.event.student_id}
        ).only("id", "first_name", "preferred_name", "last_name", "user_id")
    }
    users = {
        u.id: u
        for u in User.objects.filter(id__in=people, is_active=True).only(
            "id", "email", "full_name", "preferred_language"
        )
    }
    choices = preferences.choices_for(people)
    mine: dict[int, list[AlertItem]] = defaultdict(list)
    for item in items:
        event = item.event
        if item.event_id not in standing:
            item.state = AlertItem.State.UNDONE
        elif item.recipient_id not in users or (
            _about_a_child(event) and (item.recipient_id, event.student_id) not in allowed
        ):
            item.state = AlertItem.State.WITHHELD
        else:
            mine[item.recipient_id].append(item)
    deliveries = []
    for user_id, own in mine.items():
        user = users[user_id]
        mail = writing.compose(
            school=school,
            user=user,
            items=own,
            students=students,
            choices=choices[user_id],
        )
        deliveries.append(
            (
                own,
                AlertDelivery(
                    school=school,
                    recipient_id=user_id,
                    address=user.email,
                    frequency=mail.frequency,
                    language=mail.language,
                    subject=mail.subject,
                    body=mail.body,
                    student_ids=sorted(
                        {i.event.student_id for i in own if _about_a_child(i.event)}
                    ),
                ),
            )
        )
    AlertDelivery.objects.bulk_create([d for _, d in deliveries], batch_size=1000)
    for own, delivery in deliveries:
        for item in own:
            item.state, item.delivery = AlertItem.State.MAILED, delivery
    _items_mark(school, items)
    return Built(people=len(people), mails=len(deliveries))


def _items_mark(school: School, items: list[AlertItem]) -> None:
    """Each item's state and mail in one statement (PostgreSQL: an UPDATE from arrays; a CASE
    per row, as bulk_update writes it, costs more than the rest of the batch)."""
    if connection.vendor != "postgresql":
        AlertItem.objects.bulk_update(items, ["state", "delivery"], batch_size=1000)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE alerts_alertitem AS i SET state = v.state, delivery_id = v.delivery
            FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS v(id, state, delivery)
            WHERE i.school_id = %s AND i.id = v.id
            """,
            [
                [i.pk for i in items],
                [i.state for i in items],
                [i.delivery.pk if i.delivery else None for i in items],
                school.pk,
            ],
        )
