"""The year rollover: one run per closing school year, and the promotion of each student it made.

The years themselves, the terms' and sections' closing marks and the year-end snapshot of mastery
belong to the gradebook (gradebook.models.SchoolYear, Term.closed_at, Section.archived_at,
YearEndMastery): the gradebook and the engine read them. What is here is the rollover's own
record: what it planned, what it did, and who asked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gradebook.models import SchoolYear, Student
from mastery.models import TenantModel


class YearRollover(TenantModel):
    """Closing a school year and opening the next: the plan the admin confirmed, then the run.

    One live rollover per closing year (a failed one leaves room for another): a double click or
    a resubmitted form finds the one already made. The plan is stored as the admin saw it; the
    run derives it again from the school as it stands and refuses when it differs (years.services).
    """

    class Status(models.TextChoices):
        PLANNED = "planned", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    # (school_id, …) keys and references in the database: mastery/citus.py
    year = models.ForeignKey(
        SchoolYear, on_delete=models.RESTRICT, related_name="rollovers", db_constraint=False
    )
    next_year = models.ForeignKey(
        SchoolYear,
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        help_text=_("The year it opened (set by the run, which creates it when it is new)."),
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    plan = models.JSONField(help_text=_("What the run does, as the admin confirmed it."))
    fingerprint = models.CharField(max_length=64)
    summary = models.JSONField(default=dict, blank=True, help_text=_("What the run did."))
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "year"],
                condition=~Q(status="failed"),
                name="year_rollover_one_per_year",
            ),
        ]

    def __str__(self) -> str:
        return f"Rollover of {self.year} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class Promotion(TenantModel):
    """What a closing year did to one student's grade level. One row per student and year: the
    run inserts them with ON CONFLICT DO NOTHING and moves a grade only from `from_grade`, so a
    second run promotes nobody twice."""

    class Outcome(models.TextChoices):
        PROMOTED = "promoted", _("Promoted")
        RETAINED = "retained", _("Retained")
        GRADUATED = "graduated", _("Graduated")

    # (school_id, …) keys and references in the database: mastery/citus.py
    year = models.ForeignKey(
        SchoolYear, on_delete=models.RESTRICT, related_name="promotions", db_constraint=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="promotions", db_constraint=False
    )
    from_grade = models.PositiveSmallIntegerField()
    to_grade = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Empty for a graduate (whose grade level is kept).")
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "year", "student"], name="promotion_one_per_year"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.year} · {self.get_outcome_display()}"
