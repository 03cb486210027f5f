"""Fixtures of the SSO tests: a loopback OpenID Connect provider (tests/sso/oidc.py).

`oidc_provider` starts one provider per test (about a second) with the clients of
`oidc_clients` and the accounts of `oidc_accounts`; override either fixture in a test module or
a conftest below to change them (e.g. a client whose redirect_uri is on `live_server`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sso.oidc import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Client, OIDCProvider


@pytest.fixture(autouse=True)
def _loopback_issuers(settings):
    """The test provider runs on loopback: its issuer is allowed here (never by default)."""
    settings.SSO_LOOPBACK_ISSUERS = True


@pytest.fixture
def oidc_clients() -> list[Client]:
    return [Client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)]


@pytest.fixture
def oidc_accounts() -> dict[str, dict[str, Any]]:
    return {
        "teacher": {
            "email": "teacher@a.example.org",
            "email_verified": True,
            "hd": "a.example.org",
            "name": "Tea Cher",
        }
    }


@pytest.fixture
def oidc_provider(
    oidc_clients: list[Client], oidc_accounts: dict[str, dict[str, Any]]
) -> Iterator[OIDCProvider]:
    with OIDCProvider(clients=oidc_clients, accounts=oidc_accounts) as provider:
        yield provider
