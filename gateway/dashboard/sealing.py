"""Session tokens and the API key sealed under them.

The token (32 random bytes, URL-safe) lives only in the browser's cookie. The database keeps its SHA-256 to find
the session and the API key encrypted with AES-GCM under a key derived from the token (HKDF-SHA256), so neither
opens anything without the cookie. The CSRF token is an HMAC of the session token: it changes with each sign-in
and needs no storage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _sealing_key(token: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"amber dashboard api key").derive(
        token.encode()
    )


def seal(token: str, secret: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_sealing_key(token)).encrypt(nonce, secret.encode(), None)


def unseal(token: str, sealed: bytes) -> str:
    """Raises `cryptography.exceptions.InvalidTag` when the token is not the one the key was sealed under."""
    return AESGCM(_sealing_key(token)).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None).decode()


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"amber dashboard csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(token), presented)
