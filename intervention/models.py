"""Intervention cycles: four-week cycles of Wednesday/Thursday re-teaching built from mastery.

A cycle (four weeks from a Monday) has groups (a target re-taught, or enrichment, on one weekday,
by one teacher in one room) and roster entries (a student in a group, or on the wait list, with
the mastery at entry and, when the cycle closes, the outcome: exited or continuing).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gradebook.models import Student
from mastery.models import LearningTarget, TenantModel

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
]
WEEKDAY_NAMES = dict(WEEKDAYS)


def default_weekdays() -> list[int]:
    return [2, 3]  # Wednesday and Thursday in the bell schedule


class InterventionSettings(TenantModel):
    """How the school runs intervention: cycle length, days, capacity."""

    cycle_weeks = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    weekdays = models.JSONField(default=default_weekdays, help_text=_("Monday = 0 … Friday = 4"))
    group_capacity = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    enrichment_capacity = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(80)]
    )

    class Meta:
        verbose_name_plural = "intervention settings"
        constraints = [models.UniqueConstraint(fields=["school"], name="intervention_settings_one")]

    def __str__(self) -> str:
        days = ", ".join(str(WEEKDAY_NAMES.get(d, d)) for d in self.weekdays)
        return f"{self.cycle_weeks}-week cycles on {days}"


class InterventionSlot(TenantModel):
    """A teacher who can lead an intervention group on a weekday, and where."""

    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    room = models.CharField(max_length=40, blank=True)
    capacity = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Empty: the school's default.")
    )

    class Meta:
        ordering = ["weekday", "teacher__full_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "teacher", "weekday"], name="slot_one_per_teacher_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.teacher} · {WEEKDAY_NAMES.get(self.weekday)} · {self.room}"


class InterventionCycle(TenantModel):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    number = models.PositiveIntegerField()
    starts_on = models.DateField(help_text=_("A Monday."))
    ends_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["school", "number"], name="cycle_unique_number"),
            models.UniqueConstraint(
                fields=["school"], condition=Q(status="open"), name="cycle_one_open"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gt=models.F("starts_on")), name="cycle_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"Cycle {self.number} ({self.starts_on:%b %-d} – {self.ends_on:%b %-d})"

    def session_dates(self, weekday: int) -> list:
        """Every date of the cycle that falls on the weekday."""
        first = self.starts_on + timedelta(days=(weekday - self.starts_on.weekday()) % 7)
        days, day = [], first
        while day <= self.ends_on:
            days.append(day)
            day += timedelta(days=7)
        return days


class GroupKind(models.TextChoices):
    RETEACH = "reteach", _("Re-teach")
    ENRICHMENT = "enrichment", _("Enrichment")


class InterventionGroup(TenantModel):
    cycle = models.ForeignKey(InterventionCycle, on_delete=models.CASCADE, related_name="groups")
    kind = models.CharField(max_length=12, choices=GroupKind.choices, default=GroupKind.RETEACH)
    target = models.ForeignKey(
        LearningTarget,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="intervention_groups",
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    room = models.CharField(max_length=40, blank=True)
    capacity = models.PositiveSmallIntegerField(default=12)

    class Meta:
        # Re-teaching groups first (by target), enrichment last: how rosters are read and printed.
        ordering = ["weekday", "-kind", "target__code", "teacher__full_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "cycle", "weekday", "teacher"],
                condition=Q(teacher__isnull=False),
                name="group_one_per_teacher_day",
            ),
            models.CheckConstraint(
                condition=Q(kind="enrichment") | Q(target__isnull=False),
                name="group_reteach_has_target",
            ),
        ]
        indexes = [models.Index(fields=["school", "cycle", "weekday"], name="group_by_day")]

    def __str__(self) -> str:
        what = self.target.code if self.target_id else "Enrichment"
        return f"{what} · {WEEKDAY_NAMES.get(self.weekday)} · {self.teacher or 'no teacher'}"


class RosterEntry(TenantModel):
    """A student in a group on a weekday of a cycle (group empty: on the wait list)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("In progress")
        EXITED = "exited", _("Exited")
        CONTINUING = "continuing", _("Continuing")

    cycle = models.ForeignKey(InterventionCycle, on_delete=models.CASCADE, related_name="entries")
    group = models.ForeignKey(
        InterventionGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="roster_entries")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    kind = models.CharField(max_length=12, choices=GroupKind.choices, default=GroupKind.RETEACH)
    target = models.ForeignKey(
        LearningTarget,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="roster_entries",
    )
    score_at_entry = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    level_at_entry = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    priority = models.PositiveIntegerField(default=0, help_text=_("1 = most urgent in the school."))
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.PENDING)
    score_at_close = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    locked = models.BooleanField(default=False, help_text=_("Placed by hand: a rebuild keeps it."))
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "roster entries"
        ordering = ["weekday", "priority"]
        constraints = [
            # At most one group (or wait list place) per student per weekday.
            models.UniqueConstraint(
                fields=["school", "cycle", "student", "weekday"], name="entry_one_per_student_day"
            ),
        ]
        indexes = [
            models.Index(fields=["school", "cycle", "weekday"], name="entry_by_day"),
            models.Index(fields=["school", "student"], name="entry_by_student"),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.group or 'wait list'}"

    @property
    def waitlisted(self) -> bool:
        return self.group_id is None


class SessionAttendance(TenantModel):
    class Status(models.TextChoices):
        PRESENT = "present", _("Present")
        ABSENT = "absent", _("Absent")
        EXCUSED = "excused", _("Excused")

    entry = models.ForeignKey(RosterEntry, on_delete=models.CASCADE, related_name="attendance")
    session_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "entry", "session_date"], name="attendance_once_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry.student} · {self.session_date} · {self.get_status_display()}"
