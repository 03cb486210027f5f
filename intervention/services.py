"""Writes of intervention: its settings and teachers' availability, open and close cycles, build
rosters, move students, take attendance.

Every service is idempotent where a task may run it twice: closing claims the cycle with a
conditional UPDATE, opening the next cycle is keyed by its number, and a rebuild is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from gradebook.models import Mastery
from intervention.builder import RosterPlan, compare, plan_rosters, settings_for
from intervention.models import (
    WEEKDAY_NAMES,
    GroupKind,
    InterventionCycle,
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
)
from intervention.plan_write import write_plan
from mastery import audit, outbox, pagecache
from mastery.gcpause import gc_paused
from mastery.models import AuditEvent, Department, School, User


def next_monday(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


@transaction.atomic
def cycle_open(
    *, school: School, starts_on: date | None = None, build: bool = True
) -> InterventionCycle:
    """Open the next cycle (starting on a Monday) and build its rosters."""
    if InterventionCycle.objects.filter(
        school=school, status=InterventionCycle.Status.OPEN
    ).exists():
        raise ValidationError("A cycle is already open; close it first.")
    starts_on = starts_on or next_monday(timezone.localdate())
    if starts_on.weekday() != 0:
        raise ValidationError(f"A cycle starts on a Monday; {starts_on:%A %b %-d} is not one.")
    weeks = settings_for(school).cycle_weeks
    number = (
        InterventionCycle.objects.filter(school=school).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    cycle = InterventionCycle.objects.create(
        school=school,
        number=number,
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=7 * weeks - 1),
        status=InterventionCycle.Status.OPEN,
        opened_at=timezone.now(),
    )
    if build:
        roster_rebuild(school=school, cycle=cycle)
    return cycle


def roster_rebuild(
    *, school: School, cycle: InterventionCycle, dry_run: bool = False
) -> RosterPlan:
    """Rebuild the cycle's rosters from Mastery (or, with dry_run, only report what would change)."""
    if cycle.status == InterventionCycle.Status.CLOSED:
        raise ValidationError("A closed cycle's rosters are history; they are not rebuilt.")
    with gc_paused():  # tens of thousands of short-lived objects (mastery/gcpause.py)
        plan = compare(plan_rosters(school=school, cycle=cycle), school=school)
        if not dry_run:
            write_plan(plan, school=school)
    return plan


@dataclass
class CloseResult:
    closed: bool
    exited: int = 0
    continuing: int = 0


@transaction.atomic
def cycle_close(*, school: School, cycle: InterventionCycle) -> CloseResult:
    """Close the cycle: each entry's outcome from the target's mastery now. Runs once per cycle."""
    pagecache.school_changed(school.id)
    claimed = InterventionCycle.objects.filter(
        school=school, pk=cycle.pk, status=InterventionCycle.Status.OPEN
    ).update(status=InterventionCycle.Status.CLOSED, closed_at=timezone.now())
    if not claimed:
        return CloseResult(closed=False)
    entries = list(
        RosterEntry.objects.filter(school=school, cycle=cycle, outcome=RosterEntry.Outcome.PENDING)
    )
    records: dict[tuple[int, int | None], Mastery] = {
        (m.student_id, m.target_id): m
        for m in Mastery.objects.filter(
            school=school,
            student_id__in={e.student_id for e in entries},
            target_id__in={e.target_id for e in entries if e.target_id},
        )
    }
    for entry in entries:
        if entry.kind == GroupKind.ENRICHMENT:
            entry.outcome = RosterEntry.Outcome.EXITED
            continue
        record = records.get((entry.student_id, entry.target_id))
        entry.score_at_close = record.score if record else None
        entry.outcome = (
            RosterEntry.Outcome.EXITED
            if record is not None and record.mastered
            else RosterEntry.Outcome.CONTINUING
        )
    RosterEntry.objects.bulk_update(entries, ["outcome", "score_at_close"])
    audit.record_many(
        audit.event(
            school=school,
            action=AuditEvent.Action.CLOSE,
            object_type=AuditEvent.ObjectType.ROSTER,
            object_id=entry.id,
            student_id=entry.student_id,
            target_id=entry.target_id,
            before={"outcome": RosterEntry.Outcome.PENDING.value},
            after={"outcome": entry.outcome, "score_at_close": audit.plain(entry.score_at_close)},
            summary=f"Cycle {cycle.number}: {entry.get_outcome_display()}",
        )
        for entry in entries
    )
    reteach = [e for e in entries if e.kind == GroupKind.RETEACH]
    return CloseResult(
        closed=True,
        exited=sum(1 for e in reteach if e.outcome == RosterEntry.Outcome.EXITED),
        continuing=sum(1 for e in reteach if e.outcome == RosterEntry.Outcome.CONTINUING),
    )


@dataclass
class AdvanceResult:
    closed: InterventionCycle | None = None
    opened: InterventionCycle | None = None
    exited: int = 0
    continuing: int = 0


def cycle_advance(*, school: School, today: date | None = None) -> AdvanceResult:
    """The dispatcher's work for one school: close an ended cycle, open and build the next.

    Idempotent: a second run (or a redelivered task) finds nothing left to do.
    """
    today = today or timezone.localdate()
    result = AdvanceResult()
    ended = (
        InterventionCycle.objects.filter(
            school=school, status=InterventionCycle.Status.OPEN, ends_on__lt=today
        )
        .order_by("number")
        .first()
    )
    if ended is None:
        return result
    with transaction.atomic():
        closing = cycle_close(school=school, cycle=ended)
        if not closing.closed:
            return result
        result.closed, result.exited, result.continuing = ended, closing.exited, closing.continuing
        starts_on = max(next_monday(ended.ends_on + timedelta(days=1)), next_monday(today))
        if not InterventionCycle.objects.filter(school=school, number=ended.number + 1).exists():
            result.opened = cycle_open(school=school, starts_on=starts_on)
    return result


@transaction.atomic
def entry_move(
    *, school: School, entry_id: int, group_id: int | None, moved_by: User | None
) -> RosterEntry:
    """Move a student to another group of the same cycle and weekday (or to the wait list); locks it."""
    pagecache.school_changed(school.id)
    entry = (
        RosterEntry.objects.select_for_update(of=("self",))
        .filter(school=school, pk=entry_id)
        .select_related("cycle")
        .first()
    )
    if entry is None:
        raise ValidationError("That roster entry does not exist in this school.")
    if entry.cycle.status == InterventionCycle.Status.CLOSED:
        raise ValidationError("That cycle is closed.")
    before = _placement(entry)
    group = None
    if group_id is not None:
        group = (
            InterventionGroup.objects.select_for_update(of=("self",))
            .filter(school=school, pk=group_id)
            .first()
        )
        if group is None or group.cycle_id != entry.cycle_id or group.weekday != entry.weekday:
            raise ValidationError("Choose a group of the same cycle and day.")
        taken = RosterEntry.objects.filter(school=school, group=group).exclude(pk=entry.pk).count()
        if taken >= group.capacity:
            raise ValidationError(f"That group is full ({taken} of {group.capacity}).")
    entry.group = group
    if group is not None:
        entry.kind, entry.target_id = group.kind, group.target_id
        if group.target_id:
            record = Mastery.objects.filter(
                school=school, student_id=entry.student_id, target_id=group.target_id
            ).first()
            entry.score_at_entry = record.score if record else None
            entry.level_at_entry = record.level if record else None
    entry.locked, entry.placed_by, entry.placed_at = True, moved_by, timezone.now()
    entry.reason = (f"Placed by {moved_by.full_name}" if moved_by else "Placed by hand")[:300]
    entry.save()
    after = _placement(entry)
    audit.record(
        school=school,
        action=AuditEvent.Action.MOVE,
        object_type=AuditEvent.ObjectType.ROSTER,
        object_id=entry.id,
        student_id=entry.student_id,
        target_id=entry.target_id,
        actor=moved_by,
        before=before,
        after=after,
        summary=f"Cycle {entry.cycle.number}: moved to {after['group']} (locked)",
    )
    if group is not None:
        outbox.record(
            school=school,
            kind=outbox.Kind.PLACEMENT,
            student_id=entry.student_id,
            object_type=AuditEvent.ObjectType.ROSTER,
            object_id=entry.id,
            details={"cycle": entry.cycle.number, "group": after["group"]},
        )
    return entry


def _placement(entry: RosterEntry) -> dict:
    return {
        "group": str(entry.group) if entry.group_id else "the wait list",
        "kind": entry.kind,
        "locked": entry.locked,
    }


@transaction.atomic
def attendance_record(
    *, school: School, entry_id: int, session_date: date, status: str, recorded_by: User
) -> SessionAttendance:
    entry = RosterEntry.objects.filter(school=school, pk=entry_id).select_related("cycle").first()
    if entry is None:
        raise ValidationError("That roster entry does not exist in this school.")
    if status not in SessionAttendance.Status.values:
        raise ValidationError("Attendance is present, absent or excused.")
    if session_date not in entry.cycle.session_dates(entry.weekday):
        raise ValidationError(
            f"{session_date:%b %-d} is not a session of this group in cycle {entry.cycle.number}."
        )
    with transaction.atomic():
        current = (
            SessionAttendance.objects.select_for_update()
            .filter(school=school, entry=entry, session_date=session_date)
            .first()
        )
        previous = current.status if current is not None else None
        # The sheet sends every row again: unchanged ones write nothing.
        if current is not None and previous == status:
            return current
        attendance, _ = SessionAttendance.objects.update_or_create(
            school=school,
            entry=entry,
            session_date=session_date,
            defaults={"status": status, "recorded_by": recorded_by, "recorded_at": timezone.now()},
        )
        audit.record(
            school=school,
            action=AuditEvent.Action.RECORD if previous is None else AuditEvent.Action.REPLACE,
            object_type=AuditEvent.ObjectType.ATTENDANCE,
            object_id=attendance.id,
            student_id=entry.student_id,
            actor=recorded_by,
            before=None if previous is None else {"date": session_date, "status": previous},
            after={"date": session_date, "status": status},
            summary=f"{attendance.get_status_display()} on {session_date:%b %-d}"
            f" (cycle {entry.cycle.number}, {entry.get_weekday_display()})",
            source="intervention",
        )
    return attendance


# --- Settings and availability -----------------------------------------------------------------


def _settings_state(config: InterventionSettings | None, focus: list[str]) -> dict | None:
    if config is None or config.pk is None:
        return None
    return {
        "cycle_weeks": config.cycle_weeks,
        "weekdays": sorted(config.weekdays),
        "group_capacity": config.group_capacity,
        "enrichment_capacity": config.enrichment_capacity,
        "focus": focus,
    }


def _focus_names(school: School) -> list[str]:
    return list(
        Department.objects.filter(school=school, intervention_focus=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


@transaction.atomic
def settings_save(
    *,
    school: School,
    changed_by: User,
    cycle_weeks: int,
    weekdays: list[int],
    group_capacity: int,
    enrichment_capacity: int,
    focus: list[Department],
) -> InterventionSettings:
    """The school's cycle settings and its focus subjects (whose targets feed the rosters)."""
    if any(d.school_id != school.id for d in focus):
        raise ValidationError({"focus": ["That subject is not in this school."]})
    config = InterventionSettings.objects.select_for_update().filter(school=school).first()
    before = _settings_state(config, _focus_names(school))
    config = config or InterventionSettings(school=school)
    config.cycle_weeks = cycle_weeks
    config.weekdays = sorted(weekdays)
    config.group_capacity = group_capacity
    config.enrichment_capacity = enrichment_capacity
    config.full_clean(exclude=["school"], validate_unique=False)
    config.save()
    Department.objects.filter(school=school).update(intervention_focus=False)
    Department.objects.filter(school=school, id__in=[d.id for d in focus]).update(
        intervention_focus=True
    )
    after = _settings_state(config, _focus_names(school))
    if before != after:
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE,
            object_type=AuditEvent.ObjectType.INTERVENTION,
            object_id=config.id,
            actor=changed_by,
            before=before,
            after=after,
            summary="Intervention settings: "
            + f"{config.cycle_weeks}-week cycles, groups of {config.group_capacity}, "
            + (", ".join(after["focus"]) if after and after["focus"] else "no focus subject"),
        )
    return config


def _slot_state(slot: InterventionSlot) -> dict:
    return {
        "teacher": slot.teacher.full_name or slot.teacher.email,
        "weekday": str(WEEKDAY_NAMES.get(slot.weekday, slot.weekday)),
        "room": slot.room,
        "capacity": slot.capacity,
    }


@transaction.atomic
def slot_save(
    *,
    school: School,
    changed_by: User,
    teacher: User,
    weekday: int,
    room: str,
    capacity: int | None,
) -> InterventionSlot:
    """A teacher can lead a group on that weekday, in that room (one availability per day)."""
    if not teacher.memberships.filter(school=school).exists():
        raise ValidationError({"teacher": ["That teacher is not in this school."]})
    old = (
        InterventionSlot.objects.select_for_update()
        .select_related("teacher")
        .filter(school=school, teacher=teacher, weekday=weekday)
        .first()
    )
    before = _slot_state(old) if old else None
    slot, _ = InterventionSlot.objects.update_or_create(
        school=school,
        teacher=teacher,
        weekday=weekday,
        defaults={"room": room, "capacity": capacity},
    )
    after = _slot_state(slot)
    if before != after:
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE,
            object_type=AuditEvent.ObjectType.INTERVENTION,
            object_id=slot.id,
            actor=changed_by,
            before=before,
            after=after,
            summary=f"{after['teacher']} can lead a group on {after['weekday']}"
            + (f" in {room}" if room else ""),
        )
    return slot


@transaction.atomic
def slot_remove(*, school: School, changed_by: User, slot_id: int) -> InterventionSlot:
    """A teacher no longer leads groups on that day (raises DoesNotExist for another school's)."""
    slot = (
        InterventionSlot.objects.select_for_update()
        .select_related("teacher")
        .get(school=school, pk=slot_id)
    )
    before = _slot_state(slot)
    audit.record(
        school=school,
        action=AuditEvent.Action.DELETE,
        object_type=AuditEvent.ObjectType.INTERVENTION,
        object_id=slot.id,
        actor=changed_by,
        before=before,
        after=None,
        summary=f"{before['teacher']} no longer leads groups on {before['weekday']}",
    )
    slot.delete()
    return slot
