"""What the search index and a query are made of: words, normalised alike.

What is indexed (`item_text`): a report's description, who (subjects), witnesses, where
(location and prison), when (occurred); the text of messages and replies; attachment file
names. Never the reporter's identity section: finding a case by the name its reporter
disclosed would reveal the identity without the audited "reveal". Words are normalised the
same way in the index and in a query (`words`): NFKC, case folded, accents folded
(é → e, ł → l). A query is cut to `MAX_QUERY_CHARS` characters and `MAX_QUERY_WORDS`
different words (`query_terms`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: Longer "words" (encoded data, long URLs) are not indexed.
MAX_WORD = 40
#: A query uses at most this many words, and this many characters.
MAX_QUERY_WORDS = 12
MAX_QUERY_CHARS = 200

_FIELDS = ("description", "subjects", "witnesses", "location", "facility", "occurred", "text")
# Combining accents as Latin, Greek and Cyrillic letters decompose into them. Other marks
# (Arabic, Bengali, Gurmukhi vowel signs and the like) are part of their words and stay.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LETTERS = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "æ": "ae", "œ": "oe", "þ": "th"}
)


def _mark_ranges() -> str:
    """A regex character class body for every combining mark in the BMP."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_WORD = re.compile(f"[\\w{_mark_ranges()}]+")


def normalise(text: str) -> str:
    """`text` as the index sees it: NFKC, case folded, accents folded."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _ACCENTS.sub("", unicodedata.normalize("NFD", folded)).translate(_LETTERS)
    return unicodedata.normalize("NFC", folded)


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order."""
    return [word for word in _WORD.findall(normalise(text)) if len(word) <= MAX_WORD]


def item_text(content: Any) -> str:
    """The searchable text of one opened item (see the module docstring for what)."""
    document = content.get("document") if isinstance(content, dict) else None
    if not isinstance(document, dict):
        return ""
    parts = [document[f] for f in _FIELDS if isinstance(document.get(f), str)]
    attachments = document.get("attachments")
    for descriptor in attachments if isinstance(attachments, list) else ():
        if isinstance(descriptor, dict) and isinstance(descriptor.get("name"), str):
            parts.append(descriptor["name"])
    return "\n".join(parts)


def query_terms(query: str) -> list[str]:
    """The words a query searches for: each once, in order, within the limits above."""
    return list(dict.fromkeys(words(query[:MAX_QUERY_CHARS])))[:MAX_QUERY_WORDS]
