"""Reporter keys: one receipt gives the same keys everywhere, and nothing else gives them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto
from tests.conftest import CHEAP_KDF

SALT = bytes(range(16))
receipts = st.text(alphabet="0123456789", min_size=20, max_size=20)


@given(receipts)
def test_derivation_is_deterministic(receipt: str) -> None:
    a = crypto.derive_reporter_keys(receipt, SALT, CHEAP_KDF)
    b = crypto.derive_reporter_keys(receipt, SALT, CHEAP_KDF)
    assert a.lookup_id == b.lookup_id
    assert bytes(a.box) == bytes(b.box)
    assert bytes(a.sign) == bytes(b.sign)


@given(receipts, receipts)
def test_different_receipts_give_unrelated_keys(r1: str, r2: str) -> None:
    if r1 == r2:
        return
    a = crypto.derive_reporter_keys(r1, SALT, CHEAP_KDF)
    b = crypto.derive_reporter_keys(r2, SALT, CHEAP_KDF)
    assert a.lookup_id != b.lookup_id
    assert bytes(a.box_pk) != bytes(b.box_pk)
    assert bytes(a.sign_pk) != bytes(b.sign_pk)


def test_the_three_subkeys_are_independent_and_salt_bound() -> None:
    receipt = crypto.generate_receipt()
    keys = crypto.derive_reporter_keys(receipt, SALT, CHEAP_KDF)
    outputs = {keys.lookup_id, bytes(keys.box), bytes(keys.sign)}
    assert len(outputs) == 3
    other = crypto.derive_reporter_keys(receipt, bytes(16), CHEAP_KDF)
    assert other.lookup_id != keys.lookup_id
    costlier = crypto.derive_reporter_keys(receipt, SALT, crypto.KdfParams(t=2, m_kib=8))
    assert costlier.lookup_id != keys.lookup_id


def test_repr_never_shows_secret_keys() -> None:
    receipt = crypto.generate_receipt()
    keys = crypto.derive_reporter_keys(receipt, SALT, CHEAP_KDF)
    shown = repr(keys) + str(keys)
    for secret in (bytes(keys.box), bytes(keys.sign)):
        assert secret.hex() not in shown
        assert crypto.b64u_encode(secret) not in shown
    assert receipt not in shown


@pytest.mark.parametrize(
    "receipt",
    [
        "1234567890123456789",
        "123456789012345678901",
        "1234 5678 9012 3456 7891",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩١",
    ],
)
def test_only_normalised_receipts_are_derived_from(receipt: str) -> None:
    with pytest.raises(ValueError, match="20 ASCII digits"):
        crypto.derive_reporter_keys(receipt, SALT, CHEAP_KDF)


def test_salt_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        crypto.derive_reporter_keys(crypto.generate_receipt(), bytes(15), CHEAP_KDF)


@pytest.mark.parametrize(("t", "m_kib", "p"), [(0, 8, 1), (1, 4, 1), (1, 8, 2)])
def test_impossible_parameters_are_refused(t: int, m_kib: int, p: int) -> None:
    with pytest.raises(ValueError, match="Argon2id|lane"):
        crypto.KdfParams(t=t, m_kib=m_kib, p=p)


def test_config_json_names_the_v1_parameters() -> None:
    assert crypto.V1_KDF.as_json() == {"alg": "argon2id13", "t": 3, "m_kib": 65536, "p": 1}
