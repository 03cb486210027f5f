"""The server's own requests to a district's provider (mastery.sso.fetch): a discovery document can
name any URL, and the server must not fetch one into its own network; discovery and keys are
cached, and a rotated key is fetched again. Sign-ins here go through the Django test client and
the real provider on loopback (tests/sso/oidc.py) driven over HTTP; the browser tests
(test_browser_sso.py) do the same flow in Chromium."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client as DjangoClient

from mastery.models import District, DistrictIdentityProvider, DistrictMembership
from mastery.sso import fetch, services
from mastery.tenancy import all_schools
from tests.factories import World, make_user, make_world
from tests.sso.oidc import Client, OIDCProvider

pytestmark = pytest.mark.django_db
DOMAIN = "lake-high.test"
CLIENT_ID = "mastery-gradebook"
CLIENT_SECRET = "fetch-test-client-secret-0123456789"


# --- The address checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/token",
        "https://[::1]:8443/jwks",
        "https://100.100.100.200/latest/meta-data/",  # shared address space (a cloud's metadata)
        "https://192.168.0.10/.well-known/openid-configuration",
        "http://accounts.google.com/.well-known/openid-configuration",  # not https
        "https://user:pass@login.example.org/token",
    ],
)
def test_a_provider_url_into_the_servers_network_is_refused(url, settings):
    settings.SSO_LOOPBACK_ISSUERS = False
    with pytest.raises(fetch.ProviderUnreachable):
        fetch.provider_address(url)
    with pytest.raises(fetch.ProviderUnreachable), fetch.ProviderSession() as session:
        session.get(url)


def test_loopback_only_where_the_operator_allows_it(settings):
    settings.SSO_LOOPBACK_ISSUERS = False
    with pytest.raises(fetch.ProviderUnreachable):
        fetch.provider_address("http://127.0.0.1:9000/")
    settings.SSO_LOOPBACK_ISSUERS = True
    assert fetch.provider_address("http://127.0.0.1:9000/") == ("127.0.0.1", "127.0.0.1")
    # Loopback is all it allows: the intranet stays out.
    with pytest.raises(fetch.ProviderUnreachable):
        fetch.provider_address("https://10.1.2.3/token")
    # An operator's own intranet provider, by name.
    settings.SSO_LOOPBACK_ISSUERS = False
    settings.SSO_ALLOWED_HOSTS = ["localhost"]
    assert fetch.provider_address("https://localhost:8443/")[0] == "localhost"


# --- A discovery document that points elsewhere -------------------------------------------------


class _Documents(BaseHTTPRequestHandler):
    documents: dict[str, Any] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = self.documents.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def document_server() -> Iterator[tuple[str, type[_Documents]]]:
    """A plain HTTP server on loopback that serves what a test puts in `documents`."""
    handler = type("Handler", (_Documents,), {"documents": {}, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def district(db) -> tuple[District, World]:
    found = District.objects.create(name="Lakeside Unified", slug="lakeside-usd")
    world = make_world("lake-high", students=1)
    world.school.district = found
    world.school.save()
    found.it = make_user("it@lakeside-usd.test", "Ivy IT")  # type: ignore[attr-defined]
    DistrictMembership.objects.create(district=found, user=found.it)  # type: ignore[attr-defined]
    return found, world


def _save(found: District, issuer: str, row: DistrictIdentityProvider | None = None):
    with all_schools():
        return services.provider_save(
            user=found.it,  # type: ignore[attr-defined]
            district=found,
            provider=row,
            kind="oidc",
            name="Lakeside Sign-In",
            issuer=issuer,
            client_id=CLIENT_ID,
            secret=CLIENT_SECRET if row is None else "",
            email_domains=[DOMAIN],
        )


def _login_path(row: DistrictIdentityProvider) -> str:
    return f"/sso/oidc/{row.provider_id}/login/"


def test_a_token_endpoint_inside_the_network_is_never_called(district, document_server):
    """The district's issuer answers discovery with endpoints on the metadata service and the
    intranet: the browser is sent to the authorization endpoint (the person's own browser), but
    the server fetches neither the token endpoint nor the keys, and says it could not sign in."""
    found, _ = district
    base, handler = document_server
    handler.documents["/.well-known/openid-configuration"] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": "http://169.254.169.254/latest/meta-data/iam/",
        "jwks_uri": "https://10.1.2.3/jwks",
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }
    row = _save(found, base)
    client = DjangoClient()
    started = client.post(_login_path(row))
    assert started.status_code == 302
    assert started["Location"].startswith(f"{base}/auth?")
    state = dict(p.split("=", 1) for p in urlsplit(started["Location"]).query.split("&"))["state"]

    answer = client.get(f"{_login_path(row)}callback/", {"code": "a-code", "state": state})
    assert answer.status_code == 400
    assert "could not be completed" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert SocialAccount.objects.count() == 0
    assert handler.seen == ["/.well-known/openid-configuration"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(lambda base: {"issuer": "https://other.example", "x": 1}, id="another issuer"),
        pytest.param(lambda base: {"issuer": base}, id="no endpoints"),
        pytest.param(lambda base: ["not", "a", "document"], id="not an object"),
        pytest.param(None, id="not found"),
    ],
)
def test_a_provider_without_its_discovery_answers_our_page_not_a_500(
    district, document_server, document: Callable[[str], Any] | None
):
    found, _ = district
    base, handler = document_server
    if document is not None:
        handler.documents["/.well-known/openid-configuration"] = document(base)
    row = _save(found, base)
    answer = DjangoClient().post(_login_path(row))
    assert answer.status_code == 502
    assert "could not be reached" in answer.content.decode()


def test_a_provider_that_is_down_answers_our_page_not_a_500(district):
    found, _ = district
    row = _save(found, "http://127.0.0.1:9")  # the discard port: nothing listens
    answer = DjangoClient().post(_login_path(row))
    assert answer.status_code == 502
    assert "could not be reached" in answer.content.decode()
    # A student whose browser asks for Spanish reads it in Spanish.
    answer = DjangoClient(headers={"Accept-Language": "es"}).post(_login_path(row))
    assert answer.status_code == 502
    assert "no se pudo contactar con el inicio de sesión de su distrito" in answer.content.decode()


# --- Cached discovery and keys, a rotated key ---------------------------------------------------


@pytest.fixture
def fetched(monkeypatch) -> list[str]:
    """Every URL mastery.sso.fetch fetched a document from (discovery, keys)."""
    urls: list[str] = []
    original = fetch._get_json

    def spy(url: str) -> Any:
        urls.append(url)
        return original(url)

    monkeypatch.setattr(fetch, "_get_json", spy)
    return urls


def _sign_in(row: DistrictIdentityProvider, idp: OIDCProvider, login: str) -> DjangoClient:
    client = DjangoClient()
    started = client.post(_login_path(row))
    assert started.status_code == 302, started.content
    back = urlsplit(idp.sign_in(started["Location"], login))
    answer = client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 302, answer.content.decode()
    return client


def test_discovery_and_keys_are_fetched_once_and_again_for_a_new_key(
    district, fetched, monkeypatch
):
    found, world = district
    row = _save(found, "http://127.0.0.1:9")
    callback = f"http://testserver{_login_path(row)}callback/"
    accounts = {
        "tess": {"sub": "tess-1", "email": world.teacher.email, "email_verified": True},
    }
    clients = [Client(CLIENT_ID, CLIENT_SECRET, callback)]
    with OIDCProvider(clients=clients, accounts=accounts) as idp:
        row = _save(found, idp.issuer, row)
        discovery = f"{idp.issuer}/.well-known/openid-configuration"
        first = _sign_in(row, idp, "tess")
        assert int(first.session["_auth_user_id"]) == world.teacher.pk
        jwks = fetch.discovery(idp.issuer)["jwks_uri"]
        assert fetched == [discovery, jwks]

        second = _sign_in(row, idp, "tess")
        assert int(second.session["_auth_user_id"]) == world.teacher.pk
        assert fetched == [discovery, jwks]  # nothing fetched again
        port = urlsplit(idp.issuer).port

    # The provider comes back on the same address with a new signing key (a key rotation).
    with OIDCProvider(clients=clients, accounts=accounts, port=port or 0) as idp:
        assert f"{idp.issuer}/.well-known/openid-configuration" == discovery
        # Within a minute of the last fetch a key id we do not know is refused, not fetched: a
        # stream of forged key ids cannot make us hammer the provider.
        client = DjangoClient()
        started = client.post(_login_path(row))
        back = urlsplit(idp.sign_in(started["Location"], "tess"))
        refused = client.get(f"{back.path}?{back.query}")
        assert refused.status_code == 400
        assert "_auth_user_id" not in client.session
        assert fetched == [discovery, jwks]

        # Later than that, the new key is fetched once and the sign-in goes through.
        monkeypatch.setattr(fetch, "KEYS_REFETCH_AFTER", 0)
        third = _sign_in(row, idp, "tess")
        assert int(third.session["_auth_user_id"]) == world.teacher.pk
        assert fetched == [discovery, jwks, jwks]


def test_an_endless_discovery_document_is_cut_off(district, document_server, settings):
    """An issuer whose discovery never ends (or is merely huge) costs at most the limit."""
    settings.SSO_MAX_RESPONSE_BYTES = 10_000
    found, _ = district
    base, handler = document_server
    handler.documents["/.well-known/openid-configuration"] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
        "padding": "x" * 20_000,
    }
    row = _save(found, base)
    answer = DjangoClient().post(_login_path(row))
    assert answer.status_code == 502
    assert "could not be reached" in answer.content.decode()


def test_key_set_entries_that_are_not_keys_are_left_out(document_server):
    base, handler = document_server
    good = {"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}
    handler.documents["/jwks"] = {"keys": ["junk", {"kty": "RSA"}, 7, good]}
    assert fetch.signing_keys(f"{base}/jwks", "k1") == {"keys": [good]}


def test_a_provider_clock_a_little_ahead_is_not_a_forgery(district):
    """Thirty seconds ahead: the token's iat is in our future, within the minute allowed."""
    found, world = district
    row = _save(found, "http://127.0.0.1:9")
    callback = f"http://testserver{_login_path(row)}callback/"
    accounts = {"tess": {"sub": "tess-1", "email": world.teacher.email, "email_verified": True}}
    with OIDCProvider(
        clients=[Client(CLIENT_ID, CLIENT_SECRET, callback)], accounts=accounts, clock_offset=30
    ) as idp:
        row = _save(found, idp.issuer, row)
        signed_in = _sign_in(row, idp, "tess")
    assert int(signed_in.session["_auth_user_id"]) == world.teacher.pk
