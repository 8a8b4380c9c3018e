"""Reporter key derivation (protocol v1 §2.2): one receipt, three keys, on any client.

The receipt is stretched with Argon2id under the deployment's public `receipt_salt`; the
master key is then split with keyed BLAKE2b into the portal's lookup handle, the box
keypair replies are sealed to, and the signing keypair that authenticates API requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from . import _sodium
from .receipt import RECEIPT_DIGITS

__all__ = [
    "RECEIPT_SALT_BYTES",
    "V1_KDF",
    "KdfParams",
    "ReporterKeys",
    "derive_master_key",
    "derive_reporter_keys",
    "subkey",
]

RECEIPT_SALT_BYTES = 16
MASTER_KEY_BYTES = 64

LOOKUP_LABEL = b"lanthorn/v1/lookup"
BOX_LABEL = b"lanthorn/v1/box"
SIGN_LABEL = b"lanthorn/v1/sign"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: `t` passes over `m_kib` KiB of memory, `p` lanes (libsodium: p = 1)."""

    t: int
    m_kib: int
    p: int = 1

    def __post_init__(self) -> None:
        if self.p != 1:
            raise ValueError("libsodium's Argon2id supports exactly one lane (p = 1)")
        if self.t < 1 or self.m_kib < 8:
            raise ValueError("Argon2id needs t >= 1 and m_kib >= 8")

    def as_json(self) -> dict[str, object]:
        """The `kdf` object of `/api/v1/config`."""
        return {"alg": "argon2id13", "t": self.t, "m_kib": self.m_kib, "p": self.p}


#: Fixed by protocol v1. Tests may pass cheaper parameters; deployments may not.
V1_KDF = KdfParams(t=3, m_kib=65536, p=1)


@dataclass(frozen=True, repr=False)
class ReporterKeys:
    """Everything a receipt unlocks. `repr` shows only the public parts."""

    lookup_id: bytes
    box: PrivateKey
    sign: SigningKey

    @property
    def box_pk(self) -> PublicKey:
        return self.box.public_key

    @property
    def sign_pk(self) -> VerifyKey:
        return self.sign.verify_key

    def __repr__(self) -> str:
        return f"ReporterKeys(lookup_id={self.lookup_id.hex()[:12]}…, secrets hidden)"


def derive_master_key(receipt: str, salt: bytes, params: KdfParams = V1_KDF) -> bytes:
    """`master = Argon2id(receipt digits, receipt_salt)`, 64 bytes.

    `receipt` must be exactly 20 ASCII digits (what `validate_receipt` returns). The KDF
    itself does not check the Damm digit — the v1 vectors derive from receipts that fail it
    — so callers run `validate_receipt` on what a person typed *before* deriving, and a
    typo never costs a derivation.
    """
    if len(receipt) != RECEIPT_DIGITS or not receipt.isascii() or not receipt.isdigit():
        raise ValueError("derive keys from the 20 ASCII digits of a validated receipt")
    digits = receipt
    if len(salt) != RECEIPT_SALT_BYTES:
        raise ValueError(f"receipt_salt must be {RECEIPT_SALT_BYTES} bytes")
    return _sodium.argon2id(
        digits.encode("ascii"), salt, t=params.t, m_kib=params.m_kib, length=MASTER_KEY_BYTES
    )


def subkey(master: bytes, label: bytes) -> bytes:
    """`sub(label) = crypto_generichash(32, label, key = master)`."""
    return _sodium.generichash(label, key=master, size=32)


def derive_reporter_keys(receipt: str, salt: bytes, params: KdfParams = V1_KDF) -> ReporterKeys:
    """Derive `lookup_id`, the box keypair and the signing keypair from a receipt."""
    master = derive_master_key(receipt, salt, params)
    return ReporterKeys(
        lookup_id=subkey(master, LOOKUP_LABEL),
        box=PrivateKey.from_seed(subkey(master, BOX_LABEL)),
        sign=SigningKey(subkey(master, SIGN_LABEL)),
    )
