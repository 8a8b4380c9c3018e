"""Every known-answer vector in tests/vectors, parametrised from the files themselves."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

import crypto
from tests.conftest import VECTORS, load_vectors

V = load_vectors()


@pytest.mark.parametrize("case", V["damm"], ids=lambda c: c["digits19"])
def test_damm_check_digit(case: dict[str, Any]) -> None:
    assert crypto.damm_check_digit(case["digits19"]) == case["check"]
    # The full 20-digit code checks to zero, which is what validation tests.
    full = case["digits19"] + str(case["check"])
    assert crypto.validate_receipt(full) == full


@pytest.mark.parametrize("case", V["receipt_valid"], ids=lambda c: c["normalized"])
def test_receipt_normalisation_and_validity(case: dict[str, Any]) -> None:
    assert crypto.normalize_receipt(case["input"]) == case["normalized"]
    if case["valid"]:
        assert crypto.validate_receipt(case["input"]) == case["normalized"]
    else:
        with pytest.raises(crypto.InvalidReceipt):
            crypto.validate_receipt(case["input"])


@pytest.mark.parametrize("case", V["kdf"], ids=lambda c: f"{c['receipt']}-t{c['t']}-m{c['m_kib']}")
def test_reporter_key_derivation(case: dict[str, Any]) -> None:
    params = crypto.KdfParams(t=case["t"], m_kib=case["m_kib"], p=case["p"])
    salt = crypto.b64u_decode(case["salt"])
    master = crypto.derive_master_key(case["receipt"], salt, params)
    keys = crypto.derive_reporter_keys(case["receipt"], salt, params)
    assert crypto.b64u_encode(master) == case["master"]
    assert crypto.b64u_encode(keys.lookup_id) == case["lookup_id"]
    assert crypto.b64u_encode(bytes(keys.box)) == case["box_sk"]
    assert crypto.b64u_encode(bytes(keys.box_pk)) == case["box_pk"]
    assert crypto.b64u_encode(bytes(keys.sign_pk)) == case["sign_pk"]


def test_production_kdf_parameters_are_the_v1_vector_ones() -> None:
    production = [c for c in V["kdf"] if (c["t"], c["m_kib"]) == (3, 65536)]
    assert production, "the vectors fix the production parameters"
    assert (crypto.V1_KDF.t, crypto.V1_KDF.m_kib, crypto.V1_KDF.p) == (3, 65536, 1)


def test_buckets() -> None:
    assert list(crypto.BUCKETS) == V["buckets"]


def test_sealed_document_opens_to_the_vector_document() -> None:
    case = V["sealed"]
    sk = crypto.PrivateKey(crypto.b64u_decode(case["recipient_sk"]))
    assert crypto.b64u_encode(bytes(sk.public_key)) == case["recipient_pk"]
    sealed = crypto.b64u_decode(case["sealed"])
    assert len(sealed) - 48 == case["padded_length"]
    assert crypto.open_document(sealed, sk, expect="report") == case["document"]
    # Sealing the same document again lands in the same bucket.
    resealed = crypto.seal_document(case["document"], sk.public_key)
    assert len(resealed) == len(sealed)
    assert crypto.open_document(resealed, sk) == case["document"]


def test_blob_vector_decrypts_to_the_rule_plaintext() -> None:
    case = V["blob"]
    stored = (VECTORS / case["stored_file"]).read_bytes()
    assert len(stored) == case["stored_len"] == crypto.stored_size(case["plaintext_len"])
    assert hashlib.sha256(stored).hexdigest() == case["stored_sha256"]
    expected = (b"lanthorn blob vector " * 7000)[:140000]  # the vector's plaintext_rule
    assert hashlib.sha256(expected).hexdigest() == case["plaintext_sha256"]
    out = io.BytesIO()
    summary = crypto.decrypt_file(io.BytesIO(stored), out, crypto.b64u_decode(case["key"]))
    assert out.getvalue() == expected
    assert summary == crypto.BlobSummary(case["plaintext_len"], case["plaintext_sha256"])


def test_request_signature_vector() -> None:
    case = V["request_signature"]
    key = crypto.SigningKey(crypto.b64u_decode(case["signing_seed"]))
    assert crypto.b64u_encode(bytes(key.verify_key)) == case["verify_key"]
    nonce = crypto.b64u_decode(case["nonce"])
    body = case["body"].encode()
    canonical = crypto.canonical_request(
        case["method"], case["path"], case["timestamp"], nonce, body
    )
    assert canonical.decode() == case["canonical"]
    headers = crypto.sign_request(
        key, case["method"], case["path"], body, timestamp=case["timestamp"], nonce=nonce
    )
    assert headers == {
        "Lanthorn-Key": case["verify_key"],
        "Lanthorn-Timestamp": str(case["timestamp"]),
        "Lanthorn-Nonce": case["nonce"],
        "Lanthorn-Signature": case["signature"],
    }
    key_id = crypto.verify_request(
        headers,
        case["method"],
        case["path"],
        body,
        now=case["timestamp"],
        resolve_key=lambda k: key.verify_key if k == bytes(key.verify_key) else None,
        nonces=crypto.MemoryNonceStore(lambda: case["timestamp"]),
    )
    assert key_id == bytes(key.verify_key)
