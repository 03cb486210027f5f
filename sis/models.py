"""Grades back to the student information system (docs/sis.md).

What leaves is the period's marks of record (marks.PostedMark, current versions), in the shapes of
the OneRoster 1.2 Gradebook service (sis.gradebook). Three ways out, one record of each:

- files: a OneRoster 1.2 CSV bundle downloaded by district IT (a `SisDelivery` of kind files);
- pull: the SIS reads the Gradebook REST binding with an OAuth 2 client-credentials token of a
  `SisClient` (django-oauth-toolkit's Application underneath), scoped to one school or one
  district, never more;
- push: a Celery task sends line items and results to the SIS's own OneRoster endpoint with the
  client id and secret the SIS issued (`SisConnection`, the secret encrypted); what the SIS has
  accepted is kept per sourcedId (`SisAccepted`), so a retry or a second push sends nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application

from gradebook.models import GradingPeriod
from mastery.models import District, School, TenantModel


class SisClient(models.Model):
    """An SIS service account that pulls grades through the Gradebook REST binding (read only).

    A global table, like the district memberships: a district's client belongs to no one school.
    Its school is therefore `for_school`, not `school` — a `school_id` column would put the row
    behind the row-level-security wall (mastery.rls), where a district client could not be found.
    Exactly one of `district` and `for_school` is set; a token reads that school or the district's
    schools and nothing else. Revoked clients stay, with when and by whom, for the record.
    """

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="sis_client"
    )
    name = models.CharField(_("name"), max_length=80, help_text=_("Which SIS, e.g. “Campus”."))
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.CASCADE, related_name="sis_clients"
    )
    for_school = models.ForeignKey(
        School, null=True, blank=True, on_delete=models.CASCADE, related_name="sis_clients"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(district__isnull=True, for_school__isnull=False)
                | Q(district__isnull=False, for_school__isnull=True),
                name="sis_client_one_scope",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def school_ids(self) -> list[int]:
        """The schools this client may read: its school, or every school of its district."""
        if self.for_school_id is not None:
            return [self.for_school_id]
        return list(
            School.objects.filter(district_id=self.district_id).values_list("id", flat=True)
        )


class SisConnection(TenantModel):
    """Where this school's grades are pushed: the SIS's OneRoster Gradebook endpoint and the
    client credentials the SIS issued. The secret is stored encrypted (sis.credentials), shown to
    no one after it is saved, and never written to the audit trail."""

    name = models.CharField(_("name"), max_length=80, help_text=_("Which SIS, e.g. “Campus”."))
    base_url = models.URLField(
        _("OneRoster Gradebook address"),
        max_length=300,
        help_text=_("The SIS's …/ims/oneroster/gradebook/v1p2 address (https)."),
    )
    token_url = models.URLField(_("token address"), max_length=300)
    client_id = models.CharField(_("client id"), max_length=200)
    secret_encrypted = models.TextField(editable=False)
    scope = models.CharField(_("scope"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school"], name="sis_connection_one_per_school")
        ]

    def __str__(self) -> str:
        return self.name


class SisDelivery(TenantModel):
    """One time a period's grades left (or were shown as what would leave): files downloaded, a
    push, or a dry run. Counts and outcome are kept for district IT's page."""

    class Kind(models.TextChoices):
        FILES = "files", _("Files downloaded")
        PUSH = "push", _("Pushed to the SIS")
        DRY_RUN = "dry_run", _("Dry run")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Sending")
        RETRYING = "retrying", _("Waiting to retry")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Done, some refused")
        FAILED = "failed", _("Failed")

    # (school_id, …) keys and references in the database: mastery/citus.py
    period = models.ForeignKey(
        GradingPeriod, on_delete=models.RESTRICT, related_name="+", db_constraint=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # {"categories": n, "scoreScales": n, "lineItems": n, "results": n, "sent": n,
    #  "unchanged": n, "refused": n}
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name_plural = "SIS deliveries"
        indexes = [models.Index(fields=["school", "period"], name="sis_delivery_by_period")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.period_id} · {self.get_status_display()}"


class SisDeliveryItem(TenantModel):
    """What happened to one record in one push: sent, or refused by the SIS (with its words)."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        REFUSED = "refused", _("Refused by the SIS")

    delivery = models.ForeignKey(
        SisDelivery, on_delete=models.CASCADE, related_name="items", db_constraint=False
    )
    entity = models.CharField(max_length=20)  # lineItems, results
    sourced_id = models.CharField(max_length=255)
    # What it is, for people: "Lopez, Ana · Q1: ALG.1" (a sourcedId means nothing to them).
    label = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["school", "delivery"], name="sis_item_by_delivery")]

    def __str__(self) -> str:
        return f"{self.entity} {self.sourced_id}: {self.outcome}"


class SisAccepted(TenantModel):
    """The SIS accepted this record, as it was then (a hash of what was sent): a push sends a
    record only when it is new or has changed since, so nothing is sent twice."""

    connection = models.ForeignKey(
        SisConnection, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    entity = models.CharField(max_length=20)
    sourced_id = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "connection", "entity", "sourced_id"], name="sis_accepted_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.sourced_id}"
