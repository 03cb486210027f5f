"""Writes of the SIS page: pull clients, the push connection, and each delivery of a period."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken

from gradebook.models import GradingPeriod
from mastery import audit
from mastery.models import AuditEvent, District, School, User
from sis.credentials import secret_encrypt
from sis.csv_binding import bundle_files, bundle_zip
from sis.gradebook import period_gradebook
from sis.models import SisClient, SisConnection, SisDelivery
from sis.push import Plan, push_plan
from sis.tasks import push_period

SIS = AuditEvent.ObjectType.SIS
IN_FLIGHT = (SisDelivery.Status.QUEUED, SisDelivery.Status.RUNNING, SisDelivery.Status.RETRYING)


class SisError(ValueError):
    """What the admin asked cannot be done; the message says why."""


@transaction.atomic
def client_create(
    *,
    user: User,
    school: School,
    name: str,
    district: District | None = None,
) -> tuple[SisClient, str]:
    """A pull client for this school, or for its whole district (`district`: district admins
    only, checked by the view). Returns the client and its secret, shown once: only a hash of
    the secret is kept (django-oauth-toolkit hashes client secrets on save)."""
    name = name.strip()
    if not name:
        raise SisError("Give the client a name (which SIS uses it).")
    secret = secrets.token_urlsafe(48)
    application = Application.objects.create(
        name=f"SIS: {name}"[:255],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=True,
        redirect_uris="",
    )
    client = SisClient.objects.create(
        application=application,
        name=name[:80],
        district=district,
        for_school=None if district else school,
        created_by=user,
    )
    scope = f"district {district.name}" if district else "this school"
    audit.record(
        school=school,
        action=AuditEvent.Action.CREATE,
        object_type=SIS,
        object_id=client.pk,
        summary=f"SIS pull client “{client.name}” made for {scope}",
        actor=user,
    )
    return client, secret


@transaction.atomic
def client_revoke(*, user: User, school: School, client: SisClient) -> SisClient:
    """Cut the client off at once: its tokens go, its secret is replaced by one nobody knows (so
    the token endpoint gives it no new token), and the binding refuses it as revoked."""
    if client.revoked_at is not None:
        return client
    application = client.application
    application.client_secret = secrets.token_urlsafe(48)
    application.save(update_fields=["client_secret"])
    RefreshToken.objects.filter(application=application).delete()
    AccessToken.objects.filter(application=application).delete()
    client.revoked_at = timezone.now()
    client.revoked_by = user
    client.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(
        school=school,
        action=AuditEvent.Action.REVOKE,
        object_type=SIS,
        object_id=client.pk,
        summary=f"SIS pull client “{client.name}” revoked",
        actor=user,
    )
    return client


@transaction.atomic
def connection_save(
    *,
    user: User,
    school: School,
    name: str,
    base_url: str,
    token_url: str,
    client_id: str,
    secret: str,
    scope: str = "",
) -> SisConnection:
    """Set where pushes go. An empty `secret` keeps the one saved before. The audit trail says
    what changed, never the secret."""
    existing = SisConnection.objects.filter(school=school).first()
    for label, url in (("OneRoster Gradebook address", base_url), ("token address", token_url)):
        if not url.startswith("https://"):
            raise SisError(f"The {label} must start with https://.")
    if not secret and existing is None:
        raise SisError("Enter the client secret the SIS issued.")
    connection = existing or SisConnection(school=school, created_by=user)
    connection.name = name.strip()[:80] or "SIS"
    connection.base_url = base_url.strip().rstrip("/")
    connection.token_url = token_url.strip()
    connection.client_id = client_id.strip()
    connection.scope = scope.strip()
    if secret:
        connection.secret_encrypted = secret_encrypt(secret)
    connection.updated_at = timezone.now()
    connection.save()
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE if existing else AuditEvent.Action.CREATE,
        object_type=SIS,
        object_id=connection.pk,
        summary=f"SIS push set up: {connection.base_url} as client {connection.client_id}"
        + (" (new secret)" if secret and existing else ""),
        actor=user,
    )
    return connection


def files_export(
    *, user: User, school: School, period: GradingPeriod, mode: str
) -> tuple[SisDelivery, bytes]:
    """The period's OneRoster CSV bundle (a zip), recorded as a delivery of kind files."""
    book = period_gradebook(school=school, period=period)
    if not book.results:
        raise SisError(f"No marks have been posted for {period.name} yet.")
    data = bundle_zip(bundle_files(book, mode=mode))
    with transaction.atomic():
        delivery = SisDelivery.objects.create(
            school=school,
            period=period,
            kind=SisDelivery.Kind.FILES,
            status=SisDelivery.Status.DONE,
            requested_by=user,
            finished_at=timezone.now(),
            counts={**book.counts(), "mode": mode},
        )
        audit.record(
            school=school,
            action=AuditEvent.Action.EXPORT,
            object_type=SIS,
            object_id=delivery.pk,
            summary=f"OneRoster grades of {period.name} downloaded ({len(book.results)} results)",
            actor=user,
        )
    return delivery, data


def dry_run(*, user: User, school: School, period: GradingPeriod) -> tuple[SisDelivery, Plan]:
    """What a push would send now, sending nothing; recorded so the page can show it."""
    connection = SisConnection.objects.filter(school=school).first()
    if connection is None:
        raise SisError("Set up the SIS connection first.")
    plan = push_plan(school=school, period=period, connection=connection)
    delivery = SisDelivery.objects.create(
        school=school,
        period=period,
        kind=SisDelivery.Kind.DRY_RUN,
        status=SisDelivery.Status.DONE,
        requested_by=user,
        finished_at=timezone.now(),
        counts=plan.counts(),
    )
    return delivery, plan


def push_start(*, user: User, school: School, period: GradingPeriod) -> tuple[SisDelivery, bool]:
    """Queue a push of the period (after the commit). A push of that period still under way is
    returned instead of a second one (a double click, two admins): (delivery, made_now)."""

    if not SisConnection.objects.filter(school=school).exists():
        raise SisError("Set up the SIS connection first.")
    with transaction.atomic():
        # One push per period at a time: the period row is the lock two clicks queue on.
        GradingPeriod.objects.select_for_update().filter(school=school, pk=period.pk).first()
        running = SisDelivery.objects.filter(
            school=school, period=period, kind=SisDelivery.Kind.PUSH, status__in=IN_FLIGHT
        ).first()
        if running is not None:
            return running, False
        delivery = SisDelivery.objects.create(
            school=school,
            period=period,
            kind=SisDelivery.Kind.PUSH,
            requested_by=user,
        )
        audit.record(
            school=school,
            action=AuditEvent.Action.SEND,
            object_type=SIS,
            object_id=delivery.pk,
            summary=f"Grades of {period.name} queued for the SIS",
            actor=user,
        )
        transaction.on_commit(
            lambda: push_period.delay(school_id=school.pk, delivery_id=delivery.pk)
        )
    return delivery, True
