"""The SIS's push secret, encrypted at rest (mastery.crypto; key SIS_CREDENTIALS_KEY or derived
from SECRET_KEY for this purpose)."""

from __future__ import annotations

from mastery import crypto

PURPOSE = "sis-credentials"


def secret_encrypt(secret: str) -> str:
    return crypto.secret_encrypt(secret, purpose=PURPOSE)


def secret_decrypt(token: str) -> str | None:
    return crypto.secret_decrypt(token, purpose=PURPOSE)
