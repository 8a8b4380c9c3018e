"""The kiosk addresses every reader alike (issue 19): women's prisons use it too.

Arabic marks the person spoken to as male or female in its commands ("اكتب" is said to a
man, "اكتبي" to a woman), in "you did" ("حصلتَ"/"حصلتِ") and in "your" ("رمزكَ"/"رمزكِ":
written alike, but the voice reads "-ka", the male form). The kiosk's Arabic uses
verbal nouns and impersonal forms instead ("يرجى كتابة الرمز", "الرمز"). Urdu's polite
commands ("لکھیں") are the same for everyone, but "you can" and "you want" are not
("آپ کر سکتے ہیں" is said to a man): the kiosk says "it can be done" instead.
"""

from __future__ import annotations

import re

import pytest

from portal import kiosk_audio
from portal.i18n import load_catalogues

CATALOGUES = load_catalogues()
#: Commands said to one man: those the kiosk's Arabic used before, and the web pages' ones.
ARABIC_MALE_COMMANDS = (
    "اضغط",
    "اختر",
    "اكتب",
    "ادخل",
    "تاكد",
    "احتفظ",
    "انتظر",
    "المس",
    "لا ترد",
    "لا ترسل",
)
#: "You did", "are you still": the past tense said to a man, as the voice reads it.
ARABIC_MALE_YOU = ("حصلت", "قدمت", "هل ما زلت")
#: Words that end in "ك" without meaning "your".
NOT_YOUR = frozenset({"ذلك", "لذلك", "بذلك", "كذلك", "هناك", "تلك"})
#: Urdu "you can", "you want" agree with the reader's gender, in either form.
URDU_YOU_GENDERED = re.compile(r"آپ[^۔؟]*\b(?:سکتے|سکتی|چاہتے|چاہتی) ہیں")


def arabic_words(text: str) -> list[str]:
    """The words of `text` without vowel marks, with every alif written plain."""
    bare = re.sub("[\u064b-\u0652\u0670\u0640]", "", text)
    bare = re.sub("[أإآ]", "ا", bare)
    return re.findall("[\u0621-\u064a]+", bare)


@pytest.mark.parametrize("message", kiosk_audio.kiosk_messages())
def test_the_arabic_kiosk_does_not_speak_to_a_man(message: str) -> None:
    text = CATALOGUES["ar"].gettext(message)
    spaced = " ".join(arabic_words(text))
    said = [form for form in ARABIC_MALE_COMMANDS + ARABIC_MALE_YOU if f" {form} " in f" {spaced} "]
    assert said == [], f"{text!r} speaks to a man; use a verbal noun or an impersonal form"
    yours = [word for word in arabic_words(text) if word.endswith("ك") and word not in NOT_YOUR]
    assert yours == [], f"{text!r} says 'your' (read as male); add a word to NOT_YOUR if not"


@pytest.mark.parametrize("message", kiosk_audio.kiosk_messages())
def test_the_urdu_kiosk_does_not_say_you_can_to_one_gender(message: str) -> None:
    text = CATALOGUES["ur"].gettext(message)
    assert not URDU_YOU_GENDERED.search(text), f"{text!r} marks the reader's gender"


#: Punjabi "you can", "you want" agree with the reader's gender too ("ਸਕਦੇ ਹੋ" to a man).
PUNJABI_YOU_GENDERED = re.compile(r"ਤੁਸੀਂ[^।?]*(?:ਸਕਦੇ|ਸਕਦੀਆਂ|ਸਕਦੀ|ਚਾਹੁੰਦੇ|ਚਾਹੁੰਦੀਆਂ|ਚਾਹੁੰਦੀ) ਹੋ")


@pytest.mark.parametrize("message", kiosk_audio.kiosk_messages())
def test_the_punjabi_kiosk_does_not_say_you_can_to_one_gender(message: str) -> None:
    text = CATALOGUES["pa"].gettext(message)
    assert not PUNJABI_YOU_GENDERED.search(text), f"{text!r} marks the reader's gender"
