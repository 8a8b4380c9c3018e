"""Key wrapping for the console (docs/design.md §3): a vault key that k of n officers can unseal.

The console encrypts everything it stores under one random 32-byte vault key. At the key
ceremony each of n officers chooses a passphrase, and the vault key is wrapped once for
every k-subset of officers:

    officer_key_i = Argon2id(passphrase_i, vault_salt)             (32 bytes)
    subset_key    = crypto_generichash(32, "lanthorn/v1/vault-wrap" || k_1 || … || k_k)
                    with the k officer keys sorted bytewise
    wrap          = nonce(24) || crypto_secretbox_easy(vault_key, nonce, subset_key)

To unseal, k officers type their passphrases in any order; each costs one Argon2id, and
the sorted keys open exactly one wrap. There is deliberately no per-officer check value:
a thief of the console disk cannot test one officer's passphrase guesses alone, only
guesses for k passphrases at once. The price is that a mistyped passphrase is reported
as "these passphrases do not unseal the vault", not which one was wrong.

Why subsets rather than Shamir shares: every step is a libsodium primitive already in the
protocol, there is no extra dependency to audit, and n is small (a handful of officers).
`MAX_OFFICERS` bounds C(n, k) so the wrap list stays small.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb

from . import _sodium
from .encoding import b64u_decode, b64u_encode
from .errors import CryptoError
from .kdf import KdfParams

__all__ = [
    "MAX_OFFICERS",
    "MAX_PASSPHRASE_BYTES",
    "VAULT_KDF",
    "VAULT_KEY_BYTES",
    "WrappedVaultKey",
    "new_vault_key",
    "unwrap_vault_key",
    "wrap_vault_key",
]

VAULT_KEY_BYTES = 32
VAULT_SALT_BYTES = 16
MAX_OFFICERS = 12
#: Argon2 would accept more, but no one types this much; the cap bounds the work per try.
MAX_PASSPHRASE_BYTES = 1024
#: Officer passphrases guard everything the oversight body holds: 256 MiB, 3 passes.
VAULT_KDF = KdfParams(t=3, m_kib=262144, p=1)

_WRAP_LABEL = b"lanthorn/v1/vault-wrap"
_WRAP_BYTES = _sodium.SECRETBOX_NONCE_BYTES + VAULT_KEY_BYTES + 16  # nonce, key, MAC
#: Upper bounds a stored vault file may ask for (4 GiB, 20 passes).
_MAX_M_KIB = 4 * 1024 * 1024
_MAX_T = 20
_FORMAT = "lanthorn/v1/vault"


@dataclass(frozen=True)
class WrappedVaultKey:
    """The public, storable result of a key ceremony: salt, parameters, rule and wraps."""

    threshold: int
    officers: int
    salt: bytes
    kdf: KdfParams
    wraps: tuple[bytes, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "threshold": self.threshold,
                "officers": self.officers,
                "salt": b64u_encode(self.salt),
                "kdf": self.kdf.as_json(),
                "wraps": [b64u_encode(w) for w in self.wraps],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WrappedVaultKey:
        """Parse a stored vault file; anything out of shape or bounds is `CryptoError`.

        The bounds matter: whoever can edit this file must not be able to make unsealing
        take hours or all memory.
        """
        try:
            data = json.loads(text)
            kdf = data["kdf"]
            numbers = (data["threshold"], data["officers"], kdf["t"], kdf["m_kib"], kdf["p"])
            if (
                data["format"] != _FORMAT
                or kdf["alg"] != "argon2id13"
                or not all(type(x) is int for x in numbers)
                or not 1 <= data["threshold"] <= data["officers"] <= MAX_OFFICERS
                or kdf["t"] > _MAX_T
                or kdf["m_kib"] > _MAX_M_KIB
            ):
                raise CryptoError("vault key file")
            result = cls(
                threshold=data["threshold"],
                officers=data["officers"],
                salt=b64u_decode(data["salt"], length=VAULT_SALT_BYTES),
                kdf=KdfParams(t=kdf["t"], m_kib=kdf["m_kib"], p=kdf["p"]),
                wraps=tuple(b64u_decode(w, length=_WRAP_BYTES) for w in data["wraps"]),
            )
        except (KeyError, TypeError, ValueError, CryptoError):
            raise CryptoError("vault key file") from None
        if len(result.wraps) != comb(result.officers, result.threshold):
            raise CryptoError("vault key file")
        return result


def new_vault_key() -> bytes:
    """A fresh random vault key."""
    return _sodium.random_bytes(VAULT_KEY_BYTES)


def _officer_key(passphrase: str, salt: bytes, kdf: KdfParams) -> bytes:
    secret = passphrase.encode("utf-8")
    if not secret or len(secret) > MAX_PASSPHRASE_BYTES:
        raise ValueError(f"a passphrase must be 1 to {MAX_PASSPHRASE_BYTES} bytes")
    return _sodium.argon2id(secret, salt, t=kdf.t, m_kib=kdf.m_kib, length=32)


def _subset_key(officer_keys: Sequence[bytes]) -> bytes:
    return _sodium.generichash(_WRAP_LABEL + b"".join(sorted(officer_keys)), size=32)


def wrap_vault_key(
    vault_key: bytes,
    passphrases: Sequence[str],
    threshold: int,
    kdf: KdfParams = VAULT_KDF,
) -> WrappedVaultKey:
    """Wrap `vault_key` so that any `threshold` of `passphrases` unseal it, and no fewer."""
    n = len(passphrases)
    if len(vault_key) != VAULT_KEY_BYTES:
        raise ValueError("a vault key is 32 bytes")
    if not 1 <= threshold <= n <= MAX_OFFICERS:
        raise ValueError(f"need 1 <= threshold <= officers <= {MAX_OFFICERS}")
    if len(set(passphrases)) != n:
        raise ValueError("every officer needs a different passphrase")
    salt = _sodium.random_bytes(VAULT_SALT_BYTES)
    keys = [_officer_key(p, salt, kdf) for p in passphrases]
    wraps = []
    for subset in combinations(keys, threshold):
        nonce = _sodium.random_bytes(_sodium.SECRETBOX_NONCE_BYTES)
        wraps.append(nonce + _sodium.secretbox(vault_key, nonce, _subset_key(subset)))
    return WrappedVaultKey(threshold, n, salt, kdf, tuple(wraps))


def unwrap_vault_key(wrapped: WrappedVaultKey, passphrases: Sequence[str]) -> bytes:
    """Recover the vault key from `threshold` distinct passphrases, in any order.

    Raises `CryptoError` if they do not unseal it (a wrong, repeated or missing
    passphrase), and `ValueError` if the number given is not the threshold.
    """
    if len(passphrases) != wrapped.threshold:
        raise ValueError(
            f"unsealing needs exactly {wrapped.threshold} passphrases, got {len(passphrases)}"
        )
    if len(set(passphrases)) != len(passphrases):
        raise CryptoError("vault key")
    key = _subset_key([_officer_key(p, wrapped.salt, wrapped.kdf) for p in passphrases])
    nonce_bytes = _sodium.SECRETBOX_NONCE_BYTES
    for wrap in wrapped.wraps:
        try:
            return _sodium.secretbox_open(wrap[nonce_bytes:], wrap[:nonce_bytes], key)
        except CryptoError:
            continue
    raise CryptoError("vault key")
