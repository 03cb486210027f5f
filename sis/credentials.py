"""The SIS's push secret, encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag).

The key is SIS_CREDENTIALS_KEY (a Fernet key) or, when it is unset, one derived from SECRET_KEY
with HKDF, so a database dump alone never yields the secret. A secret that no longer decrypts
(the key changed) reads as None: the SIS page then asks for it again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet() -> Fernet:
    if settings.SIS_CREDENTIALS_KEY:
        return Fernet(settings.SIS_CREDENTIALS_KEY.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"mastery-sis-credentials"
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None
