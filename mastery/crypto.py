"""Secrets the app must read back (an SIS's client secret, a district's identity-provider secret),
encrypted at rest with Fernet (AES-128-CBC and an HMAC-SHA256 tag).

The key is SECRETS_KEY (a Fernet key; SIS_CREDENTIALS_KEY is read too, its first name) or, when
unset, one derived from SECRET_KEY with HKDF, separately for each purpose, so that a database dump
alone never yields a secret. A secret that no longer decrypts (the key changed) reads as None: the
page that holds it then asks for it again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet(purpose: str) -> Fernet:
    key = getattr(settings, "SECRETS_KEY", "") or settings.SIS_CREDENTIALS_KEY
    if key:
        return Fernet(key.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"mastery-{purpose}".encode()
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def secret_encrypt(secret: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(secret.encode()).decode()


def secret_decrypt(token: str, *, purpose: str) -> str | None:
    try:
        return _fernet(purpose).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
