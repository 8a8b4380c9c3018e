"""The only module that calls libsodium (through PyNaCl's bindings).

Everything else in `crypto` speaks in protocol terms; this module speaks in libsodium's,
so a reader can check each call against the libsodium documentation named in
docs/protocol.md. Binding errors are turned into the opaque `CryptoError` here.
"""

from __future__ import annotations

from nacl import bindings as b
from nacl.exceptions import CryptoError as _NaclCryptoError
from nacl.exceptions import ValueError as _NaclValueError

from .errors import CryptoError

BOX_PUBLIC_BYTES: int = b.crypto_box_PUBLICKEYBYTES
BOX_SEED_BYTES: int = b.crypto_box_SEEDBYTES
SEAL_OVERHEAD: int = b.crypto_box_SEALBYTES
SIGN_SEED_BYTES: int = b.crypto_sign_SEEDBYTES
SIGN_PUBLIC_BYTES: int = b.crypto_sign_PUBLICKEYBYTES
SIGNATURE_BYTES: int = b.crypto_sign_BYTES
STREAM_KEY_BYTES: int = b.crypto_secretstream_xchacha20poly1305_KEYBYTES
STREAM_HEADER_BYTES: int = b.crypto_secretstream_xchacha20poly1305_HEADERBYTES
STREAM_ABYTES: int = b.crypto_secretstream_xchacha20poly1305_ABYTES
TAG_MESSAGE: int = b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL: int = b.crypto_secretstream_xchacha20poly1305_TAG_FINAL
SECRETBOX_KEY_BYTES: int = b.crypto_secretbox_KEYBYTES
SECRETBOX_NONCE_BYTES: int = b.crypto_secretbox_NONCEBYTES
ARGON2ID13: int = b.crypto_pwhash_ALG_ARGON2ID13

_OPEN_ERRORS = (_NaclCryptoError, _NaclValueError, TypeError, ValueError)


def random_bytes(n: int) -> bytes:
    """`randombytes_buf`: n bytes from the operating system's CSPRNG."""
    return bytes(b.randombytes(n))


def argon2id(password: bytes, salt: bytes, *, t: int, m_kib: int, length: int) -> bytes:
    """`crypto_pwhash(length, password, salt, opslimit=t, memlimit=m_kib*1024, ARGON2ID13)`."""
    return bytes(b.crypto_pwhash_alg(length, password, salt, t, m_kib * 1024, ARGON2ID13))


def generichash(message: bytes, *, key: bytes = b"", size: int = 32) -> bytes:
    """`crypto_generichash(size, message, key)` — BLAKE2b, optionally keyed."""
    return bytes(b.crypto_generichash_blake2b_salt_personal(message, digest_size=size, key=key))


def box_seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """`crypto_box_seed_keypair` → (public key, secret key)."""
    pk, sk = b.crypto_box_seed_keypair(seed)
    return bytes(pk), bytes(sk)


def box_public_from_secret(sk: bytes) -> bytes:
    """`crypto_scalarmult_base`: the X25519 public key of a secret key."""
    return bytes(b.crypto_scalarmult_base(sk))


def box_beforenm(pk: bytes, sk: bytes) -> bytes:
    """`crypto_box_beforenm`: the key two box keypairs share (HSalsa20 of their X25519)."""
    return bytes(b.crypto_box_beforenm(pk, sk))


def box_seal(message: bytes, pk: bytes) -> bytes:
    """`crypto_box_seal`: anonymous sealed box to `pk`."""
    return bytes(b.crypto_box_seal(message, pk))


def box_seal_open(sealed: bytes, pk: bytes, sk: bytes) -> bytes:
    """`crypto_box_seal_open`; any failure becomes `CryptoError`."""
    try:
        return bytes(b.crypto_box_seal_open(sealed, pk, sk))
    except _OPEN_ERRORS:
        raise CryptoError("sealed document") from None


def sign_seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """`crypto_sign_seed_keypair` → (public key, 64-byte secret key)."""
    pk, sk = b.crypto_sign_seed_keypair(seed)
    return bytes(pk), bytes(sk)


def sign_verify_detached(signature: bytes, message: bytes, pk: bytes) -> bool:
    """`crypto_sign_verify_detached`; False on any failure."""
    if len(signature) != SIGNATURE_BYTES or len(pk) != SIGN_PUBLIC_BYTES:
        return False
    try:
        b.crypto_sign_open(signature + message, pk)
    except _OPEN_ERRORS:
        return False
    return True


def pad(data: bytes, block: int) -> bytes:
    """`sodium_pad` (ISO/IEC 7816-4) to a multiple of `block`; always adds at least one byte."""
    return bytes(b.sodium_pad(data, block))


def unpad(data: bytes, block: int) -> bytes:
    """`sodium_unpad`; bad padding becomes `CryptoError`."""
    try:
        return bytes(b.sodium_unpad(data, block))
    except _OPEN_ERRORS:
        raise CryptoError("padding") from None


def secretbox(message: bytes, nonce: bytes, key: bytes) -> bytes:
    """`crypto_secretbox_easy` (XSalsa20-Poly1305)."""
    return bytes(b.crypto_secretbox(message, nonce, key))


def secretbox_open(ciphertext: bytes, nonce: bytes, key: bytes) -> bytes:
    """`crypto_secretbox_open_easy`; failure becomes `CryptoError`."""
    try:
        return bytes(b.crypto_secretbox_open(ciphertext, nonce, key))
    except _OPEN_ERRORS:
        raise CryptoError("wrapped key") from None


class StreamPush:
    """`crypto_secretstream_xchacha20poly1305` encryption state."""

    def __init__(self, key: bytes) -> None:
        self._state = b.crypto_secretstream_xchacha20poly1305_state()
        self.header = bytes(b.crypto_secretstream_xchacha20poly1305_init_push(self._state, key))

    def push(self, message: bytes, tag: int) -> bytes:
        return bytes(b.crypto_secretstream_xchacha20poly1305_push(self._state, message, None, tag))


class StreamPull:
    """`crypto_secretstream_xchacha20poly1305` decryption state."""

    def __init__(self, header: bytes, key: bytes) -> None:
        self._state = b.crypto_secretstream_xchacha20poly1305_state()
        try:
            b.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, key)
        except _OPEN_ERRORS:
            raise CryptoError("blob") from None

    def pull(self, ciphertext: bytes) -> tuple[bytes, int]:
        try:
            message, tag = b.crypto_secretstream_xchacha20poly1305_pull(self._state, ciphertext)
        except _OPEN_ERRORS:
            raise CryptoError("blob") from None
        return bytes(message), int(tag)
