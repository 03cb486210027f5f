"""Sending built mails: each one claimed, handed to the mail backend, and marked, one at a time
and each mark in its own transaction (the caller holds no transaction: a task, a command).

Exactly once: a mail is claimed (`pending` → `sending`) by a conditional UPDATE before it is
handed over, and marked `sent` right after. Two workers never both claim one mail; a task
delivered twice finds nothing pending to claim. A worker killed between the claim and the mark
leaves the mail `sending`: it may have gone out, so it is never sent again, and the school's
page shows it as unconfirmed.

Checked again at the moment of sending (one query each for the whole batch): the guardianship of
every child the mail is about (a custody change since the mail was built stops it), the person's
account (an address the owner changed since is the one used), and their choices (someone who
stopped alerts since gets nothing).
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.utils import timezone

from alerts.builder import guardian_pairs
from alerts.models import AlertDelivery, AlertItem, Frequency
from alerts.preferences import choices_for
from alerts.writing import unsubscribe_url
from mastery.models import School, User

log = logging.getLogger(__name__)
Status = AlertDelivery.Status
# The server answered and did not take the mail: it was not sent (a bounce at the door).
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


@dataclass
class Sent:
    sent: int = 0
    failed: int = 0
    withheld: int = 0
    unconfirmed: int = 0


def _mark(delivery_id: int, status: str, **fields) -> int:
    """Move one mail on from `sending` (autocommit: its own transaction)."""
    return AlertDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
        status=status, **fields
    )


def _withhold(delivery: AlertDelivery, reason: str) -> int:
    return AlertDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
        status=Status.WITHHELD, error=reason
    )


def _reasons(school: School, deliveries: list[AlertDelivery]) -> dict[int, str]:
    """Why each mail that must not go out now must not (the checks at sending)."""
    allowed = guardian_pairs(
        school, ((d.recipient_id, s) for d in deliveries for s in d.student_ids)
    )
    people = {d.recipient_id for d in deliveries}
    users = {u.id: u for u in User.objects.filter(id__in=people).only("id", "email", "is_active")}
    for d in deliveries:
        # The owner changed their address (confirmed from the new one) since the mail was
        # written: it goes to the address the account has now.
        if d.recipient_id in users and users[d.recipient_id].email != d.address:
            d.address = users[d.recipient_id].email
    kinds: dict[int, set[str]] = defaultdict(set)
    for delivery_id, kind in AlertItem.objects.filter(
        school=school, delivery_id__in=[d.id for d in deliveries]
    ).values_list("delivery_id", "event__kind"):
        kinds[delivery_id].add(kind)
    choices = choices_for(people)
    reasons = {}
    for d in deliveries:
        user = users.get(d.recipient_id)
        if user is None or not user.is_active:
            reasons[d.id] = "The account is closed."
        elif any((d.recipient_id, s) not in allowed for s in d.student_ids):
            reasons[d.id] = "No longer a guardian of a child this mail is about."
        elif kinds[d.id] and all(
            choices[d.recipient_id].frequency(k) == Frequency.NEVER for k in kinds[d.id]
        ):
            reasons[d.id] = "The person stopped these alerts."
    return reasons


class AlertMessage(EmailMessage):
    """Headers kept on one line up to RFC 5322's 998 characters: folded at 78, a long
    List-Unsubscribe address would be MIME-encoded, and mail clients would not read it."""

    def message(self, *, policy=None):
        return super().message(policy=(policy or email.policy.default).clone(max_line_length=998))


def _message(delivery: AlertDelivery) -> EmailMessage:
    unsubscribe = unsubscribe_url(delivery.recipient_id)
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return AlertMessage(
        subject=delivery.subject,
        body=delivery.body,
        to=[delivery.address],
        headers={
            "Message-ID": make_msgid(f"alert.{delivery.school_id}.{delivery.pk}", domain=domain),
            "Auto-Submitted": "auto-generated",
            "Content-Language": delivery.language,
            # RFC 8058: a one-click POST to this address stops every alert.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def send_pending(school: School, *, limit: int | None = None) -> Sent:
    """Send the school's built mails, oldest first, `limit` (ALERTS_BATCH) per call."""
    limit = limit or settings.ALERTS_BATCH
    deliveries = list(
        AlertDelivery.objects.filter(school=school, status=Status.PENDING).order_by("id")[:limit]
    )
    result = Sent()
    if not deliveries:
        return result
    reasons = _reasons(school, deliveries)
    connection = mailers.default
    connection.open()  # a mail server that cannot be reached raises here: nothing claimed
    try:
        for delivery in deliveries:
            if delivery.id in reasons:
                result.withheld += _withhold(delivery, reasons[delivery.id])
                continue
            claimed = AlertDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
                status=Status.SENDING, claimed_at=timezone.now(), address=delivery.address
            )
            if not claimed:  # another worker has it
                continue
            message = _message(delivery)
            try:
                connection.send_messages([message])
            except REFUSED as exc:
                result.failed += _mark(delivery.pk, Status.FAILED, error=str(exc)[:500])
                continue
            except Exception as exc:
                # The server stopped answering mid-mail: it may have taken it. Left `sending`
                # (unconfirmed, never sent again); the rest of the batch waits for the next run.
                AlertDelivery.objects.filter(pk=delivery.pk).update(error=str(exc)[:500])
                result.unconfirmed += 1
                log.warning("Alert mail %s unconfirmed: %s", delivery.pk, exc)
                break
            status = getattr(message, "anymail_status", None)
            provider_id = getattr(status, "message_id", None) if status else None
            message_id = message.extra_headers["Message-ID"] if provider_id is None else provider_id
            result.sent += _mark(
                delivery.pk, Status.SENT, sent_at=timezone.now(), message_id=str(message_id)[:300]
            )
    finally:
        connection.close()
    return result
