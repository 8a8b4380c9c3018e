"""The console vault key: any k officers unseal it, in any order; k-1 open nothing."""

from __future__ import annotations

from itertools import combinations, permutations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto
from crypto import vault as vault_module
from tests.conftest import CHEAP_KDF

PASSPHRASES = ["amber lantern over wandsworth", "seven quiet keys", "a long shift ends", "tea"]


def ceremony(k: int = 2, n: int = 3) -> tuple[bytes, crypto.WrappedVaultKey]:
    key = crypto.new_vault_key()
    return key, crypto.wrap_vault_key(key, PASSPHRASES[:n], k, CHEAP_KDF)


@given(
    n=st.integers(1, 5),
    data=st.data(),
)
def test_any_k_of_n_unseal_in_any_order(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n))
    phrases = data.draw(
        st.lists(st.text(min_size=1, max_size=20), min_size=n, max_size=n, unique=True)
    )
    key = crypto.new_vault_key()
    wrapped = crypto.wrap_vault_key(key, phrases, k, CHEAP_KDF)
    assert len(wrapped.wraps) == len(list(combinations(range(n), k)))
    chosen = data.draw(st.permutations(phrases))[:k]
    assert crypto.unwrap_vault_key(wrapped, chosen) == key


def test_every_pair_of_three_officers_unseals() -> None:
    key, wrapped = ceremony(2, 3)
    for pair in permutations(PASSPHRASES[:3], 2):
        assert crypto.unwrap_vault_key(wrapped, list(pair)) == key


def test_k_minus_one_passphrases_open_nothing() -> None:
    """With k-1 real passphrases, no combination of their keys (nor a guess) opens any wrap."""
    key, wrapped = ceremony(3, 4)
    known = PASSPHRASES[:2]
    officer_keys = [vault_module._officer_key(p, wrapped.salt, wrapped.kdf) for p in known]
    guesses = [
        vault_module._officer_key(g, wrapped.salt, wrapped.kdf)
        for g in ("guess", PASSPHRASES[0] + " ")
    ]
    candidates = [
        officer_keys,
        officer_keys + officer_keys[:1],
        *[officer_keys + [g] for g in guesses],
        *[[k] for k in officer_keys],
    ]
    for candidate in candidates:
        subset_key = vault_module._subset_key(candidate)
        for wrap in wrapped.wraps:
            with pytest.raises(crypto.CryptoError):
                vault_module._sodium.secretbox_open(wrap[24:], wrap[:24], subset_key)
    with pytest.raises(ValueError, match="exactly 3 passphrases"):
        crypto.unwrap_vault_key(wrapped, known)
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_vault_key(wrapped, [*known, "guess"])


def test_one_officer_typing_twice_does_not_count_as_two() -> None:
    _, wrapped = ceremony(2, 3)
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_vault_key(wrapped, [PASSPHRASES[0], PASSPHRASES[0]])


def test_a_wrong_passphrase_is_refused() -> None:
    _, wrapped = ceremony(2, 3)
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_vault_key(wrapped, [PASSPHRASES[0], PASSPHRASES[1] + "!"])


def test_the_stored_file_round_trips_and_holds_no_secret() -> None:
    key, wrapped = ceremony(2, 3)
    text = wrapped.to_json()
    assert crypto.b64u_encode(key) not in text
    assert key.hex() not in text
    assert all(p not in text for p in PASSPHRASES)
    again = crypto.WrappedVaultKey.from_json(text)
    assert again == wrapped
    assert crypto.unwrap_vault_key(again, PASSPHRASES[1:3]) == key


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace('"threshold": 2', '"threshold": 3'),
        lambda t: t.replace("lanthorn/v1/vault", "other"),
        lambda t: t[:-10],
        lambda t: t.replace('"wraps": [', '"wraps": ["AAAA", '),
        lambda t: "[]",
        lambda t: t.replace('"threshold": 2', '"threshold": -2'),
        lambda t: t.replace('"threshold": 2', '"threshold": "2"'),
        lambda t: t.replace('"threshold": 2', '"threshold": 2.0'),
        lambda t: t.replace('"officers": 3', '"officers": 13'),
        lambda t: t.replace('"t": 1', '"t": 1000000'),  # would make unsealing take forever
        lambda t: t.replace('"m_kib": 8', '"m_kib": 999999999'),  # or take all memory
        lambda t: t.replace('"wraps": [\n  "', '"wraps": [\n  "AAAA'),  # a wrap of wrong size
    ],
)
def test_a_damaged_vault_file_is_refused(damage: object) -> None:
    _, wrapped = ceremony(2, 3)
    with pytest.raises(crypto.CryptoError):
        crypto.WrappedVaultKey.from_json(damage(wrapped.to_json()))  # type: ignore[operator]


def test_lowering_the_threshold_in_the_file_lets_no_single_officer_in() -> None:
    key, wrapped = ceremony(2, 3)  # C(3,1) == C(3,2): the edited file still parses
    lowered = crypto.WrappedVaultKey.from_json(
        wrapped.to_json().replace('"threshold": 2', '"threshold": 1')
    )
    for phrase in PASSPHRASES[:3]:
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_vault_key(lowered, [phrase])


def test_a_tampered_wrap_does_not_open() -> None:
    key, wrapped = ceremony(1, 1)
    wrap = bytearray(wrapped.wraps[0])
    wrap[-1] ^= 1
    tampered = crypto.WrappedVaultKey(1, 1, wrapped.salt, wrapped.kdf, (bytes(wrap),))
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_vault_key(tampered, PASSPHRASES[:1])


@pytest.mark.parametrize(
    ("phrases", "k", "message"),
    [
        (PASSPHRASES[:3], 0, "threshold"),
        (PASSPHRASES[:3], 4, "threshold"),
        ([f"p{i}" for i in range(crypto.MAX_OFFICERS + 1)], 2, "officers"),
        (["same", "same", "other"], 2, "different passphrase"),
        (["", "x", "y"], 2, "1 to 1024 bytes"),
        (["x" * 1025, "x", "y"], 2, "1 to 1024 bytes"),
    ],
)
def test_the_ceremony_refuses_bad_rules(phrases: list[str], k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crypto.wrap_vault_key(crypto.new_vault_key(), phrases, k, CHEAP_KDF)


def test_production_parameters_are_stronger_than_receipts() -> None:
    assert crypto.VAULT_KDF.m_kib >= crypto.V1_KDF.m_kib
    assert crypto.VAULT_KDF.t >= 3
