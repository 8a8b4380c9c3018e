"""Receipt codes (protocol v1 §2.1): make, read back, check and show them.

A receipt is 19 random decimal digits and a Damm check digit. The check digit catches
every single-digit typo and every swap of two adjacent digits, so a reporter who mistypes
is told so at once instead of waiting for a key derivation that can only fail.
"""

from __future__ import annotations

import secrets
import unicodedata

from .errors import InvalidReceipt

__all__ = [
    "RECEIPT_DIGITS",
    "damm_check_digit",
    "format_receipt",
    "generate_receipt",
    "normalize_receipt",
    "validate_receipt",
]

RECEIPT_DIGITS = 20

# The order-10 weakly totally anti-symmetric quasigroup from H. Michael Damm's thesis (2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_check_digit(digits: str) -> int:
    """The Damm check digit of a string of ASCII digits (0 for the empty string)."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def generate_receipt() -> str:
    """A new receipt: 19 digits from the OS CSPRNG and their check digit, as 20 ASCII digits."""
    body = "".join(str(secrets.randbelow(10)) for _ in range(RECEIPT_DIGITS - 1))
    return body + str(damm_check_digit(body))


def normalize_receipt(text: str) -> str:
    """Every Unicode decimal digit (category Nd) becomes its ASCII digit; all else is dropped.

    So "٣١٤١ ٥٩٢٦…", "3141-5926…" and " 3141 5926 … " all read as the same receipt.
    """
    return "".join(str(unicodedata.decimal(ch)) for ch in text if unicodedata.category(ch) == "Nd")


def validate_receipt(text: str) -> str:
    """Normalise `text` and return the 20 ASCII digits, or raise `InvalidReceipt`."""
    digits = normalize_receipt(text)
    if len(digits) != RECEIPT_DIGITS:
        raise InvalidReceipt("length", len(digits))
    if damm_check_digit(digits) != 0:  # a valid Damm codeword checks to zero
        raise InvalidReceipt("check", len(digits))
    return digits


def format_receipt(receipt: str) -> str:
    """Show a receipt in five groups of four: `4721 0938 5562 1187 3305`."""
    digits = normalize_receipt(receipt)
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
