"""Reads of intervention: a day's rosters, a teacher's groups, a student's history, exit statistics."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Prefetch, QuerySet

from gradebook.models import Mastery, Student
from intervention.models import (
    GroupKind,
    InterventionCycle,
    InterventionGroup,
    RosterEntry,
    SessionAttendance,
)
from mastery.models import LearningTarget, School, User


def current_cycle(school: School) -> InterventionCycle | None:
    """The open cycle, else the most recent one."""
    return (
        InterventionCycle.objects.filter(
            school=school, status=InterventionCycle.Status.OPEN
        ).first()
        or InterventionCycle.objects.filter(school=school).order_by("-number").first()
    )


@dataclass
class RosterRow:
    entry: RosterEntry
    record: Mastery | None  # the student's mastery on the group's target now

    @property
    def student(self) -> Student:
        return self.entry.student


@dataclass
class GroupRoster:
    group: InterventionGroup
    rows: list[RosterRow] = field(default_factory=list)

    @property
    def over_capacity(self) -> bool:
        return len(self.rows) > self.group.capacity


@dataclass
class DayRoster:
    cycle: InterventionCycle
    weekday: int
    groups: list[GroupRoster]
    waitlist: list[RosterRow]
    sessions: list[date]

    @property
    def student_count(self) -> int:
        return sum(len(g.rows) for g in self.groups)


def day_roster(
    *, school: School, cycle: InterventionCycle, weekday: int, teacher: User | None = None
) -> DayRoster:
    """Every group of the cycle on that weekday with its students and their level now (4 queries)."""
    led = InterventionGroup.objects.filter(
        school=school, cycle=cycle, weekday=weekday
    ).select_related("target", "teacher")
    if teacher is not None:
        led = led.filter(teacher=teacher)
    groups = list(led)
    entries = list(
        RosterEntry.objects.filter(school=school, cycle=cycle, weekday=weekday)
        .select_related("student", "target")
        .order_by("priority", "student__last_name", "student__first_name")
    )
    if teacher is not None:
        entries = [e for e in entries if e.group_id in {g.id for g in groups}]
    records: dict[tuple[int, int | None], Mastery] = {
        (m.student_id, m.target_id): m
        for m in Mastery.objects.filter(
            school=school,
            student_id__in={e.student_id for e in entries},
            target_id__in={e.target_id for e in entries if e.target_id},
        )
    }
    by_group: dict[int | None, list[RosterRow]] = defaultdict(list)
    for entry in entries:
        by_group[entry.group_id].append(
            RosterRow(entry, records.get((entry.student_id, entry.target_id)))
        )
    rosters = [
        GroupRoster(g, sorted(by_group[g.id], key=lambda r: r.student.sortable_name))
        for g in groups
    ]
    return DayRoster(cycle, weekday, rosters, by_group[None], cycle.session_dates(weekday))


def roster_row(*, school: School, entry: RosterEntry) -> RosterRow:
    """One entry as the roster shows it (its level now on its target), to redraw a row alone."""
    record = None
    if entry.target_id:
        record = Mastery.objects.filter(
            school=school, student_id=entry.student_id, target_id=entry.target_id
        ).first()
    return RosterRow(entry, record)


@dataclass
class AttendanceSheet:
    group: InterventionGroup
    session: date
    rows: list[tuple[RosterEntry, str | None]]
    sessions: list[date]

    @property
    def marked(self) -> int:
        """Students marked for this session; the others are "not taken yet", never presumed present."""
        return sum(1 for _, status in self.rows if status)


def attendance_sheet(*, school: School, group: InterventionGroup, session: date) -> AttendanceSheet:
    entries = list(
        RosterEntry.objects.filter(school=school, group=group)
        .select_related("student")
        .order_by("student__last_name", "student__first_name")
    )
    taken = dict(
        SessionAttendance.objects.filter(
            school=school, entry__in=entries, session_date=session
        ).values_list("entry_id", "status")
    )
    return AttendanceSheet(
        group,
        session,
        [(e, taken.get(e.id)) for e in entries],
        group.cycle.session_dates(group.weekday),
    )


def default_session(cycle: InterventionCycle, weekday: int, today: date) -> date:
    """Today's session if there is one, else the latest past one, else the first."""
    sessions = cycle.session_dates(weekday)
    past = [d for d in sessions if d <= today]
    return past[-1] if past else sessions[0]


def teacher_groups_this_week(
    *, school: School, teacher: User, today: date
) -> list[tuple[InterventionGroup, date, list[RosterRow]]]:
    """The groups a teacher leads in the open cycle, with this week's session date and students."""
    cycle = InterventionCycle.objects.filter(
        school=school, status=InterventionCycle.Status.OPEN
    ).first()
    if cycle is None:
        return []
    monday = today - timedelta(days=today.weekday())
    result = []
    for weekday in sorted(
        set(
            InterventionGroup.objects.filter(
                school=school, cycle=cycle, teacher=teacher
            ).values_list("weekday", flat=True)
        )
    ):
        roster = day_roster(school=school, cycle=cycle, weekday=weekday, teacher=teacher)
        for group_roster in roster.groups:
            result.append((group_roster.group, monday + timedelta(days=weekday), group_roster.rows))
    return result


@dataclass
class TargetStats:
    code: str
    statement: str
    entered: int = 0
    exited: int = 0
    continuing: int = 0
    pending: int = 0
    carried_over: int = 0  # were on this target in the previous cycle too

    @property
    def exit_rate(self) -> float | None:
        closed = self.exited + self.continuing
        return round(100 * self.exited / closed) if closed else None


def cycle_stats(
    *, school: School, cycle: InterventionCycle
) -> tuple[list[TargetStats], TargetStats, int]:
    """Per target: entered, exited, continuing, exit rate, carried over; plus totals and enrichment."""
    previous = InterventionCycle.objects.filter(school=school, number=cycle.number - 1).first()
    before = set()
    if previous is not None:
        before = set(
            RosterEntry.objects.filter(
                school=school, cycle=previous, kind=GroupKind.RETEACH
            ).values_list("student_id", "target_id")
        )
    stats: dict[int, TargetStats] = {}
    rows = (
        RosterEntry.objects.filter(school=school, cycle=cycle, kind=GroupKind.RETEACH)
        .values("target_id", "target__code", "target__statement", "outcome", "student_id")
        .order_by("target__code")
    )
    for row in rows:
        item = stats.setdefault(
            row["target_id"], TargetStats(row["target__code"], row["target__statement"])
        )
        item.entered += 1
        setattr(item, row["outcome"], getattr(item, row["outcome"]) + 1)
        if (row["student_id"], row["target_id"]) in before:
            item.carried_over += 1
    total = TargetStats("All targets", "")
    for item in stats.values():
        for name in ("entered", "exited", "continuing", "pending", "carried_over"):
            setattr(total, name, getattr(total, name) + getattr(item, name))
    enrichment = RosterEntry.objects.filter(
        school=school, cycle=cycle, kind=GroupKind.ENRICHMENT
    ).count()
    return sorted(stats.values(), key=lambda s: s.code), total, enrichment


def student_history(
    *, school: School, student: Student
) -> list[tuple[RosterEntry, list[tuple[str, int]]]]:
    entries = list(
        RosterEntry.objects.filter(school=school, student=student)
        .select_related("cycle", "target", "group__teacher")
        .prefetch_related(
            Prefetch("attendance", queryset=SessionAttendance.objects.filter(school=school))
        )
        .order_by("-cycle__number", "weekday")
    )
    # A list, not the Counter: templates would read counter.items as counter["items"].
    return [(e, sorted(Counter(a.status for a in e.attendance.all()).items())) for e in entries]


def cycles_with_counts(school: School) -> QuerySet[InterventionCycle]:
    return (
        InterventionCycle.objects.filter(school=school)
        .annotate(entry_count=Count("entries"))
        .order_by("-number")
    )


def practice_sessions(
    school: School, student: Student, target: LearningTarget, since: date
) -> list[date]:
    """The intervention sessions on the target the student attended since `since`: practice a
    reassessment rule accepts (registered with gradebook.extensions by intervention/apps.py)."""
    return list(
        SessionAttendance.objects.filter(
            school=school,
            entry__student=student,
            entry__target=target,
            status=SessionAttendance.Status.PRESENT,
            session_date__gte=since,
        )
        .order_by("session_date")
        .values_list("session_date", flat=True)
    )
