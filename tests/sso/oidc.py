"""A real OpenID Connect provider on loopback for the SSO tests: node's oidc-provider 9.13.3, run
by tests/sso/provider/provider.mjs (its node_modules come from `npm ci --prefix
tests/sso/provider`, which `make test` runs).

    with OIDCProvider(
        clients=[Client("gradebook", "s3cret…", "http://127.0.0.1:8000/…/callback/")],
        accounts={"teacher": {"email": "t@a.example.org", "email_verified": True, "hd": "a.example.org"}},
    ) as idp:
        idp.issuer  # "http://127.0.0.1:<port>"
        callback = idp.sign_in(authorization_url, "teacher")  # …/callback/?code=…&state=…&iss=…
        # New claims for the next sign-in, without a restart:
        idp.set_account("teacher", email="new@a.example.org", email_verified=True)

The provider requires PKCE (S256) from every client, signs ID tokens with an RS256 key made at
start, and puts the scopes' claims (email, email_verified, hd, tid, name) into the ID token. An
account's `sub` is its login unless the account sets `sub`. Its dev interaction pages sign in any
known login with any password (a form with `login` and `password`, then a consent "Continue");
`sign_in()` drives them with urllib, and a browser test can drive them with Playwright (the login
page imports fonts from fonts.googleapis.com: route everything but loopback to abort).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from tests.sso.node import NodeServer

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
STARTUP_TIMEOUT = 20.0
# The `oidc_provider` fixture's client (tests/sso/conftest.py).
CLIENT_ID = "gradebook"
CLIENT_SECRET = "test-only-client-secret-0123456789"
# Never served: a test reads the code from the Location the provider redirects to.
REDIRECT_URI = "http://127.0.0.1:9/sso/callback/"


class ProviderError(RuntimeError):
    pass


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uri: str | tuple[str, ...]
    # "client_secret_post" or "client_secret_basic"
    token_endpoint_auth_method: str = "client_secret_post"

    def as_config(self) -> dict[str, Any]:
        uris = [self.redirect_uri] if isinstance(self.redirect_uri, str) else self.redirect_uri
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }


class OIDCProvider(NodeServer):
    """`node provider.mjs` on a free port of 127.0.0.1; a context manager (or start()/stop())."""

    name = "oidc-provider"
    error = ProviderError

    def __init__(
        self,
        clients: Iterable[Client] = (),
        accounts: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        clock_offset: int = 0,
        id_token_ttl: int = 3600,
        port: int = 0,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        """`clock_offset`: seconds the provider's clock runs ahead (< 0: behind) of this machine's;
        `id_token_ttl`: how long its ID tokens are valid; `port`: 0 picks a free one (a restart
        on the port of a stopped provider is the same issuer with a new signing key)."""
        self.clients: list[Client] = list(clients)
        self.accounts: dict[str, dict[str, Any]] = {
            login: dict(claims) for login, claims in (accounts or {}).items()
        }
        self.clock_offset = clock_offset
        self.id_token_ttl = id_token_ttl
        self.port = port
        super().__init__(startup_timeout)

    # --- configuration ------------------------------------------------------------------------
    def add_client(
        self,
        client_id: str,
        secret: str,
        redirect_uri: str | tuple[str, ...],
        token_endpoint_auth_method: str = "client_secret_post",
    ) -> Client:
        """Register a client; only before start(), as oidc-provider loads its clients once."""
        if self._process is not None:
            raise ProviderError("add clients before the provider starts")
        client = Client(client_id, secret, redirect_uri, token_endpoint_auth_method)
        self.clients.append(client)
        return client

    def set_account(self, login: str, **claims: Any) -> None:
        """Create or replace the account `login` with these claims (sub defaults to the login).
        Running or not: the provider reads the accounts file on every lookup, so the next token
        it issues carries the new claims."""
        self.accounts[login] = claims
        self._write_accounts()

    def remove_account(self, login: str) -> None:
        self.accounts.pop(login, None)
        self._write_accounts()

    def _write_accounts(self) -> None:
        if self._dir is None:
            return
        # Written aside, then renamed over: the provider never reads a half-written file.
        part = self._dir / "accounts.json.part"
        part.write_text(json.dumps(self.accounts, indent=1))
        os.replace(part, self._dir / "accounts.json")

    # --- process ------------------------------------------------------------------------------
    def start(self) -> OIDCProvider:
        if self._process is not None:
            raise ProviderError("already started")
        node = self._node(PROVIDER_DIR, "oidc-provider")
        self._dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        config = {
            "clients": [c.as_config() for c in self.clients],
            "accounts": "accounts.json",
            "clock_offset_seconds": self.clock_offset,
            "id_token_ttl_seconds": self.id_token_ttl,
        }
        (self._dir / "config.json").write_text(json.dumps(config, indent=1))
        self._write_accounts()
        self._launch(
            [node, "provider.mjs", str(self.port), str(self._dir / "config.json")], PROVIDER_DIR
        )
        return self

    @property
    def issuer(self) -> str:
        return self.base

    def __enter__(self) -> OIDCProvider:
        return self.start()

    # --- helpers for tests --------------------------------------------------------------------
    def get_json(self, path: str) -> Any:
        """GET a JSON document of the provider, e.g. "/.well-known/openid-configuration"."""
        with urllib.request.urlopen(self.issuer + path, timeout=10) as response:
            return json.load(response)

    @property
    def configuration(self) -> dict[str, Any]:
        return self.get_json("/.well-known/openid-configuration")

    def sign_in(self, authorization_url: str, login: str, password: str = "any") -> str:
        """Play the user at the dev interaction pages: open `authorization_url` (the /auth URL a
        client redirected to), sign in as `login`, consent, and return the URL the provider then
        redirects to (the client's redirect_uri with ?code=…&state=…&iss=…, or ?error=…). That
        URL is not requested. Each call is a fresh browser (no provider session cookie)."""
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        url, body, signed_in = authorization_url, None, False
        for _ in range(20):
            status, location, html = _request(opener, url, body)
            if location is not None:
                url, body = urllib.parse.urljoin(url, location), None
                if not url.startswith(self.issuer + "/"):
                    return url
                continue
            if status != 200:
                raise ProviderError(f"{url} answered {status}:\n{html}")
            form = _form(html)
            if form is None:
                raise ProviderError(f"no form at {url}:\n{html}")
            fields = dict(form.fields)
            if fields.get("prompt") == "login":
                if signed_in:
                    raise ProviderError(f"the provider did not sign in {login!r}:\n{html}")
                fields.update(login=login, password=password)
                signed_in = True
            url, body = urllib.parse.urljoin(url, form.action), urllib.parse.urlencode(fields)
        raise ProviderError(f"no redirect out of the provider after 20 steps (last: {url})")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _request(
    opener: urllib.request.OpenerDirector, url: str, body: str | None
) -> tuple[int, str | None, str]:
    data = body.encode() if body is not None else None
    try:
        response = opener.open(urllib.request.Request(url, data=data), timeout=10)
    except urllib.error.HTTPError as error:  # 3xx (not followed) and 4xx/5xx
        response = error
    with response:
        html = response.read().decode("utf-8", "replace")
        return response.status, response.headers.get("Location"), html


@dataclass
class _Form:
    action: str
    fields: list[tuple[str, str]]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and self.form is None:
            self.form = _Form(a.get("action") or "", [])
        elif tag == "input" and self.form is not None and a.get("name"):
            self.form.fields.append((a["name"] or "", a.get("value") or ""))


def _form(html: str) -> _Form | None:
    parser = _FormParser()
    parser.feed(html)
    return parser.form
