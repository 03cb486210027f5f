"""Writing a roster plan: the cycle's rosters replaced in bulk, and the build's audit trail.

The plan comes from intervention.builder (plan_rosters); entries placed by hand (locked) and
entries with attendance already taken are kept as they are, with their groups.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from intervention.builder import PlannedEntry, RosterPlan
from intervention.models import (
    WEEKDAY_NAMES,
    GroupKind,
    InterventionCycle,
    InterventionGroup,
    RosterEntry,
)
from mastery import audit, outbox, pagecache
from mastery.models import AuditEvent, LearningTarget, School, User


@transaction.atomic
def write_plan(plan: RosterPlan, *, school: School) -> RosterPlan:
    """Replace the cycle's rosters by the plan; kept entries and their groups stay as they are."""
    pagecache.school_changed(school.id)  # families see the rosters
    cycle = InterventionCycle.objects.select_for_update().get(school=school, pk=plan.cycle.pk)
    kept_ids = [e.kept_id for e in plan.entries if e.kept_id]
    replaced = list(
        RosterEntry.objects.filter(school=school, cycle=cycle)
        .exclude(id__in=kept_ids)
        .values_list("student_id", "weekday", "kind", "target_id", "group__teacher_id")
    )
    RosterEntry.objects.filter(school=school, cycle=cycle).exclude(id__in=kept_ids).delete()
    kept_groups = [g.existing_id for g in plan.groups if g.existing_id]
    InterventionGroup.objects.filter(school=school, cycle=cycle).exclude(
        id__in=kept_groups
    ).delete()
    new_groups = [g for g in plan.groups if g.existing_id is None]
    created = InterventionGroup.objects.bulk_create(
        InterventionGroup(
            school=school,
            cycle=cycle,
            kind=g.kind,
            target_id=g.target_id,
            weekday=g.weekday,
            teacher_id=g.teacher_id,
            room=g.room,
            capacity=g.capacity,
        )
        for g in new_groups
    )
    for planned_group, row in zip(new_groups, created, strict=True):
        planned_group.existing_id = row.id
    now = timezone.now()
    _insert_entries(
        [e for e in plan.entries if e.kept_id is None], school=school, cycle=cycle, now=now
    )
    cycle.built_at = now
    cycle.save(update_fields=["built_at"])
    _audit_build(plan, replaced, school=school, cycle=cycle, now=now)
    return plan


def _audit_build(
    plan: RosterPlan,
    replaced: list[tuple],
    *,
    school: School,
    cycle: InterventionCycle,
    now: datetime,
) -> None:
    """One event per student whose placements the build changed (none for an unchanged rebuild)."""
    new = [
        (e.student_id, e.weekday, e.kind, e.target_id, e.group.teacher_id if e.group else None)
        for e in plan.entries
        if e.kept_id is None
    ]
    before: dict[int, dict] = defaultdict(dict)
    after: dict[int, dict] = defaultdict(dict)
    for rows, days in ((replaced, before), (new, after)):
        for student_id, weekday, kind, target_id, teacher_id in rows:
            days[student_id][weekday] = (kind, target_id, teacher_id)
    changed = sorted(s for s in before.keys() | after.keys() if before[s] != after[s])
    if not changed:
        return

    codes = dict(LearningTarget.objects.filter(school=school).values_list("id", "code"))
    teacher_ids = {p[2] for days in (before, after) for s in changed for p in days[s].values()}
    names = dict(User.objects.filter(id__in=teacher_ids - {None}).values_list("id", "full_name"))

    day_names = {day: str(name) for day, name in WEEKDAY_NAMES.items()}  # translated once

    def describe(days: dict) -> dict[str, str]:
        return {
            day_names.get(day, str(day)): (
                f"{codes.get(target_id, '?')} re-teach"
                if kind == GroupKind.RETEACH
                else "enrichment"
            )
            + (f" with {names.get(teacher_id, '?')}" if teacher_id else " (wait list)")
            for day, (kind, target_id, teacher_id) in sorted(days.items())
        }

    events = []
    alerts = []
    for student_id in changed:
        was, now_ = describe(before[student_id]), describe(after[student_id])
        shown = "; ".join(f"{d} {what}" for d, what in now_.items()) or "no group"
        events.append(
            audit.event(
                school=school,
                action=AuditEvent.Action.BUILD,
                object_type=AuditEvent.ObjectType.ROSTER,
                object_id=cycle.id,
                student_id=student_id,
                before=was or None,
                after=now_ or None,
                summary=f"Cycle {cycle.number}: {shown}",
                source="roster build",
                at=now,
            )
        )
        if now_:  # placed, or placed differently (taken off every group: no news to send)
            alerts.append(
                outbox.event(
                    school=school,
                    kind=outbox.Kind.PLACEMENT,
                    student_id=student_id,
                    object_type=AuditEvent.ObjectType.ROSTER,
                    object_id=cycle.id,
                    details={"cycle": cycle.number, "days": now_},
                )
            )
    audit.record_many(events)
    outbox.record_many(alerts)


def _insert_entries(
    entries: list[PlannedEntry], *, school: School, cycle: InterventionCycle, now: datetime
) -> None:
    """The new roster entries; on PostgreSQL in one INSERT of parallel arrays.

    A school opens a cycle with thousands of entries; building a model instance per row cost
    more than the database's whole write. The other columns take the model's defaults (pending,
    not locked).
    """
    rows = [
        {
            "student_id": e.student_id,
            "weekday": e.weekday,
            "kind": str(e.kind),
            "target_id": e.target_id,
            "group_id": e.group.existing_id if e.group else None,
            "score_at_entry": e.score,
            "level_at_entry": e.level,
            "reason": e.reason[:300],
            "priority": e.priority,
        }
        for e in entries
    ]
    if not rows:
        return
    if connection.vendor != "postgresql":  # the demo's SQLite
        RosterEntry.objects.bulk_create(
            RosterEntry(school=school, cycle=cycle, placed_at=now, **row) for row in rows
        )
        return
    types = {"weekday": "smallint", "kind": "text", "reason": "text", "priority": "integer"}
    types |= {"score_at_entry": "numeric", "level_at_entry": "numeric"}
    names = list(rows[0])
    arrays = ", ".join(f"%s::{types.get(name, 'bigint')}[]" for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO intervention_rosterentry (school_id, cycle_id, outcome, locked,"
            f" placed_at, {', '.join(names)}) SELECT %s, %s, %s, FALSE, %s, * FROM unnest({arrays})",
            [
                school.id,
                cycle.id,
                RosterEntry.Outcome.PENDING,
                now,
                *([row[name] for row in rows] for name in names),
            ],
        )
