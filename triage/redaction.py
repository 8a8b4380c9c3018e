"""What a referral package leaves out: the reporter's identity, and the passages an
officer chooses (triage/referral.py).

An identity section is never exported; `identity_passages` finds what it names (each part
between commas or line breaks, and each word that could name someone) so that those
words are redacted wherever else they appear. The officer's own passages must each be
found (`Redactor.missing`), so that a misspelt passage cannot leave the real one in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_PASSAGE = 3
MAX_PASSAGES = 100
MAX_PASSAGE_CHARS = 500
#: Words in an identity section that do not identify anyone by themselves.
_COMMON = {
    "and", "the", "officer", "prison", "prisoner", "wing", "staff", "nurse", "governor",
    "mr", "mrs", "ms", "miss", "dr", "hmp", "cell", "block", "number", "name", "my", "am",
}  # fmt: skip
_SPLIT = re.compile(r"[,;\n/|()]+")
_WORD = re.compile(r"[\w'’-]+")


class ReferralError(ValueError):
    """The package cannot be made as asked (the message says why, for the officer)."""


def _pattern(passage: str) -> re.Pattern[str]:
    """Matches the passage whatever its case, and across any run of spaces or line breaks."""
    words = unicodedata.normalize("NFC", passage).split()
    return re.compile(r"\s+".join(re.escape(word) for word in words), re.IGNORECASE)


def identity_passages(identity: str) -> list[str]:
    """What an identity section names, as passages to redact elsewhere in the case: each
    part between commas or line breaks, and each word of it that could name someone
    (three characters or more, not a common word, and written with a capital, in a
    script without capitals, or with a digit: "Dana", "40417", not "night")."""
    found: list[str] = []
    for part in _SPLIT.split(identity):
        part = part.strip(" .:-")
        if len(part) >= MIN_PASSAGE:
            found.append(part)
        for word in _WORD.findall(part):
            if word.casefold() in _COMMON:
                continue
            if len(word) >= MIN_PASSAGE and (not word[0].islower() or word[0].isdigit()):
                found.append(word)
    return list(dict.fromkeys(found))


class Redactor:
    """Replaces every chosen passage, longest first, counting what each one matched."""

    def __init__(self, chosen: Iterable[str], implied: Iterable[str] = ()) -> None:
        self.chosen = check_passages(chosen)
        implied = [p for p in implied if p.strip() and p not in self.chosen]
        everything = sorted({*self.chosen, *implied}, key=len, reverse=True)
        self._patterns = [(p, _pattern(p)) for p in everything]
        self.hits = dict.fromkeys(everything, 0)

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        for passage, pattern in self._patterns:
            text, count = pattern.subn(REDACTED, text)
            self.hits[passage] += count
        return text

    def missing(self) -> list[str]:
        """Chosen passages that matched nothing: probably misspelt."""
        return [p for p in self.chosen if self.hits[p] == 0]

    @property
    def total(self) -> int:
        return sum(self.hits.values())


def check_passages(passages: Iterable[str]) -> list[str]:
    kept = list(dict.fromkeys(" ".join(p.split()) for p in passages if p.strip()))
    if len(kept) > MAX_PASSAGES:
        raise ReferralError(f"choose at most {MAX_PASSAGES} passages to redact")
    for passage in kept:
        if len(passage) < MIN_PASSAGE:
            raise ReferralError(
                f"{passage!r} is too short to redact safely: choose at least "
                f"{MIN_PASSAGE} characters, such as a whole word"
            )
        if len(passage) > MAX_PASSAGE_CHARS:
            raise ReferralError(
                f"a passage to redact may be at most {MAX_PASSAGE_CHARS} characters"
            )
    return kept
