"""Receipts: what a reporter types must be read right, and a typo caught before any work."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto

receipts = st.builds(
    lambda body: body + str(crypto.damm_check_digit(body)),
    st.text(alphabet="0123456789", min_size=19, max_size=19),
)


def test_generated_receipts_are_20_digits_and_valid() -> None:
    seen = {crypto.generate_receipt() for _ in range(200)}
    assert len(seen) == 200  # 63 bits of entropy: a collision here means a broken RNG
    for receipt in seen:
        assert len(receipt) == 20
        assert receipt.isascii()
        assert receipt.isdigit()
        assert crypto.validate_receipt(receipt) == receipt


def test_generated_receipts_use_every_digit_in_every_position() -> None:
    codes = [crypto.generate_receipt() for _ in range(400)]
    for position in range(19):
        assert {code[position] for code in codes} == set("0123456789")


@given(receipts, st.integers(0, 19), st.integers(1, 9))
def test_any_single_wrong_digit_is_caught(receipt: str, position: int, delta: int) -> None:
    wrong = str((int(receipt[position]) + delta) % 10)
    typo = receipt[:position] + wrong + receipt[position + 1 :]
    with pytest.raises(crypto.InvalidReceipt) as caught:
        crypto.validate_receipt(typo)
    assert caught.value.reason == "check"


@given(receipts, st.integers(0, 18))
def test_any_swap_of_neighbouring_digits_is_caught(receipt: str, position: int) -> None:
    a, b = receipt[position], receipt[position + 1]
    if a == b:
        return
    swapped = receipt[:position] + b + a + receipt[position + 2 :]
    with pytest.raises(crypto.InvalidReceipt):
        crypto.validate_receipt(swapped)


@given(receipts, st.sampled_from([" ", "-", "  ", "\u00a0", ".", "\t"]))
def test_formatted_receipts_read_back(receipt: str, separator: str) -> None:
    shown = crypto.format_receipt(receipt)
    assert shown.count(" ") == 4
    assert [len(g) for g in shown.split()] == [4] * 5
    assert crypto.validate_receipt(shown) == receipt
    assert crypto.validate_receipt(separator + shown.replace(" ", separator)) == receipt


@pytest.mark.parametrize("zero", ["0", "\u0660", "\u06f0", "\u0966", "\uff10", "\u09e6"])
def test_receipts_typed_in_other_scripts_read_as_ascii(zero: str) -> None:
    receipt = crypto.generate_receipt()
    typed = "".join(chr(ord(zero) + int(d)) for d in receipt)
    assert crypto.validate_receipt(typed) == receipt


def test_wrong_length_says_how_many_digits_were_typed() -> None:
    with pytest.raises(crypto.InvalidReceipt, match="20 digits, but 19 were entered") as caught:
        crypto.validate_receipt("1234 5678 9012 3456 789")
    assert caught.value.reason == "length"
    with pytest.raises(crypto.InvalidReceipt, match="but 0 were entered"):
        crypto.validate_receipt("")
    with pytest.raises(crypto.InvalidReceipt, match="but 0 were entered"):
        crypto.validate_receipt("my receipt is lost")


def test_a_check_digit_failure_reads_as_a_typo() -> None:
    with pytest.raises(crypto.InvalidReceipt, match="typing mistake"):
        crypto.validate_receipt("1234 5678 9012 3456 7892")


def test_letters_and_non_decimal_numerals_are_dropped_not_read_as_digits() -> None:
    receipt = crypto.generate_receipt()
    # Superscripts and Roman numerals are not decimal digits (category No/Nl).
    noisy = "receipt: " + receipt[:10] + "²Ⅳ" + receipt[10:] + " (thanks)"
    assert crypto.validate_receipt(noisy) == receipt
