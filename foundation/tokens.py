"""Small encrypted tokens an app hands to a browser and reads back.

A token is `crypto_secretbox` (via PyNaCl's `SecretBox`) of compact JSON under a key
derived for one purpose, so a token minted for one form can never be replayed into
another. They carry things the browser must hold for the reporter between two requests
(the portal: attachments already uploaded, the receipt to check; the console: an
enrolment in progress) without the app storing them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.secret import SecretBox

import crypto


def purpose_key(secret: bytes, purpose: str) -> bytes:
    return hashlib.blake2b(purpose.encode(), key=secret, digest_size=32).digest()


def seal_token(key: bytes, value: Any) -> str:
    data = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return crypto.b64u_encode(bytes(SecretBox(key).encrypt(data)))


def open_token(key: bytes, token: object) -> Any:
    """The value inside `token`, or None if it is missing, forged or from another purpose."""
    if not isinstance(token, str) or not token or len(token) > 200_000:
        return None
    try:
        return json.loads(SecretBox(key).decrypt(crypto.b64u_decode(token)))
    except (crypto.CryptoError, NaclCryptoError, ValueError):
        return None
