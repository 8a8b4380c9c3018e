"""The kiosk's spoken words: one clip per kiosk string and language, and ten digits each.

Clips are made from the same catalogues as the pages (scripts/kiosk-audio, with espeak-ng
offline, encoded with Opus), so a clip never says what the screen does not. They are
static files, the same for everyone, under portal/static/audio/<lang>/, named by a hash of
what they say: fetching one tells the server no more than the page's language already did.
The manifest (portal/audio-manifest.json) maps each message and language to its file and to
a hash of the words it was made from; when a catalogue or a template changes a string, the
hash no longer matches and the clip is stale (`stale()`, which the build and the tests
run) until the script makes it again.

An operator's human recording (portal/recordings/<lang>/<key>.opus, with the words read
in <key>.txt beside it) takes precedence over the synthesised clip while those words are
still the string's; once the string changes, the recording is set aside and said so.

The receipt is never spoken by the server: the page plays the digit clips in order.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from foundation.categories import KIOSK_CATEGORIES, KIOSK_PLACES, KIOSK_STATUS, KIOSK_WHEN
from foundation.languages import LANGUAGES

HERE = Path(__file__).parent
MANIFEST = HERE / "audio-manifest.json"
AUDIO = HERE / "static" / "audio"
RECORDINGS = HERE / "recordings"
#: espeak-ng's voice for each language it speaks. Somali has none: its kiosk is text-only
#: until recordings exist, and its Listen controls say so (docs/translations.md).
VOICES: dict[str, str] = {
    "en": "en-gb",
    "cy": "cy",
    "pl": "pl",
    "ro": "ro",
    "sq": "sq",
    "lt": "lt",
    "es": "es",
    "pt": "pt",
    "ar": "ar",
    "ur": "ur",
    "pa": "pa",
    "vi": "vi",
    "bn": "bn",
}
TEXT_ONLY = tuple(code for code in LANGUAGES if code not in VOICES)
#: Words per minute: a little slower than espeak-ng's 175 for sentences, and slower still
#: for the receipt's digits, which the page also spaces out in groups of four.
SPEED = 150
DIGIT_SPEED = 110
#: The words the kiosk shows from templates shared with the other pages (the receipt,
#: sending, a page sent twice): only their kiosk wording.
SHARED = (
    "Your report has been sent",
    "This is your code. You need it to read the answer. Nobody can find it for you.",
    "Someone is in danger",
    "We will look at your report first. But we may not read it today. If someone could be "
    "hurt soon, tell someone you trust now. It can be staff, a nurse, a Listener or the "
    "chaplain. A Listener is a prisoner who is trained to help.",
    "Keep it safe",
    "Do not keep it on paper in your cell if that is not safe. You can learn it by heart, "
    "four numbers at a time.",
    "Anyone who has this code can read the answer. Do not show it to anyone.",
    'Come back to a screen like this one in a few days. Touch "I have a code from before".',
    "Check you have it right",
    "Listen to your code",
    "Listen to what you typed",
    "That is correct. You have your receipt code.",
    "That is not the same code. Look at it again.",
    "Type the code as you wrote it down",
    "Finish and leave",
    "Sending. Please wait.",
    "It did not work. Nothing was sent. Please try again.",
    "This report was already sent",
    "This page was sent before, so your report was not sent a second time. "
    "The oversight body has it.",
    "Your code was shown only once, and nobody can show it again. "
    "If you did not keep it, you can make a new report.",
    "This message was already sent",
    "This page was sent before, so your message was not sent a second time.",
)
_TEMPLATE_STRING = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def kiosk_messages() -> list[str]:
    """Every message the kiosk shows that can be spoken: its templates' strings, its
    questions, answers, statuses and errors, its error page's, and the kiosk wording of
    shared pages.
    Strings with a %(placeholder)s (the progress line, an answer's date) are left out:
    their words change with each page."""
    found: set[str] = set(SHARED)
    for template in sorted((HERE / "templates" / "kiosk").glob("*.html")):
        for double, single in _TEMPLATE_STRING.findall(template.read_text("utf-8")):
            found.add(ast.literal_eval(f'"{double}"') if double else single)
    for module in ("kiosk.py", "kiosk_error.py"):  # the kiosk's screens and its error page
        tree = ast.parse((HERE / module).read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "N_" and node.args:
                value = node.args[0]
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
    for table in (KIOSK_CATEGORIES, KIOSK_PLACES, KIOSK_WHEN, KIOSK_STATUS):
        found.update(table.values())
    return sorted(text for text in found if "%(" not in text)


def clip_key(message: str) -> str:
    """A message's name for recordings: the same in every language, and after a
    translation changes (a recording is checked against its .txt, not its name)."""
    return hashlib.sha256(message.encode("utf-8")).hexdigest()[:16]


def words_hash(words: str, voice: str, speed: int) -> str:
    """What a synthesised clip was made from: the words, the voice and the pace."""
    made_from = f"{voice}\n{speed}\n{words}"
    return hashlib.sha256(made_from.encode("utf-8")).hexdigest()[:20]


def recording_hash(words: str) -> str:
    return hashlib.sha256(f"recording\n{words}".encode()).hexdigest()[:20]


@functools.cache
def manifest() -> dict[str, Any]:
    """The committed manifest, read once ({} before the first run of the script)."""
    if not MANIFEST.is_file():
        return {"clips": {}, "digits": {}}
    data: dict[str, Any] = json.loads(MANIFEST.read_text("utf-8"))
    return data


def clip_url(lang: str, message: str) -> str:
    """The URL of `message`'s clip in `lang`, or "" where there is none (Somali)."""
    entry = manifest()["clips"].get(lang, {}).get(message)
    return f"/static/audio/{entry['file']}" if entry else ""


def digit_urls(lang: str) -> list[str]:
    """The ten digits' clips in `lang`, 0 to 9, or [] where there are none."""
    files = manifest()["digits"].get(lang)
    return [f"/static/audio/{name}" for name in files] if files else []


def wanted(catalogues: dict[str, Any]) -> dict[str, dict[str, tuple[str, str]]]:
    """For each voiced language, each message → (the words to say, their hash): the
    words a clip must carry now. A recording's words win while they are still right."""
    result: dict[str, dict[str, tuple[str, str]]] = {}
    messages = kiosk_messages()
    for lang, voice in VOICES.items():
        gettext = catalogues[lang].gettext if lang != "en" else (lambda text: text)
        result[lang] = {}
        for message in messages:
            words = gettext(message)
            recorded = RECORDINGS / lang / f"{clip_key(message)}.txt"
            if recorded.is_file() and recorded.read_text("utf-8").strip() == words.strip():
                result[lang][message] = (words, recording_hash(words))
            else:
                result[lang][message] = (words, words_hash(words, voice, SPEED))
    return result


def stale(catalogues: dict[str, Any]) -> list[str]:
    """What the committed clips no longer match, one line each (empty when all is well):
    a string changed or added since its clip was made, or a clip file missing."""
    problems = []
    clips = manifest()["clips"]
    for lang, messages in wanted(catalogues).items():
        for message, (_, digest) in messages.items():
            entry = clips.get(lang, {}).get(message)
            if entry is None:
                problems.append(f"{lang}: no clip for {message!r}")
            elif entry["hash"] != digest:
                problems.append(f"{lang}: the clip for {message!r} is stale")
            elif not (AUDIO / entry["file"]).is_file():
                problems.append(f"{lang}: the clip file {entry['file']} is missing")
    for lang in VOICES:
        if len(manifest()["digits"].get(lang, [])) != 10:
            problems.append(f"{lang}: the ten digit clips are missing")
    return problems


def install(env: Any) -> None:
    """Give the kiosk's templates their clips, in the language of the page being made."""
    from .i18n import current_language

    env.globals["kiosk_clip"] = lambda message: clip_url(current_language.get(), message)
    env.globals["kiosk_clip_in"] = clip_url
    env.globals["digit_clips"] = lambda: digit_urls(current_language.get())
