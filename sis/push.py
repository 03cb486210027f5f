"""Pushing a period's grades to an SIS that expects them (OneRoster 1.2 Gradebook, PUT by sourcedId).

For an SIS on the "vendor pushes" model: it issues us a client id and secret and a OneRoster
Gradebook endpoint; we take a token by the OAuth 2 client-credentials grant and PUT each object
to `{base}/lineItems/{sourcedId}` then `{base}/results/{sourcedId}` (putLineItem, putResult:
success 201; 200 and 204 are taken as success too), so the SIS knows a result's line item first.

Nothing is sent twice: what the SIS accepted is kept per sourcedId with a hash of what was sent
(SisAccepted), written as soon as the SIS says yes; a push sends only what is new or changed since,
so a retry after a failure half-way, or the same push run again, sends only what is still owed.

Outcomes: a 4xx answer about one object (400, 404, 409, 422) is that object refused — kept with
the SIS's own words (imsx_description) and the push goes on; a 401 takes a fresh token once; an
unreachable SIS, 429 or 5xx stops the push, which is tried again later (sis.tasks, with backoff,
Retry-After honoured). The client secret is decrypted only here, sent only to the token address,
and never logged or audited.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.utils import timezone

from gradebook.models import GradingPeriod
from mastery.models import School
from mastery.standards.fetch import FetchError, PinnedHTTPSConnection, checked_address
from sis.credentials import secret_decrypt
from sis.gradebook import Gradebook, href_at, period_gradebook, with_hrefs
from sis.models import SisAccepted, SisConnection, SisDelivery, SisDeliveryItem

CREATEPUT_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput"
SUCCESS = (200, 201, 204)
TRANSIENT = (408, 425, 429, 500, 502, 503, 504)
# What is sent, in order (a result's line item first), and where each goes. Categories and
# score scales travel in the files and the pull; an SIS that is pushed to keeps its own.
ENTITIES = (
    ("lineItems", "lineItem", "line_items"),
    ("results", "result", "results"),
)


class PushStopped(Exception):
    """The SIS could not take the push now (unreachable, busy, failing): try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PushRefused(Exception):
    """The SIS will not take this push at all (credentials refused, no secret): not retried."""


@dataclass
class Outgoing:
    entity: str  # the plural: categories, scoreScales, lineItems, results
    singular: str
    sourced_id: str
    body: dict[str, Any]
    fingerprint: str


@dataclass
class Plan:
    """What a push of the period would send now, and what it would leave (already accepted)."""

    book: Gradebook
    send: list[Outgoing] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        by_entity = {entity: 0 for entity, _, _ in ENTITIES}
        for item in self.send:
            by_entity[item.entity] += 1
        return {
            **self.book.counts(),
            "to_send": len(self.send),
            "unchanged": self.unchanged,
            **{f"to_send_{k}": v for k, v in by_entity.items()},
        }


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def push_plan(*, school: School, period: GradingPeriod, connection: SisConnection) -> Plan:
    """The period's objects, and which of them the SIS has not yet accepted as they are now."""
    book = period_gradebook(school=school, period=period)
    accepted = {
        (entity, sid): fp
        for entity, sid, fp in SisAccepted.objects.filter(
            school=school, connection=connection
        ).values_list("entity", "sourced_id", "fingerprint")
    }
    plan = Plan(book=book)
    base = connection.base_url.rstrip("/")
    href = href_at(base, base.replace("/gradebook/", "/rostering/"))
    for entity, singular, attribute in ENTITIES:
        for record in getattr(book, attribute):
            body = with_hrefs(record, href)
            fingerprint = _fingerprint(body)
            if accepted.get((entity, record["sourcedId"])) == fingerprint:
                plan.unchanged += 1
                continue
            plan.send.append(Outgoing(entity, singular, record["sourcedId"], body, fingerprint))
    return plan


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.SIS_PUSH_CA_FILE:
        context.load_verify_locations(cafile=settings.SIS_PUSH_CA_FILE)
    return context


class SisHttp:
    """HTTPS to the SIS only: each URL checked as the CASE fetch checks one (https, public
    addresses unless the host is in SIS_PUSH_ALLOWED_HOSTS, the checked address pinned)."""

    def __init__(self) -> None:
        self.context = _ssl_context()

    def request(
        self, method: str, url: str, *, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            host, address, port = checked_address(url, settings.SIS_PUSH_ALLOWED_HOSTS)
        except FetchError as exc:
            raise PushRefused(str(exc)) from exc
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = PinnedHTTPSConnection(
            host, address, port, timeout=settings.SIS_PUSH_TIMEOUT, context=self.context
        )
        try:
            connection.request(method, target, body=body, headers={"Host": parts.netloc, **headers})
            response = connection.getresponse()
            data = response.read(1_000_000)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except (OSError, http.client.HTTPException) as exc:
            raise PushStopped(f"The SIS could not be reached: {exc}") from exc
        finally:
            connection.close()


def _describe(status: int, data: bytes) -> str:
    """The SIS's own words for a refusal: imsx_description where it sent the binding's payload."""
    try:
        payload = json.loads(data or b"{}")
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        words = payload.get("imsx_description") or payload.get("error_description")
        if isinstance(words, str) and words:
            return f"{status}: {words}"[:500]
    text = data.decode("utf-8", "replace").strip()
    return f"{status}: {text}"[:500] if text else f"The SIS answered {status}."


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after", "")
    return float(raw) if raw.isdigit() else None


class Pusher:
    def __init__(self, connection: SisConnection, http: SisHttp | None = None) -> None:
        self.connection = connection
        self.http = http or SisHttp()
        self._token: str | None = None

    def token(self, *, fresh: bool = False) -> str:
        if self._token and not fresh:
            return self._token
        secret = secret_decrypt(self.connection.secret_encrypted)
        if secret is None:
            raise PushRefused(
                "The SIS client secret can no longer be read (the key changed): enter it again."
            )
        basic = base64.b64encode(f"{self.connection.client_id}:{secret}".encode()).decode()
        form = {
            "grant_type": "client_credentials",
            "scope": self.connection.scope or CREATEPUT_SCOPE,
        }
        status, headers, data = self.http.request(
            "POST",
            self.connection.token_url,
            body=urlencode(form).encode(),
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        if status in TRANSIENT:
            raise PushStopped(_describe(status, data), _retry_after(headers))
        if status != 200:
            raise PushRefused(f"The SIS refused our credentials ({_describe(status, data)}).")
        try:
            token = json.loads(data)["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PushRefused("The SIS's token answer has no access_token.") from exc
        self._token = str(token)
        return self._token

    def put(self, item: Outgoing) -> tuple[int, dict[str, str], bytes]:
        url = f"{self.connection.base_url.rstrip('/')}/{item.entity}/{item.sourced_id}"
        body = json.dumps({item.singular: item.body}).encode()
        for attempt in (1, 2):
            status, headers, data = self.http.request(
                "PUT",
                url,
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token(fresh=attempt == 2)}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            if status != 401:
                return status, headers, data
        raise PushRefused(f"The SIS refused our token ({_describe(status, data)}).")


def push_run(*, school: School, delivery: SisDelivery, http: SisHttp | None = None) -> SisDelivery:
    """Send what the SIS has not yet accepted; record each object's outcome on `delivery`.

    Raises PushStopped when the SIS cannot take it now (the task retries). Every acceptance is
    saved the moment it comes, so whatever happens next, it is not sent again.
    """
    connection = SisConnection.objects.filter(school=school).first()
    if connection is None:
        raise PushRefused("No SIS connection is set up for this school.")
    period = GradingPeriod.objects.get(school=school, pk=delivery.period_id)
    plan = push_plan(school=school, period=period, connection=connection)
    counts = {**delivery.counts, **plan.book.counts()}
    counts.setdefault("sent", 0)
    counts.setdefault("refused", 0)
    counts.setdefault("unchanged", plan.unchanged)  # as it was when this push began
    delivery.counts = counts
    delivery.save(update_fields=["counts"])
    # A retry of this push does not offer the SIS again what it refused the first time.
    refused = set(
        SisDeliveryItem.objects.filter(
            school=school, delivery=delivery, outcome=SisDeliveryItem.Outcome.REFUSED
        ).values_list("entity", "sourced_id")
    )
    pusher = Pusher(connection, http)
    for item in plan.send:
        if (item.entity, item.sourced_id) in refused:
            continue
        status, headers, data = pusher.put(item)
        if status in TRANSIENT:
            delivery.counts = counts
            delivery.save(update_fields=["counts"])
            raise PushStopped(_describe(status, data), _retry_after(headers))
        accepted = status in SUCCESS
        if accepted:
            SisAccepted.objects.update_or_create(
                school=school,
                connection=connection,
                entity=item.entity,
                sourced_id=item.sourced_id,
                defaults={"fingerprint": item.fingerprint, "accepted_at": timezone.now()},
            )
        SisDeliveryItem.objects.create(
            school=school,
            delivery=delivery,
            entity=item.entity,
            sourced_id=item.sourced_id,
            label=plan.book.labels.get(item.sourced_id, "")[:300],
            outcome=SisDeliveryItem.Outcome.SENT if accepted else SisDeliveryItem.Outcome.REFUSED,
            http_status=status,
            message="" if accepted else _describe(status, data),
        )
        counts["sent" if accepted else "refused"] += 1
    delivery.counts = counts
    delivery.status = SisDelivery.Status.REFUSED if counts["refused"] else SisDelivery.Status.DONE
    delivery.finished_at = timezone.now()
    delivery.error = ""
    delivery.save(update_fields=["counts", "status", "finished_at", "error"])
    return delivery
