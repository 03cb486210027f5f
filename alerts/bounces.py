"""Bounces and complaints reported by a mail provider (django-anymail's tracking webhooks, at
/anymail/<provider>/tracking/): the mail is marked refused on the school's page, and a person
who reported a mail as spam or unsubscribed at the provider gets no more alerts.

The provider names a message, not a school: the lookup runs across schools (`all_schools`, one
of the few cross-school reads), by the message id the provider gave when it took the mail.
"""

from __future__ import annotations

from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from django.dispatch import receiver

from alerts.models import AlertDelivery
from alerts.services import alerts_stop
from mastery.tenancy import all_schools

REFUSED = {"bounced", "rejected", "failed"}
STOP = {"complained", "unsubscribed"}


@receiver(tracking, dispatch_uid="alerts.bounces")
def provider_event(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    if not event.message_id or event.event_type not in REFUSED | STOP:
        return
    with all_schools():
        found = list(
            AlertDelivery.objects.filter(message_id=event.message_id).select_related("recipient")
        )
        if event.event_type in REFUSED:
            reason = event.description or event.reject_reason or event.event_type
            AlertDelivery.objects.filter(id__in=[d.id for d in found]).update(
                status=AlertDelivery.Status.FAILED, error=f"{esp_name}: {reason}"[:500]
            )
        else:
            for recipient in {d.recipient for d in found}:
                alerts_stop(recipient)
