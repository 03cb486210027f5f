"""The roster builder: who goes to which re-teaching (or enrichment) group on which weekday.

Reads Mastery for the focus targets in one SQL query, places students in a deterministic greedy
pass (the same data always gives the same rosters), and writes the result in bulk.

The rules, in order:
- a student below mastery (with a score: enough evidence) on a focus target of one of their courses
  needs re-teaching on it; the most urgent students are placed first: most targets below, then the
  lowest score, then the lowest total, then the student id;
- each weekday a student gets at most one group: their most urgent remaining target, preferring a
  subject not yet covered that cycle (so math on Wednesday, English on Thursday);
- groups are filled up to their capacity and led by a teacher free that day, preferring teachers
  who teach a course with that target; when no teacher is free the rest wait on a visible wait list;
- students proficient on every focus target they have a score on go to enrichment groups;
- entries placed by hand (locked), and entries with attendance already taken, are kept as they are.

The SQL that reads the candidates is intervention.candidates; writing a plan, intervention.plan_write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from django.db.models import Q

from gradebook.models import Student
from intervention.candidates import Need, candidates_read
from intervention.models import (
    WEEKDAY_NAMES,
    GroupKind,
    InterventionCycle,
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
)
from mastery import calculation
from mastery.models import LearningTarget, School
from mastery.selectors import achievement_levels


@dataclass
class PlannedGroup:
    weekday: int
    kind: str
    target_id: int | None
    teacher_id: int | None
    room: str
    capacity: int
    existing_id: int | None = None
    student_ids: list[int] = field(default_factory=list)

    @property
    def seats(self) -> int:
        return self.capacity - len(self.student_ids)


@dataclass
class PlannedEntry:
    student_id: int
    weekday: int
    kind: str
    target_id: int | None
    group: PlannedGroup | None  # None: the wait list
    score: Decimal | None
    level: Decimal | None
    reason: str
    priority: int
    kept_id: int | None = None  # an existing (locked) entry left as it is


@dataclass
class RosterPlan:
    cycle: InterventionCycle
    groups: list[PlannedGroup]
    entries: list[PlannedEntry]
    added: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def waitlist(self) -> list[PlannedEntry]:
        return [e for e in self.entries if e.group is None]

    @property
    def students_placed(self) -> int:
        return len({e.student_id for e in self.entries if e.group is not None})

    def summary(self) -> str:
        reteach = sum(1 for g in self.groups if g.kind == GroupKind.RETEACH)
        enrichment = len(self.groups) - reteach
        return (
            f"{len(self.groups)} groups ({reteach} re-teach, {enrichment} enrichment), "
            f"{self.students_placed} students placed, {len(self.waitlist)} on the wait list"
        )


NOBODY: AbstractSet[int] = frozenset()


def settings_for(school: School) -> InterventionSettings:
    found = InterventionSettings.objects.filter(school=school).first()
    return found or InterventionSettings(school=school)


def plan_rosters(*, school: School, cycle: InterventionCycle) -> RosterPlan:
    """The rosters the rules give for this cycle now (nothing is written)."""
    config = settings_for(school)
    weekdays = sorted(set(config.weekdays))
    labels: dict[Decimal | None, str] = {lv.value: lv.label for lv in achievement_levels(school)}

    found = candidates_read(school=school, day=cycle.starts_on)
    needs, enrichment_students = found.needs, found.enrichment_students
    department_of, teachers_of = found.department_of, found.teachers_of
    for student_needs in needs.values():
        student_needs.sort(key=lambda n: (n.score, n.target_code))

    order = sorted(
        needs,
        key=lambda sid: (
            -len(needs[sid]),
            needs[sid][0].score,
            sum(n.score for n in needs[sid]),
            sid,
        ),
    )
    enrichment_students.sort()

    # What is kept: locked entries and entries that already have attendance, with their groups.
    kept_entries = list(
        RosterEntry.objects.filter(school=school, cycle=cycle)
        .filter(models_q_kept())
        .select_related("group")
        .distinct()
    )
    kept_by_key = {(e.student_id, e.weekday): e for e in kept_entries}
    groups: list[PlannedGroup] = []
    fixed: dict[int | None, PlannedGroup] = {}
    for entry in kept_entries:
        if entry.group_id and entry.group_id not in fixed:
            kept = cast(InterventionGroup, entry.group)  # group_id is set
            fixed[kept.id] = PlannedGroup(
                kept.weekday,
                kept.kind,
                kept.target_id,
                kept.teacher_id,
                kept.room,
                kept.capacity,
                kept.id,
            )
            groups.append(fixed[kept.id])
    planned: list[PlannedEntry] = []
    for entry in kept_entries:
        group = fixed.get(entry.group_id)
        if group is not None:
            group.student_ids.append(entry.student_id)
        planned.append(
            PlannedEntry(
                entry.student_id,
                entry.weekday,
                entry.kind,
                entry.target_id,
                group,
                entry.score_at_entry,
                entry.level_at_entry,
                entry.reason,
                entry.priority,
                kept_id=entry.id,
            )
        )

    slots: dict[int, list[InterventionSlot]] = defaultdict(list)
    for offered in InterventionSlot.objects.filter(
        school=school, weekday__in=weekdays
    ).select_related("teacher"):
        slots[offered.weekday].append(offered)

    # Targets each student still has to be placed on this cycle, and subjects already covered.
    remaining: dict[int, list[Need]] = {}
    covered: dict[int, set[int]] = {}
    for student_id in order:
        kept_targets = {e.target_id for k, e in kept_by_key.items() if k[0] == student_id}
        remaining[student_id] = [n for n in needs[student_id] if n.target_id not in kept_targets]
        # Subjects already covered by kept entries count, so the other days go to other subjects.
        covered[student_id] = {department_of[t] for t in kept_targets if t in department_of}

    for weekday in weekdays:
        slots[weekday].sort(key=lambda s: (s.teacher.full_name, s.teacher_id))
        busy = {g.teacher_id for g in groups if g.weekday == weekday and g.teacher_id}
        # Keep enough teachers for the enrichment groups: proficient students are owed a group too.
        enrichment_due = sum(1 for sid in enrichment_students if (sid, weekday) not in kept_by_key)
        enrichment_seats = sum(
            g.seats for g in groups if g.weekday == weekday and g.kind == GroupKind.ENRICHMENT
        )
        reserve = max(0, -(-(enrichment_due - enrichment_seats) // config.enrichment_capacity))

        # Busy teachers only accumulate, so once no slot is left beyond `keep`, none will be:
        # remembered, because a school's urgent students ask thousands of times.
        exhausted: set[int] = set()

        def next_slot(
            preferred: AbstractSet[int],
            weekday: int = weekday,
            busy: set[int] = busy,
            keep: int = 0,
            exhausted: set[int] = exhausted,
        ) -> InterventionSlot | None:
            if keep in exhausted:
                return None
            free = [s for s in slots[weekday] if s.teacher_id not in busy]
            if len(free) <= keep:
                exhausted.add(keep)
                return None
            free = free[: len(free) - keep] if keep else free
            choice = next((s for s in free if s.teacher_id in preferred), None) or (
                free[0] if free else None
            )
            if choice is not None:
                busy.add(choice.teacher_id)
            return choice

        # The day's reteach groups by target, in the order they were made (kept groups first).
        reteach: dict[int | None, list[PlannedGroup]] = defaultdict(list)
        for g in groups:
            if g.weekday == weekday and g.kind == GroupKind.RETEACH:
                reteach[g.target_id].append(g)

        # The first group of a target with a seat. Seats only fill up during the day's pass, so
        # the search resumes where it last stopped: urgent students on the wait list ask about
        # every target they need, tens of thousands of times in a school.
        first_open: dict[int, int] = defaultdict(int)

        def open_group(
            target_id: int,
            reteach: dict[int | None, list[PlannedGroup]] = reteach,
            first_open: dict[int, int] = first_open,
        ) -> PlannedGroup | None:
            found = reteach.get(target_id, ())
            i = first_open[target_id]
            while i < len(found) and found[i].seats <= 0:
                i += 1
            first_open[target_id] = i
            return found[i] if i < len(found) else None

        # Most urgent students first; each takes their most urgent target (a subject not yet covered
        # this cycle first) that has a seat, or a free teacher to open a group, before the next one.
        for rank, student_id in enumerate(order, start=1):
            if (student_id, weekday) in kept_by_key or not remaining[student_id]:
                continue
            # Subjects not yet covered first, each part in the order of urgency: `remaining` is
            # kept sorted by (score, target code), so a stable partition is that sort.
            left, c = remaining[student_id], covered[student_id]
            choices = [n for n in left if n.department_id not in c]
            choices += [n for n in left if n.department_id in c]
            chosen, group = None, None
            for need in choices:
                group = open_group(need.target_id)
                if group is None:
                    slot = next_slot(teachers_of.get(need.target_id, NOBODY), keep=reserve)
                    if slot is not None:
                        group = PlannedGroup(
                            weekday,
                            GroupKind.RETEACH,
                            need.target_id,
                            slot.teacher_id,
                            slot.room,
                            slot.capacity or config.group_capacity,
                        )
                        groups.append(group)
                        reteach[need.target_id].append(group)
                if group is not None:
                    chosen = need
                    break
            chosen = (
                chosen or choices[0]
            )  # no seat anywhere: the wait list, on the most urgent target
            if group is not None:
                group.student_ids.append(student_id)
            remaining[student_id].remove(chosen)
            covered[student_id].add(chosen.department_id)
            count = len(needs[student_id])
            label = labels.get(chosen.level, "")
            planned.append(
                PlannedEntry(
                    student_id,
                    weekday,
                    GroupKind.RETEACH,
                    chosen.target_id,
                    group,
                    chosen.score,
                    chosen.level,
                    f"{chosen.target_code} at {calculation.fmt(chosen.score)} {label}".strip()
                    + f"; {count} focus target{'s' if count != 1 else ''} below mastery",
                    rank,
                )
            )

        enrichment_groups = [
            g for g in groups if g.weekday == weekday and g.kind == GroupKind.ENRICHMENT
        ]
        for student_id in enrichment_students:
            if (student_id, weekday) in kept_by_key:
                continue
            group = next((g for g in enrichment_groups if g.seats > 0), None)
            if group is None:
                slot = next_slot(set())
                if slot is not None:
                    group = PlannedGroup(
                        weekday,
                        GroupKind.ENRICHMENT,
                        None,
                        slot.teacher_id,
                        slot.room,
                        config.enrichment_capacity,
                    )
                    groups.append(group)
                    enrichment_groups.append(group)
            if group is not None:
                group.student_ids.append(student_id)
            planned.append(
                PlannedEntry(
                    student_id,
                    weekday,
                    GroupKind.ENRICHMENT,
                    None,
                    group,
                    None,
                    None,
                    "Proficient on every focus target",
                    len(order) + 1,
                )
            )
    return RosterPlan(cycle, groups, planned)


def models_q_kept() -> Q:

    return Q(locked=True) | Q(attendance__isnull=False)


def _fingerprint(
    student_id: int, weekday: int, kind: str, target_id: int | None, teacher_id: int | None
) -> tuple[int, int, str, int | None, int | None]:
    return (student_id, weekday, kind, target_id, teacher_id)


def compare(plan: RosterPlan, *, school: School) -> RosterPlan:
    """Fill in how the plan differs from the rosters stored now (the dry run's report)."""
    current = {
        (e.student_id, e.weekday): _fingerprint(
            e.student_id, e.weekday, e.kind, e.target_id, e.group.teacher_id if e.group else None
        )
        for e in RosterEntry.objects.filter(school=school, cycle=plan.cycle).select_related("group")
    }
    proposed = {
        (e.student_id, e.weekday): _fingerprint(
            e.student_id, e.weekday, e.kind, e.target_id, e.group.teacher_id if e.group else None
        )
        for e in plan.entries
    }
    plan.added = sum(1 for k in proposed if k not in current)
    plan.removed = sum(1 for k in current if k not in proposed)
    plan.moved = sum(1 for k in proposed if k in current and proposed[k] != current[k])
    plan.unchanged = sum(1 for k in proposed if k in current and proposed[k] == current[k])
    changed = [k for k in proposed if current.get(k) != proposed[k]][:5]
    if changed:
        names = {
            s.id: s.display_name
            for s in Student.objects.filter(school=school, id__in=[k[0] for k in changed])
        }
        codes: dict[int | None, str] = dict(
            LearningTarget.objects.filter(school=school).values_list("id", "code")
        )
        for key in changed:
            _, weekday, kind, target_id, teacher_id = proposed[key]
            what = codes.get(target_id, "enrichment") if kind == GroupKind.RETEACH else "enrichment"
            plan.examples.append(
                f"{names.get(key[0], key[0])}: {WEEKDAY_NAMES.get(weekday)} {what}"
            )
    return plan
