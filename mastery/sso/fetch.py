"""The server's own requests to a district's provider: its discovery document, its signing keys and
the token exchange.

A district admin types the issuer, and the discovery document served there names every other
endpoint the server then calls. Each of those URLs is therefore checked as any URL an admin hands
the server (mastery.standards.fetch): https only; every address the host resolves to public,
unless the operator lists the host in SSO_ALLOWED_HOSTS (a district's own ADFS on the intranet);
the connection made to the address that was checked, the certificate verified for the host; each
redirect checked again; no proxy from the environment (it would connect somewhere unchecked). A
provider on this machine's loopback passes only with SSO_LOOPBACK_ISSUERS (the test suite's).

Discovery and keys are cached (SSO_METADATA_CACHE_SECONDS): a school's morning of sign-ins costs the
provider one fetch of each, not three requests per sign-in. A token signed with a key id the cached
keys do not hold fetches the keys again (the provider rotated them), at most once a minute, so that
forged key ids cannot turn us into a flood against the provider.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from requests.adapters import HTTPAdapter

from mastery.standards.fetch import FetchError, checked_address

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KEYS_REFETCH_AFTER = 60  # seconds; see the module's docstring
MAX_REDIRECTS = 3
CHUNK = 64 * 1024


class ProviderUnreachable(requests.ConnectionError):
    """A provider URL refused by the checks above, or a discovery document that is not one."""


def loopback_allowed(host: str | None) -> bool:
    return bool(settings.SSO_LOOPBACK_ISSUERS) and host in LOOPBACK


def provider_address(url: str) -> tuple[str, str]:
    """(host, the address to connect to) of a URL the server may fetch from a provider."""
    parts = urlsplit(url)
    if loopback_allowed(parts.hostname) and parts.scheme in ("http", "https"):
        return str(parts.hostname), str(parts.hostname)
    try:
        host, address, _port = checked_address(url, settings.SSO_ALLOWED_HOSTS)
    except FetchError as exc:
        raise ProviderUnreachable(f"{url}: {exc}") from exc
    return host, address


class CheckedAdapter(HTTPAdapter):
    """requests' transport with every URL checked and the connection pinned to the checked
    address (requests' documented hook for choosing the connection pool)."""

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host, address = provider_address(request.url or "")
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host
            pool_kwargs["assert_hostname"] = host
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def add_headers(self, request, **kwargs) -> None:
        # The connection goes to an address: the Host header still names the host.
        request.headers["Host"] = urlsplit(request.url or "").netloc


class ProviderSession(requests.Session):
    """What allauth's adapter hands out for every request to a provider (its
    `get_requests_session`)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.max_redirects = MAX_REDIRECTS
        adapter = CheckedAdapter(max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        """Every answer read whole here, but never more than SSO_MAX_RESPONSE_BYTES nor for
        longer than twice the timeout: a provider (or an address a district admin typed) that
        streams forever or trickles a byte at a time cannot hold a worker or its memory."""
        timeout = settings.SOCIALACCOUNT_REQUESTS_TIMEOUT
        kwargs.setdefault("timeout", timeout)
        kwargs["stream"] = True
        if settings.SSO_CA_FILE:
            kwargs.setdefault("verify", settings.SSO_CA_FILE)
        deadline = time.monotonic() + 2 * timeout
        response = super().request(method, url, *args, **kwargs)
        limit = settings.SSO_MAX_RESPONSE_BYTES
        body = bytearray()
        try:
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise ProviderUnreachable(f"{url} answered more than {limit:,} bytes.")
                if time.monotonic() > deadline:
                    raise ProviderUnreachable(f"{url} took too long to answer.")
        finally:
            response.close()
        # requests' own attributes for a body already read (what `response.content` fills).
        response._content = bytes(body)
        response._content_consumed = True
        return response


def _key(kind: str, url: str) -> str:
    return f"sso:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _get_json(url: str) -> Any:
    with ProviderSession() as session:
        response = session.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderUnreachable(f"{url} did not answer JSON.") from exc


def discovery(issuer: str) -> dict[str, Any]:
    """The provider's OpenID Connect discovery document, cached. Its `issuer` must be the one
    the district saved (OpenID Connect Discovery 1.0 §4.3), or none of it is used."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    found = cache.get(_key("discovery", url))
    if found is None:
        found = _get_json(url)
        if not isinstance(found, dict) or found.get("issuer") != issuer:
            raise ProviderUnreachable(f"{url} is not the discovery document of {issuer}.")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(name), str):
                raise ProviderUnreachable(f"{url} names no {name}.")
        cache.set(_key("discovery", url), found, settings.SSO_METADATA_CACHE_SECONDS)
    return found


def signing_keys(jwks_uri: str, kid: str) -> dict[str, Any]:
    """The provider's published keys (a JWKS), cached; fetched again when `kid` is not among
    them and the cached copy is more than a minute old."""
    key = _key("jwks", jwks_uri)
    cached = cache.get(key)
    if cached is not None:
        if any(k.get("kid") == kid for k in cached["jwks"].get("keys", [])):
            return cached["jwks"]
        if time.time() - cached["fetched"] < KEYS_REFETCH_AFTER:
            return cached["jwks"]
    found = _get_json(jwks_uri)
    if not isinstance(found, dict) or not isinstance(found.get("keys"), list):
        raise ProviderUnreachable(f"{jwks_uri} is not a key set.")
    # Only keys that name themselves: an entry that is not a key, or has no id, is never used.
    jwks = {
        "keys": [k for k in found["keys"] if isinstance(k, dict) and isinstance(k.get("kid"), str)]
    }
    cache.set(key, {"jwks": jwks, "fetched": time.time()}, settings.SSO_METADATA_CACHE_SECONDS)
    return jwks
