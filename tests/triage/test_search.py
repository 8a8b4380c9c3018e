"""How the search index reads words: the same rules for the cases' text and for a query."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage.search_words import MAX_WORD, item_text, normalise, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Officer R. Hale (nights, C wing)", ["officer", "r", "hale", "nights", "c", "wing"]),
        ("Łódź CAFÉ naïve Straße", ["lodz", "cafe", "naive", "strasse"]),
        ("Ionuț și Gëzim, Dževad, Đorđe", ["ionut", "si", "gezim", "dzevad", "dorde"]),
        ("ﬁle №5 ＡＢＣ", ["file", "no5", "abc"]),  # compatibility forms (NFKC)
        ("İstanbul ΣΟΦΊΑ", ["istanbul", "σοφια"]),
        ("রাজশাহী কারাগার", ["রাজশাহী", "কারাগার"]),  # vowel signs stay in their words
        ("ਜੇਲ੍ਹ ਅਧਿਕਾਰੀ", ["ਜੇਲ੍ਹ", "ਅਧਿਕਾਰੀ"]),
        ("سجن الرجال", ["سجن", "الرجال"]),
        ("photo_2041.JPG", ["photo_2041", "jpg"]),
        ("", []),
    ],
)
def test_words_are_folded_the_same_for_text_and_queries(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_very_long_words_are_not_indexed() -> None:
    assert words("a" * MAX_WORD + " " + "b" * (MAX_WORD + 1) + " end") == ["a" * MAX_WORD, "end"]


@given(st.text())
def test_folding_is_stable(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert words(" ".join(words(text))) == words(text)


def test_the_identity_section_is_not_searchable_text() -> None:
    document = {
        "type": "report",
        "description": "what happened",
        "identity": "my name",
        "attachments": [{"name": "scan.pdf"}, {"name": 7}, "junk"],
    }
    assert words(item_text({"document": document})) == ["what", "happened", "scan", "pdf"]
    assert item_text({"document": {}, "purged_on": "2040-01-01"}) == ""
    assert item_text([]) == ""
