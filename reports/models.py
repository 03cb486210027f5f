"""Progress reports (batches of PDFs), guardian invitations, and students' goals."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gradebook.models import GradingPeriod, Section, Student
from mastery.models import LearningTarget, TenantModel

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


def digest(secret: str) -> str:
    return hashlib.sha256(secret.strip().upper().encode()).hexdigest()


class GuardianInvitation(TenantModel):
    """An invitation for a guardian to the family portal: a link and a short code, used once.

    Only digests of the token and code are stored; the plain values are shown once to the staff
    member who made the invitation (to send or print).
    """

    email = models.EmailField()
    full_name = models.CharField(max_length=200)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    students = models.JSONField(help_text=_("Ids of the students this guardian will see."))
    relationship = models.CharField(max_length=40, blank=True)
    token_digest = models.CharField(max_length=64, unique=True)
    code_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["school", "email"], name="invitation_by_email")]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @staticmethod
    def new_secrets() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
        return token, f"{code[:5]}-{code[5:]}"

    @property
    def usable(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class StudentGoal(TenantModel):
    """A goal a student sets on a learning target; teachers see it in the cell detail."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="goals")
    target = models.ForeignKey(LearningTarget, on_delete=models.CASCADE, related_name="goals")
    note = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    achieved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["school", "student", "target"], name="goal_by_pair")]

    def __str__(self) -> str:
        return f"{self.student} · {self.target.code}: {self.note}"


class ReportBatch(TenantModel):
    """A batch of progress reports, or of report cards of record as of a grading period (a
    section, a grade level or the school), rendered in Celery."""

    class Kind(models.TextChoices):
        PROGRESS = "progress", _("Progress reports")
        REPORT_CARD = "report_card", _("Report cards")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Rendering")
        ZIPPING = "zipping", _("Packing the zip")
        DONE = "done", _("Done")

    class Language(models.TextChoices):
        FAMILY = "family", _("Each family's language")
        EN = "en", _("English")
        ES = "es", _("Spanish")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PROGRESS)
    # Report cards: the grading period they are as of.
    # A composite key (school_id, period_id) in the database (migration 0005, mastery.citus).
    period = models.ForeignKey(
        GradingPeriod,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    grade_level = models.PositiveSmallIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.FAMILY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    reused = models.PositiveIntegerField(
        default=0, help_text=_("Reports whose data had not changed.")
    )
    zip_path = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Reports ({self.scope_label}) {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_report_card(self) -> bool:
        return self.kind == self.Kind.REPORT_CARD

    @property
    def scope_label(self) -> str:
        if self.section_id:
            scope = str(self.section)
        elif self.grade_level:
            scope = f"Grade {self.grade_level}"
        else:
            scope = "Whole school"
        if self.is_report_card:
            return f"Report cards, {self.period.name if self.period else ''}: {scope}"
        return scope

    @property
    def finished(self) -> bool:
        return self.status == self.Status.DONE

    @property
    def percent(self) -> int:
        return round(100 * (self.done + self.failed) / self.total) if self.total else 100


class ReportFile(TenantModel):
    """One student's rendered report in a batch (the file is shared by batches with the same data)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    batch = models.ForeignKey(ReportBatch, on_delete=models.CASCADE, related_name="files")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=8)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    fingerprint = models.CharField(
        max_length=64, blank=True, help_text=_("Digest of the report's data.")
    )
    path = models.CharField(max_length=300, blank=True)
    reused = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "batch", "student"], name="report_file_once_per_batch"
            ),
        ]
        indexes = [
            models.Index(
                fields=["school", "fingerprint"],
                condition=Q(status="done"),
                name="report_file_by_fingerprint",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.get_status_display()}"


class BaselineRun(TenantModel):
    """Mastery levels as they stood on one date, computed once for the dashboards' comparisons.

    "As of D" means: the current policy applied to the evidence dated on or before D (voided
    evidence left out). The data dialogue compares today with the start of the term and the start
    of each intervention cycle; those dates never change, so each is computed once (in Celery) and
    read by set-based queries. A policy change or evidence back-dated before D makes a run stale:
    a run keeps the policy versions it was computed under, and one whose versions are
    no longer the current ones is computed again when a dashboard next asks (reports/baselines.py);
    the nightly refresh recomputes those and the runs whose dates gained or lost evidence since.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DONE = "done", _("Done")

    as_of = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_at = models.DateTimeField(default=timezone.now)
    computed_at = models.DateTimeField(null=True, blank=True)
    pairs = models.PositiveIntegerField(default=0)
    # The policy versions it was computed under: the current GradingPolicy ids, ascending, "3,17".
    policy_versions = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "as_of"], name="baseline_one_per_date"),
        ]

    def __str__(self) -> str:
        return f"Levels as of {self.as_of}"


class MasterySnapshot(TenantModel):
    """One student × target as it stood on `as_of` (see BaselineRun). Derived data: recomputable."""

    as_of = models.DateField()
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(LearningTarget, on_delete=models.CASCADE, related_name="+")
    score = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    level = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    mastered = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "as_of", "student", "target"], name="snapshot_one_per_pair"
            ),
        ]


class SchoolFigures(TenantModel):
    """One school's row of its district's page, computed in Celery (reports.dashboards.district).

    Counting a whole district in one request took minutes on the benchmark's 25 schools (18
    million evidence rows); one school takes about 3 s in the background. The district page reads
    these rows, shows when each was computed, and queues a new computation for a school whose row
    is older than an hour (or of another day), so what it shows is never more than that behind.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DONE = "done", _("Done")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_at = models.DateTimeField(default=timezone.now)
    computed_at = models.DateTimeField(null=True, blank=True)
    as_of = models.DateField(null=True, blank=True, help_text=_("The day the figures count to."))
    figures = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school"], name="school_figures_one_per_school"),
        ]

    def __str__(self) -> str:
        return f"District figures of {self.school_id} as of {self.as_of}"
