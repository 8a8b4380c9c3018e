"""Lanthorn protocol v1: every cryptographic format the portal, console and clients share.

Pure functions over typed keys; no I/O, no web framework. See docs/protocol.md for the
byte-level description a client in another language can follow.

Failures to open, verify or parse raise `CryptoError` (opaque by design); mistakes a person
can correct raise `ValueError` subclasses with a readable message (`InvalidReceipt`,
`InvalidDocument`, `DocumentTooLarge`).
"""

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from .audit import AUDIT_GENESIS, audit_digest, canonical_entry, verify_audit_chain
from .blobs import (
    BLOB_CHUNK,
    BLOB_HEADER_BYTES,
    BLOB_KEY_BYTES,
    BLOB_STORED_CHUNK,
    BlobReader,
    BlobSummary,
    BlobWriter,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
    new_blob_key,
    stored_size,
)
from .documents import (
    BUCKETS,
    DOCUMENT_TYPES,
    MAX_DOCUMENT_BYTES,
    MAX_SEALED_BYTES,
    REPORT_CHANNELS,
    DocumentTooLarge,
    InvalidDocument,
    bucket_for,
    check_document,
    open_document,
    seal_document,
    seal_report,
)
from .encoding import b64u_decode, b64u_encode
from .errors import AuditChainBroken, CryptoError, InvalidReceipt
from .kdf import (
    RECEIPT_SALT_BYTES,
    V1_KDF,
    KdfParams,
    ReporterKeys,
    derive_master_key,
    derive_reporter_keys,
)
from .receipt import (
    RECEIPT_DIGITS,
    damm_check_digit,
    format_receipt,
    generate_receipt,
    normalize_receipt,
    validate_receipt,
)
from .signing import (
    REQUEST_WINDOW_SECONDS,
    MemoryNonceStore,
    NonceStore,
    RequestRejected,
    canonical_request,
    sign_request,
    verify_request,
)
from .vault import (
    MAX_OFFICERS,
    VAULT_KDF,
    WrappedVaultKey,
    new_vault_key,
    unwrap_vault_key,
    wrap_vault_key,
)

PROTOCOL_VERSION = 1

__all__ = [
    "AUDIT_GENESIS",
    "BLOB_CHUNK",
    "BLOB_HEADER_BYTES",
    "BLOB_KEY_BYTES",
    "BLOB_STORED_CHUNK",
    "BUCKETS",
    "DOCUMENT_TYPES",
    "MAX_DOCUMENT_BYTES",
    "MAX_OFFICERS",
    "MAX_SEALED_BYTES",
    "PROTOCOL_VERSION",
    "RECEIPT_DIGITS",
    "RECEIPT_SALT_BYTES",
    "REPORT_CHANNELS",
    "REQUEST_WINDOW_SECONDS",
    "V1_KDF",
    "VAULT_KDF",
    "AuditChainBroken",
    "BlobReader",
    "BlobSummary",
    "BlobWriter",
    "CryptoError",
    "DocumentTooLarge",
    "InvalidDocument",
    "InvalidReceipt",
    "KdfParams",
    "MemoryNonceStore",
    "NonceStore",
    "PrivateKey",
    "PublicKey",
    "ReporterKeys",
    "RequestRejected",
    "SigningKey",
    "VerifyKey",
    "WrappedVaultKey",
    "audit_digest",
    "b64u_decode",
    "b64u_encode",
    "bucket_for",
    "canonical_entry",
    "canonical_request",
    "check_document",
    "damm_check_digit",
    "decrypt_file",
    "decrypt_stream",
    "derive_master_key",
    "derive_reporter_keys",
    "encrypt_file",
    "encrypt_stream",
    "format_receipt",
    "generate_receipt",
    "new_blob_key",
    "new_vault_key",
    "normalize_receipt",
    "open_document",
    "seal_document",
    "seal_report",
    "sign_request",
    "stored_size",
    "unwrap_vault_key",
    "validate_receipt",
    "verify_audit_chain",
    "verify_request",
    "wrap_vault_key",
]
