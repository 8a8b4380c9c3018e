"""b64u: one spelling per value, so nothing slips past a check by being re-encoded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = crypto.b64u_encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert crypto.b64u_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "AAECAw==",  # padding
        "AAECAw=",
        "AA+/",  # standard alphabet
        "AAEC Aw",  # whitespace
        "AAECAw\n",
        "A",  # impossible length
        "AB",  # non-canonical: trailing bits set ("AA" is the canonical spelling)
        "AAF",  # non-canonical ("AAE" is the canonical spelling)
        "é",
    ],
)
def test_non_canonical_or_foreign_text_is_refused(text: str) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.b64u_decode(text)


def test_length_is_enforced_when_asked() -> None:
    text = crypto.b64u_encode(bytes(32))
    assert crypto.b64u_decode(text, length=32) == bytes(32)
    with pytest.raises(crypto.CryptoError):
        crypto.b64u_decode(text, length=31)


@pytest.mark.parametrize("value", [None, 12, b"AAAA", ["AAAA"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.b64u_decode(value)  # type: ignore[arg-type]
