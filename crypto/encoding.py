"""URL-safe base64 without padding ("b64u"), the only binary encoding protocol v1 uses.

Decoding is strict: padding, characters outside the alphabet, whitespace and
non-canonical trailing bits are refused, so every value has exactly one encoding and
nothing can be smuggled past a check by re-encoding it.
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import CryptoError

__all__ = ["b64u_decode", "b64u_encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data: bytes) -> str:
    """Encode bytes as URL-safe base64 without `=` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, *, length: int | None = None, what: str = "base64 value") -> bytes:
    """Decode strict b64u; with `length`, also require exactly that many bytes.

    Raises `CryptoError` on anything that is not the canonical encoding.
    """
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise CryptoError(what)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the regex already excludes these
        raise CryptoError(what) from None
    if b64u_encode(data) != text:  # non-zero trailing bits: a second spelling of the same bytes
        raise CryptoError(what)
    if length is not None and len(data) != length:
        raise CryptoError(what)
    return data
