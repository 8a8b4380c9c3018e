"""The errors `crypto` raises.

Every failure to open, verify or parse something that came over the wire raises a
`CryptoError` whose message says only *what* failed to open, never *why*: a caller that
shows it to an attacker gives away no oracle (wrong key, bad tag, bad padding and bad JSON
all look the same). Mistakes a person can fix — a typo in a receipt, a document that is
too large — raise ordinary `ValueError` subclasses with a message meant for that person.
"""

from __future__ import annotations

__all__ = ["AuditChainBroken", "CryptoError", "InvalidReceipt"]


class CryptoError(Exception):
    """Something could not be opened, verified or parsed. Deliberately says no more."""

    def __init__(self, what: str = "data") -> None:
        super().__init__(f"could not open or verify {what}")


class AuditChainBroken(CryptoError):
    """An audit log entry does not match the digest chain; `index` is the first bad entry.

    The auditor needs to know where the chain breaks, and an audit log is not attacker
    input, so this one failure does carry a position.
    """

    def __init__(self, index: int) -> None:
        super().__init__("audit chain")
        self.index = index
        self.args = (f"audit chain broken at entry {index}",)


class InvalidReceipt(ValueError):
    """The receipt as typed cannot be right: wrong number of digits or a failed check digit.

    Raised before any key derivation, so it costs nothing and reveals nothing: the check
    digit is a public function of the other nineteen digits.
    """

    def __init__(self, reason: str, digits: int) -> None:
        self.reason = reason  # "length" or "check"
        self.digits = digits
        if reason == "length":
            message = (
                f"A receipt code has 20 digits, but {digits} were entered. "
                "Please check the code and try again."
            )
        else:
            message = (
                "This receipt code has a typing mistake: one digit is wrong or two are "
                "swapped. Please check it and try again."
            )
        super().__init__(message)
