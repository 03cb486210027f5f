"""Writes and reads of districts' sign-in: their identity providers and the password switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from allauth.socialaccount.models import SocialAccount
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.db import transaction
from django.utils import timezone

from mastery import audit, crypto
from mastery.models import AuditEvent, District, DistrictIdentityProvider, School, User
from mastery.sso import fetch

PURPOSE = "district-sso"
Kind = DistrictIdentityProvider.Kind
GOOGLE_ISSUER = "https://accounts.google.com"


class SsoError(ValueError):
    """What the district admin asked cannot be done; the message says why (field: where)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def entra_issuer(tenant_id: str) -> str:
    """Entra's issuer for one tenant (never the shared "common" one: its tokens name no tenant
    the district chose)."""
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def provider_by_id(provider_id: str) -> DistrictIdentityProvider | None:
    """The enabled provider behind allauth's provider id "district-<district>-<pk>"."""
    parts = provider_id.split("-")
    if len(parts) != 3 or parts[0] != "district" or not all(p.isdigit() for p in parts[1:]):
        return None
    return (
        DistrictIdentityProvider.objects.filter(
            district_id=int(parts[1]), pk=int(parts[2]), enabled=True
        )
        .select_related("district")
        .first()
    )


def secret_of(provider: DistrictIdentityProvider) -> str | None:
    return crypto.secret_decrypt(provider.secret_encrypted, purpose=PURPOSE)


def is_linked(provider: DistrictIdentityProvider) -> bool:
    return SocialAccount.objects.filter(provider=provider.provider_id).exists()


def _domains(text: str | list[str]) -> list[str]:
    items = text if isinstance(text, list) else text.replace(",", " ").split()
    domains = sorted({d.strip().lower().lstrip("@") for d in items if d.strip()})
    for domain in domains:
        if "." not in domain or "/" in domain or ":" in domain or " " in domain:
            raise SsoError(f"“{domain}” is not an email domain.", "email_domains")
    if not domains:
        raise SsoError("Name at least one email domain the provider vouches for.", "email_domains")
    return domains


def _browser_url(url: str, field: str) -> str:
    """An address the person's browser is sent to (a SAML sign-in URL): https, or loopback where
    the operator allows it."""
    url = url.strip()
    parts = urlsplit(url)
    if not parts.hostname or not (
        parts.scheme == "https"
        or (parts.scheme == "http" and fetch.loopback_allowed(parts.hostname))
    ):
        raise SsoError("Enter the provider's https:// sign-in address.", field)
    if "." not in parts.hostname and not fetch.loopback_allowed(parts.hostname):
        # python3-saml refuses a one-word host name: say it here, not at every sign-in.
        raise SsoError("Use the provider's full host name (adfs.district.example).", field)
    return url


def _certificate(text: str) -> str:
    """The SAML provider's signing certificate as PEM; a bare base64 body (as metadata files carry
    it) is taken too."""
    body = text.strip()
    if body and "-----BEGIN CERTIFICATE-----" not in body:
        body = (
            "-----BEGIN CERTIFICATE-----\n" + "".join(body.split()) + "\n-----END CERTIFICATE-----"
        )
    try:
        cert = x509.load_pem_x509_certificate(body.encode())
    except ValueError as exc:
        raise SsoError(
            "Paste the provider's signing certificate (PEM, -----BEGIN CERTIFICATE-----…).",
            "certificate",
        ) from exc
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_summary(pem: str) -> str:
    """“SHA-256 AB:CD…, valid until 2031-01-01”, for the district's page and its trail."""
    if not pem:
        return ""
    cert = x509.load_pem_x509_certificate(pem.encode())
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    pairs = ":".join(digest[i : i + 2] for i in range(0, 16, 2))
    return f"SHA-256 {pairs}…, valid until {cert.not_valid_after_utc:%Y-%m-%d}"


def _schools(district: District) -> list[int]:
    return list(School.objects.filter(district=district).values_list("id", flat=True))


def _record(district: District, user: User, action: str, summary: str, after: dict) -> None:
    """In the trail of every school of the district; never the secret."""
    audit.record_many(
        audit.event(
            school=school_id,
            action=action,
            object_type=AuditEvent.ObjectType.SCHOOL,
            summary=summary,
            after=after,
            actor=user,
        )
        for school_id in _schools(district)
    )


def _state(p: DistrictIdentityProvider) -> dict:
    return {
        "kind": p.kind,
        "name": p.name,
        "issuer": p.issuer,
        "client_id": p.client_id,
        "email_domains": p.email_domains,
        "hosted_domain": p.hosted_domain,
        "tenant_id": p.tenant_id,
        "sso_url": p.sso_url,
        "certificate": certificate_summary(p.certificate),
        "enabled": p.enabled,
    }


def _issuer(issuer: str) -> str:
    """An OpenID Connect issuer: https, not this machine's own services."""
    issuer = issuer.strip().rstrip("/")
    parts = urlsplit(issuer)
    loopback_allowed = fetch.loopback_allowed(parts.hostname)
    if not parts.hostname or (
        parts.scheme != "https" and not (parts.scheme == "http" and loopback_allowed)
    ):
        raise SsoError("The issuer must be an https:// address.", "issuer")
    if parts.hostname in fetch.LOOPBACK and not loopback_allowed:
        # The server itself fetches the issuer's discovery and keys: not its own services (every
        # fetch checks its address again: mastery.sso.fetch).
        raise SsoError("The issuer must be the provider's public address.", "issuer")
    return issuer


@transaction.atomic
def provider_save(
    *,
    user: User,
    district: District,
    provider: DistrictIdentityProvider | None,
    kind: str,
    name: str,
    issuer: str,
    client_id: str,
    secret: str,
    email_domains: str | list[str],
    hosted_domain: str = "",
    tenant_id: str = "",
    sso_url: str = "",
    certificate: str = "",
    enabled: bool = True,
) -> DistrictIdentityProvider:
    """Add or change a provider. The secret is kept encrypted (empty: keep the saved one). Once
    an account has signed in through it, its issuer stays: a new issuer is a new provider. A
    SAML provider has an entity ID for issuer, a sign-in URL and a certificate instead of a
    client."""
    if provider is not None and provider.district_id != district.pk:
        raise SsoError("No such provider.")
    hosted_domain = hosted_domain.strip().lower()
    tenant_id = tenant_id.strip().lower()
    if kind == Kind.GOOGLE:
        issuer = GOOGLE_ISSUER
        if not hosted_domain:
            raise SsoError("Google Workspace needs the hosted domain (hd).", "hosted_domain")
    elif kind == Kind.ENTRA:
        if not tenant_id:
            raise SsoError("Microsoft Entra ID needs the tenant id (tid).", "tenant_id")
        issuer = entra_issuer(tenant_id)
    if kind == Kind.SAML:
        issuer = issuer.strip()
        if not issuer:
            raise SsoError("Enter the identity provider's entity ID.", "issuer")
        sso_url = _browser_url(sso_url, "sso_url")
        certificate = _certificate(certificate)
        client_id, secret = "", ""
    else:
        issuer = _issuer(issuer)
        sso_url, certificate = "", ""
        if not client_id.strip():
            raise SsoError("Enter the client id the provider issued.", "client_id")
        if not secret and (provider is None or not provider.secret_encrypted):
            raise SsoError("Enter the client secret the provider issued.", "secret")
    if provider is not None and kind != provider.kind and is_linked(provider):
        raise SsoError(
            "People have signed in through this provider: its kind cannot change. Add the "
            "other kind as another provider.",
            "kind",
        )
    if provider is not None and issuer != provider.issuer and is_linked(provider):
        raise SsoError(
            "People have signed in through this provider: its issuer cannot change. Add the "
            "new issuer as another provider.",
            "issuer",
        )
    found = provider or DistrictIdentityProvider(district=district, created_by=user)
    before = _state(found) if provider else None
    found.kind = kind
    found.name = name.strip()[:80] or dict(Kind.choices)[kind]
    found.issuer = issuer
    found.client_id = client_id.strip()
    found.email_domains = _domains(email_domains)
    found.hosted_domain = hosted_domain
    found.tenant_id = tenant_id
    found.sso_url = sso_url
    found.certificate = certificate
    found.enabled = enabled
    if kind == Kind.SAML:
        found.secret_encrypted = ""
    elif secret:
        found.secret_encrypted = crypto.secret_encrypt(secret, purpose=PURPOSE)
    found.save()
    after = _state(found)
    changed = "added" if before is None else "changed"
    summary = f"District sign-in {changed}: {found.name} ({found.issuer})"
    if secret and before is not None:
        summary += ", new client secret"
    _record(
        district,
        user,
        AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE,
        summary,
        after,
    )
    return found


@transaction.atomic
def password_signin_set(*, user: User, district: District, allowed: bool) -> District:
    """Turn password sign-in on or off for the district's staff and students."""
    if (
        not allowed
        and not DistrictIdentityProvider.objects.filter(district=district, enabled=True).exists()
    ):
        raise SsoError(
            "Add an identity provider before turning password sign-in off, or nobody can sign in.",
            "password_signin",
        )
    if district.password_signin != allowed:
        District.objects.filter(pk=district.pk).update(password_signin=allowed)
        district.password_signin = allowed
        state = "on" if allowed else "off"
        _record(
            district,
            user,
            AuditEvent.Action.UPDATE,
            f"Password sign-in for staff and students turned {state}",
            {"password_signin": allowed, "at": timezone.now().isoformat()},
        )
    return district


def providers_for(*, district_id: int | None) -> list[DistrictIdentityProvider]:
    if district_id is None:
        return []
    return list(
        DistrictIdentityProvider.objects.filter(district_id=district_id, enabled=True).order_by(
            "name", "id"
        )
    )


def providers_for_email(email: str) -> list[DistrictIdentityProvider]:
    """The enabled providers that vouch for this address's domain."""
    domain = email.strip().lower().rpartition("@")[2]
    if not domain:
        return []
    return [
        p
        for p in DistrictIdentityProvider.objects.filter(enabled=True).select_related("district")
        if domain in p.email_domains
    ]
