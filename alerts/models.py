"""Alerts (issue [17], docs/alerts.md): what each person chose to hear about, each piece of news
for each person, and each mail.

The outbox (`mastery.models.AlertEvent`) says what happened. The builder (alerts.builder) gives
every event its recipients (`AlertItem`: the student, their guardians, the section's teachers),
each due right away or at their digest, then turns due items into one mail per person
(`AlertDelivery`). Sending (alerts.sending) claims each mail before handing it to the mail backend
and marks it sent after, each in its own transaction: a mail is never sent twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mastery.models import AlertEvent, TenantModel


class Frequency(models.TextChoices):
    IMMEDIATE = "immediate", _("Right away")
    DAILY = "daily", _("In a daily summary")
    WEEKLY = "weekly", _("In a weekly summary")
    NEVER = "never", _("Never")


class AlertSettings(models.Model):
    """One person's choices, in every school they belong to (a person's, not a school's: a parent
    of children in two schools chooses once). No row means the defaults (alerts.preferences)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_settings"
    )
    # kind (AlertEvent.Kind) -> Frequency; a kind left out takes its default.
    frequencies = models.JSONField(default=dict, blank=True)
    details = models.BooleanField(
        _("show scores and comments in the mail"),
        default=False,
        help_text=_("Off: the mail says that something changed and links to the portal."),
    )
    quiet_from = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_until = models.TimeField(_("quiet hours until"), null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.user_id}"


class AlertDelivery(TenantModel):
    """One mail to one person on one channel: built (its words fixed, in their language), then
    claimed and sent exactly once. A mail still `sending` after its worker stopped is shown as
    unconfirmed and never sent again: it may have gone out, and a family must not get it twice."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        # SMS through a provider is designed in (a delivery per channel) but not built.
        SMS = "sms", _("Text message")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Unconfirmed")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Refused or bounced")
        WITHHELD = "withheld", _("Not sent")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    address = models.CharField(max_length=254)
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # The children this mail is about: the guardianship is checked again when it is sent.
    student_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["school", "id"],
                condition=Q(status="pending"),
                name="alert_delivery_pending",
            ),
            models.Index(fields=["school", "-created_at"], name="alert_delivery_recent"),
            models.Index(fields=["message_id"], name="alert_delivery_message"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.address} ({self.status})"


class AlertItem(TenantModel):
    """One event for one person: when it is due (right away, or their next digest) and the mail
    it went out in. Unique per event and person, so a build that runs twice adds nothing."""

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        MAILED = "mailed", _("In a mail")
        UNDONE = "undone", _("Undone before it was mailed")
        WITHHELD = "withheld", _("No longer theirs to hear")

    event = models.ForeignKey(
        AlertEvent, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    delivery = models.ForeignKey(
        AlertDelivery,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "event", "recipient"], name="alert_item_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["school", "due_at"], condition=Q(state="waiting"), name="alert_item_due"
            ),
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} for {self.recipient_id} ({self.state})"
