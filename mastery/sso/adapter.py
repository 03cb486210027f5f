"""How allauth signs a person in through a district's provider (docs/sso.md): the apps come from
the districts' own settings, and every sign-in passes the identity rule first.

The checks, in `pre_social_login`, before allauth logs anyone in:
1. the sign-in is a login (allauth's "connect" would attach the identity to whoever is signed in);
2. the provider is one of a district's, in use; the ID token (its signature, audience and expiry
   already checked: mastery.sso.provider) was issued by that provider's issuer and carries the
   nonce this browser's request was sent with; Google's hosted domain (hd) and Entra's tenant
   (tid) are the district's;
3. an account already linked to this provider and subject signs in as itself — never matched by
   email again (an email claim is not proof: Entra's "nOAuth") — while it is still one of the
   district's staff or students;
4. otherwise, a first sign-in links an existing account only by a verified email in the
   district's domains, of a person of that district and of no other, not yet linked to another
   subject of this provider; it is recorded in the account's trail. Nothing else ever is: no
   account is made (signup is closed), no school membership is made.
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialApp
from allauth.socialaccount.providers.base.constants import AuthError
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _

from mastery import accounts
from mastery.models import AuditEvent, DistrictIdentityProvider
from mastery.sso import fetch, services

log = logging.getLogger(__name__)


# Where a SAML provider may put the person's address and stable identifier: the OASIS, LDAP and
# Microsoft names. Without an identifier attribute, the NameID is the subject (ask the provider for
# a persistent one: a transient NameID is new at every sign-in and would never match again).
SAML_ATTRIBUTES = {
    "uid": [
        "urn:oasis:names:tc:SAML:attribute:subject-id",
        "urn:oasis:names:tc:SAML:attribute:pairwise-id",
    ],
    "email": [
        "email",
        "mail",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ],
}


def _app(provider: DistrictIdentityProvider) -> SocialApp:
    """An unsaved allauth app built from the district's row: allauth's own table (which would
    hold the secret in plain text) stays empty."""
    if provider.kind == DistrictIdentityProvider.Kind.SAML:
        return SocialApp(
            provider="saml",
            provider_id=provider.provider_id,
            name=provider.name,
            client_id=provider.provider_id,  # allauth's SAML URLs name the app by it
            settings={
                "idp": {
                    "entity_id": provider.issuer,
                    "sso_url": provider.sso_url,
                    "x509cert": provider.certificate,
                },
                "attribute_mapping": SAML_ATTRIBUTES,
                "advanced": {
                    # python3-saml refuses a response with no signature at all; the response or
                    # its assertion signed by the certificate is what the providers send.
                    "want_assertion_signed": False,
                    "want_message_signed": False,
                    "want_name_id": True,
                    # Asked for in our request and metadata; anything else is refused
                    # (mastery.sso.provider.DistrictSAMLProvider).
                    "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                    "reject_idp_initiated_sso": True,  # only answers to our own requests
                    "reject_deprecated_algorithm": True,
                    "strict": True,
                    # The test client's host, "testserver", has no dot; only where loopback
                    # providers are allowed at all.
                    "allow_single_label_domains": bool(settings.SSO_LOOPBACK_ISSUERS),
                },
            },
        )
    return SocialApp(
        provider="openid_connect",
        provider_id=provider.provider_id,
        name=provider.name,
        client_id=provider.client_id,
        secret=services.secret_of(provider) or "",
        settings={
            "server_url": provider.issuer,
            "oauth_pkce_enabled": True,
            "fetch_userinfo": False,
            "scope": ["openid", "email", "profile"],
        },
    )


def _saml_claims(extra_data: dict[str, Any]) -> dict[str, Any]:
    """The address a SAML provider vouched for, as the OpenID Connect checks read it: its signed
    assertion (checked by python3-saml against the district's certificate) is the vouching."""
    for name in SAML_ATTRIBUTES["email"]:
        values = extra_data.get(name) or []
        if values and isinstance(values[0], str):
            return {"email": values[0], "email_verified": True}
    return {}


def refusal_page(request, reason: str, *, status: int = 403, failed: bool = False):
    """Our page for every sign-in that did not happen (allauth's own are not mounted)."""
    return render(request, "sso/refused.html", {"reason": reason, "failed": failed}, status=status)


def not_completed(request):
    """A sign-in that broke on the way (expired, tampered, answered by something else)."""
    reason = _(
        "it could not be completed (it may have expired, or been started in another "
        "window). Start again from the login page"
    )
    return refusal_page(request, reason, status=400, failed=True)


def refuse(request, reason: str, status: int = 403) -> ImmediateHttpResponse:
    log.info("District sign-in refused: %s", reason)
    return ImmediateHttpResponse(refusal_page(request, reason, status=status))


class DistrictSsoAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None) -> list[SocialApp]:
        rows = DistrictIdentityProvider.objects.filter(enabled=True).order_by("id")
        apps = [_app(row) for row in rows]
        if provider:
            apps = [a for a in apps if provider in (a.provider, a.provider_id)]
        if client_id:
            apps = [a for a in apps if a.client_id == client_id]
        return apps

    def get_requests_session(self) -> fetch.ProviderSession:
        return fetch.ProviderSession()

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return False

    def populate_user(self, request, sociallogin, data):
        # allauth calls this on every sign-in, before pre_social_login, to suggest an unsaved
        # user: it stays empty (nothing is copied from the claims) and is never saved.
        return sociallogin.user

    def save_user(self, request, sociallogin, form=None):  # never: no account is made here
        raise refuse(request, _("no account is made by signing in"))

    def validate_disconnect(self, account, accounts_left) -> None:
        raise PermissionDenied("A district sign-in is not disconnected here.")

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        log.warning("District sign-in failed at %s: %s %r", provider, error, exception)
        # allauth's own error and "cancelled" pages are not ours (nor mounted): say it on ours.
        if error == AuthError.CANCELLED:
            reason = _("it was cancelled at your district's sign-in page")
            raise ImmediateHttpResponse(refusal_page(request, reason, status=400, failed=True))
        raise ImmediateHttpResponse(not_completed(request))

    def pre_social_login(self, request, sociallogin) -> None:
        provider = services.provider_by_id(sociallogin.account.provider)
        if provider is None:
            raise refuse(request, _("this sign-in is no longer in use"))
        if sociallogin.state.get("process") != "login":
            raise refuse(request, _("a district sign-in only signs in"))
        if provider.kind == DistrictIdentityProvider.Kind.SAML:
            # python3-saml checked the signature, issuer, audience, destination and lifetime;
            # allauth the InResponseTo against this browser's own request.
            claims = _saml_claims(sociallogin.account.extra_data)
        else:
            claims = self._oidc_claims(request, sociallogin, provider)
        district = provider.district
        if sociallogin.is_existing:
            refusal = accounts.sso_refusal(district=district, user=sociallogin.user)
            if refusal:
                raise refuse(request, refusal)
            return
        self._first_link(request, sociallogin, provider, claims)

    def _oidc_claims(self, request, sociallogin, provider) -> dict[str, Any]:
        claims: dict[str, Any] = sociallogin.account.extra_data.get("id_token") or {}
        if claims.get("iss") != provider.issuer:
            raise refuse(request, _("the token was not issued by the district's provider"))
        nonce = sociallogin.state.get("nonce")
        if not nonce or claims.get("nonce") != nonce:
            raise refuse(request, _("the token does not answer this sign-in"))
        if provider.hosted_domain and claims.get("hd") != provider.hosted_domain:
            raise refuse(request, _("the account is not in the district's Google Workspace"))
        if provider.tenant_id and claims.get("tid") != provider.tenant_id:
            raise refuse(request, _("the account is not in the district's Microsoft tenant"))
        return claims

    def _first_link(self, request, sociallogin, provider, claims: dict[str, Any]) -> None:
        email = str(claims.get("email") or "").strip().lower()
        # Entra sends no email_verified: its tenant (checked above) and the district's domains
        # vouch for the address instead.
        verified = claims.get("email_verified") is True or (
            provider.kind == DistrictIdentityProvider.Kind.ENTRA and bool(provider.tenant_id)
        )
        if not email or not verified:
            raise refuse(request, _("the provider did not vouch for an email address"))
        if email.rpartition("@")[2] not in provider.email_domains:
            raise refuse(request, _("the email address is not in one of the district's domains"))
        user = accounts.district_person(district=provider.district, email=email)
        if user is None:
            raise refuse(request, _("no account of the district has this email address"))
        refusal = accounts.sso_refusal(district=provider.district, user=user)
        if refusal:
            raise refuse(request, refusal)
        if SocialAccount.objects.filter(provider=provider.provider_id, user=user).exists():
            raise refuse(
                request,
                _("this account is already linked to another identity of the district's provider"),
            )
        sociallogin.connect(request, user)
        accounts.credential_record(
            user=user,
            action=AuditEvent.Action.LINK,
            summary=f"signed in with {provider.name} for the first time; linked to it",
            actor=user,
            source="sso",
        )
