"""The loopback OpenID Connect provider itself (tests/sso/oidc.py): discovery, the signing keys, and
the authorization code flow with PKCE driven over plain HTTP. No database, no Django views."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.sso.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    Client,
    OIDCProvider,
    ProviderError,
)

BASIC_CLIENT_ID = "gradebook-basic"


@pytest.fixture
def oidc_clients() -> list[Client]:
    return [
        Client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI),
        Client(BASIC_CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "client_secret_basic"),
    ]


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def verify_id_token(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Check the RS256 signature against the provider's JWKS and return the claims (the
    cryptography package does it; PyJWT is not a dependency of the suite yet)."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["alg"] == "RS256"
    (jwk,) = (key for key in jwks["keys"] if key["kid"] == header["kid"])
    public_key = rsa.RSAPublicNumbers(b64url_int(jwk["e"]), b64url_int(jwk["n"])).public_key()
    public_key.verify(
        b64url_decode(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return json.loads(b64url_decode(payload_b64))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def authorization_url(
    provider: OIDCProvider, challenge: str | None, client_id: str = CLIENT_ID, **extra: str
) -> str:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": "state-123",
        "nonce": "nonce-456",
        **extra,
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return f"{provider.configuration['authorization_endpoint']}?{urllib.parse.urlencode(params)}"


def callback_params(url: str) -> dict[str, str]:
    assert url.startswith(REDIRECT_URI + "?"), url
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def token_request(
    provider: OIDCProvider, code: str, verifier: str, client_id: str = CLIENT_ID
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if client_id == BASIC_CLIENT_ID:
        pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(CLIENT_SECRET)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form.update(client_id=client_id, client_secret=CLIENT_SECRET)
    request = urllib.request.Request(
        provider.configuration["token_endpoint"],
        data=urllib.parse.urlencode(form).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def sign_in(provider: OIDCProvider, login: str, client_id: str = CLIENT_ID) -> dict[str, Any]:
    """The whole code flow with PKCE; returns the verified ID token's claims."""
    verifier, challenge = pkce_pair()
    callback = provider.sign_in(authorization_url(provider, challenge, client_id), login)
    params = callback_params(callback)
    assert params["state"] == "state-123"
    assert params["iss"] == provider.issuer
    status, tokens = token_request(provider, params["code"], verifier, client_id)
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    return verify_id_token(tokens["id_token"], provider.get_json("/jwks"))


def test_discovery_names_the_issuer_and_requires_s256(oidc_provider):
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    configuration = oidc_provider.configuration
    assert configuration["issuer"] == oidc_provider.issuer
    assert configuration["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in configuration["id_token_signing_alg_values_supported"]
    assert configuration["jwks_uri"] == f"{oidc_provider.issuer}/jwks"
    assert {"sub", "email", "email_verified", "hd", "tid"} <= set(configuration["claims_supported"])


def test_jwks_has_one_rs256_signing_key_made_at_start(oidc_provider):
    (key,) = oidc_provider.get_json("/jwks")["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key
    assert b64url_int(key["n"]).bit_length() == 2048


@pytest.mark.parametrize("client_id", [CLIENT_ID, BASIC_CLIENT_ID])
def test_code_flow_with_pkce_puts_the_claims_in_the_id_token(oidc_provider, client_id):
    claims = sign_in(oidc_provider, "teacher", client_id)
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == client_id
    assert claims["nonce"] == "nonce-456"
    assert claims["sub"] == "teacher"
    assert claims["email"] == "teacher@a.example.org"
    assert claims["email_verified"] is True
    assert claims["hd"] == "a.example.org"
    assert claims["name"] == "Tea Cher"
    assert claims["exp"] > claims["iat"]


def test_a_tampered_id_token_fails_the_signature_check(oidc_provider):
    verifier, challenge = pkce_pair()
    params = callback_params(
        oidc_provider.sign_in(authorization_url(oidc_provider, challenge), "teacher")
    )
    _, tokens = token_request(oidc_provider, params["code"], verifier)
    header, payload, signature = tokens["id_token"].split(".")
    forged = json.loads(b64url_decode(payload)) | {"hd": "evil.example"}
    forged_b64 = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        verify_id_token(f"{header}.{forged_b64}.{signature}", oidc_provider.get_json("/jwks"))


def test_pkce_is_required(oidc_provider):
    params = callback_params(
        oidc_provider.sign_in(authorization_url(oidc_provider, None), "teacher")
    )
    assert params["error"] == "invalid_request"
    assert "requires PKCE" in params["error_description"]


def test_the_code_needs_the_right_code_verifier(oidc_provider):
    _, challenge = pkce_pair()
    params = callback_params(
        oidc_provider.sign_in(authorization_url(oidc_provider, challenge), "teacher")
    )
    other_verifier, _ = pkce_pair()
    status, body = token_request(oidc_provider, params["code"], other_verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


def test_claims_change_between_two_sign_ins_without_a_restart(oidc_provider):
    issuer = oidc_provider.issuer
    assert sign_in(oidc_provider, "teacher")["email"] == "teacher@a.example.org"
    oidc_provider.set_account(
        "teacher", email="t.cher@a.example.org", email_verified=False, hd="a.example.org", tid="t1"
    )
    claims = sign_in(oidc_provider, "teacher")
    assert oidc_provider.issuer == issuer
    assert claims["sub"] == "teacher"
    assert (claims["email"], claims["email_verified"], claims["tid"]) == (
        "t.cher@a.example.org",
        False,
        "t1",
    )
    assert "name" not in claims  # set_account replaces the account's claims


def test_an_account_may_set_its_own_sub(oidc_provider):
    oidc_provider.set_account("newcomer", sub="00u-entra-oid-7", email="teacher@a.example.org")
    claims = sign_in(oidc_provider, "newcomer")
    assert (claims["sub"], claims["email"]) == ("00u-entra-oid-7", "teacher@a.example.org")


def test_an_unknown_login_is_not_signed_in(oidc_provider):
    with pytest.raises(ProviderError, match='403:\nunknown login "nobody"'):
        oidc_provider.sign_in(authorization_url(oidc_provider, pkce_pair()[1]), "nobody")


def test_a_provider_that_fails_to_start_reports_its_output():
    provider = OIDCProvider(clients=[Client("broken", "secret", "not a url")])
    with pytest.raises(
        ProviderError, match="exited with status 1:(.|\n)*client broken: invalid_redirect_uri"
    ):
        provider.start()
