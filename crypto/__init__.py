"""Lanthorn protocol v1 and v2: every cryptographic format the portal, console and clients
share.

Pure functions over typed keys; no I/O, no web framework. See docs/protocol.md for the
byte-level description a client in another language can follow. v2 (the v2 documents
and v2 signed requests) adds the signed conversation; the portal still
announces v1 (`PROTOCOL_VERSION`) until it, the console and the clients speak v2.

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
    DOCUMENT_TYPES_V2,
    MAX_DOCUMENT_BYTES,
    MAX_SEALED_BYTES,
    REPORT_CHANNELS,
    DocumentTooLarge,
    InvalidDocument,
    bucket_for,
    check_document,
    check_document_v2,
    open_document,
    seal_document,
    seal_document_v2,
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
    canonical_request_v2,
    sign_request,
    sign_request_v2,
    verify_any_request,
    verify_request,
    verify_request_v2,
)
from .vault import (
    MAX_OFFICERS,
    VAULT_KDF,
    WrappedVaultKey,
    new_vault_key,
    unwrap_vault_key,
    wrap_vault_key,
)

#: The version `/api/v1/config` announces. It becomes 2 when the portal serves the signed
#: conversation (docs/protocol.md §19); v2's formats are in this package already.
PROTOCOL_VERSION = 1

__all__ = [
    "AUDIT_GENESIS",
    "BLOB_CHUNK",
    "BLOB_HEADER_BYTES",
    "BLOB_KEY_BYTES",
    "BLOB_STORED_CHUNK",
    "BUCKETS",
    "DOCUMENT_TYPES",
    "DOCUMENT_TYPES_V2",
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
    "canonical_request_v2",
    "check_document",
    "check_document_v2",
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
    "seal_document_v2",
    "seal_report",
    "sign_request",
    "sign_request_v2",
    "stored_size",
    "unwrap_vault_key",
    "validate_receipt",
    "verify_any_request",
    "verify_audit_chain",
    "verify_request",
    "verify_request_v2",
    "wrap_vault_key",
]
