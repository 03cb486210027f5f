"""A real SAML 2.0 identity provider on loopback for the SSO tests: tests/sso/saml-idp/idp.js, whose
responses samlify 2.15.1 signs (its node_modules come from `npm ci --prefix tests/sso/saml-idp`,
which `make test` runs).

    with SAMLProvider(sp_entity_id=…, acs_url=…, users={"tess": {"name_id": "tess-1",
                      "attributes": {"email": "tess@lake-high.test"}}}) as idp:
        idp.entity_id, idp.sso_url, idp.certificate      # what a district admin types in
        action, fields = idp.sign_in(redirect_url, "tess")  # the page that posts to our ACS
        idp.set_mode(skew_seconds=-1000)                 # the next response is expired

The signing key and its self-signed certificate are made at start. Every user's password is
"pw". `set_user`, `set_mode` and `set_sp` rewrite the provider's configuration, which it reads
again on every request.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.sso.node import NodeServer

IDP_DIR = Path(__file__).resolve().parent / "saml-idp"
STARTUP_TIMEOUT = 20.0
PASSWORD = "pw"


class SAMLProviderError(RuntimeError):
    pass


def key_and_certificate(common_name: str) -> tuple[bytes, str]:
    """(private key PEM, self-signed certificate PEM), RSA 2048, SHA-256, valid for 30 days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def autopost(page: str) -> tuple[str, dict[str, str]]:
    """The action and fields of one of the provider's forms: its sign-in form, or the page that
    posts the response to the ACS."""
    found = re.search(r'<form method="post" action="([^"]+)"', page)
    if found is None:
        raise SAMLProviderError(f"no form in:\n{page}")  # an error page: say what it said
    fields = {
        html.unescape(m.group(1)): html.unescape(m.group(2))
        for m in re.finditer(r'name="([^"]+)" value="([^"]*)"', page)
    }
    return html.unescape(found.group(1)), fields


class SAMLProvider(NodeServer):
    """`node idp.js` on a free port of 127.0.0.1; a context manager (or start()/stop())."""

    name = "the SAML provider"
    error = SAMLProviderError

    def __init__(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        users: dict[str, dict[str, Any]] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.config: dict[str, Any] = {
            "port": 0,
            "key_file": "idp.key",
            "cert_file": "idp.crt",
            "sp": {"entity_id": sp_entity_id, "acs_url": acs_url},
            "users": {},
            "mode": {"sign": "both"},
        }
        for login, user in (users or {}).items():
            self.config["users"][login] = {"password": PASSWORD, **user}
        super().__init__(startup_timeout)
        self.certificate = ""

    @property
    def entity_id(self) -> str:
        return f"{self.base}/metadata"

    @property
    def sso_url(self) -> str:
        return f"{self.base}/sso"

    # --- configuration ------------------------------------------------------------------------
    def set_user(self, login: str, **user: Any) -> None:
        self.config["users"][login] = {"password": PASSWORD, **user}
        self._write()

    def set_mode(self, **mode: Any) -> None:
        """Replace the response's knobs (see idp.js): sign, bad_key, skew_seconds, audience…
        `bad_key=True` signs with a key that is not the published certificate's."""
        if mode.pop("bad_key", False):
            mode["bad_key_file"] = "other.key"
        self.config["mode"] = {"sign": "both", **mode}
        self._write()

    def set_sp(self, *, sp_entity_id: str, acs_url: str) -> None:
        self.config["sp"] = {"entity_id": sp_entity_id, "acs_url": acs_url}
        self._write()

    def _write(self) -> None:
        if self._dir is None:
            return
        part = self._dir / "idp.json.part"
        part.write_text(json.dumps(self.config, indent=1))
        os.replace(part, self._dir / "idp.json")

    # --- the person at the provider -----------------------------------------------------------
    def sign_in(self, redirect_url: str, login: str) -> tuple[str, dict[str, str]]:
        """Open the URL our site redirected to (…/sso?SAMLRequest=…), sign in as `login`, and
        return the ACS address and the fields the provider's page would post there."""
        with urllib.request.urlopen(redirect_url, timeout=10) as answer:
            page = answer.read().decode()
        _action, fields = autopost(page)  # the sign-in form's hidden fields
        fields.update(username=login, password=self.config["users"][login]["password"])
        body = urllib.parse.urlencode(fields).encode()
        with urllib.request.urlopen(f"{self.base}/sso", data=body, timeout=10) as answer:
            return autopost(answer.read().decode())

    def unsolicited(self, login: str, relay_state: str = "/") -> tuple[str, dict[str, str]]:
        """A response for `login` that no request of ours asked for (IdP-initiated)."""
        query = urllib.parse.urlencode({"username": login, "RelayState": relay_state})
        with urllib.request.urlopen(f"{self.base}/idp-initiated?{query}", timeout=10) as answer:
            return autopost(answer.read().decode())

    # --- process ------------------------------------------------------------------------------
    def start(self) -> SAMLProvider:
        if self._process is not None:
            raise SAMLProviderError("already started")
        node = self._node(IDP_DIR, "samlify")
        self._dir = Path(tempfile.mkdtemp(prefix="saml-idp-"))
        key, self.certificate = key_and_certificate("District test SAML provider")
        (self._dir / "idp.key").write_bytes(key)
        (self._dir / "idp.crt").write_text(self.certificate)
        other_key, _ = key_and_certificate("Someone else")
        (self._dir / "other.key").write_bytes(other_key)
        self._write()
        self._launch([node, "idp.js", str(self._dir / "idp.json")], IDP_DIR)
        return self

    def __enter__(self) -> SAMLProvider:
        return self.start()
