"""The kiosk speaks (issue 19): every screen, every answer and the receipt can be heard, in
the prisoner's language, from clips made from the same catalogue the screen shows.

What a prisoner who cannot read notices: a Listen button beside the question and each
answer plays those words; the receipt is read digit by digit, in groups of four; without
JavaScript the browser's own audio controls play the same clips; Somali, which has no
voice yet, says so. What an attacker or an auditor notices: clips are the portal's own
static files (CSP `media-src 'self'`), the same for everyone, and no audio of a receipt
is ever made by the server. What a maintainer notices: a changed string fails the build,
naming its stale clip, until ./scripts/kiosk-audio has made it again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import textstat
from playwright.sync_api import Browser, Page, expect

import crypto
from foundation.languages import LANGUAGES
from portal import kiosk_audio
from portal.i18n import load_catalogues
from tests.conftest import ONE_ENGINE, needs_chromium

from .conftest import Portal
from .forms import csrf_token
from .test_kiosk import settle, shot

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = load_catalogues()
REQUIRED = os.environ.get("LANTHORN_REQUIRE_DEPLOY_TOOLS") == "1"
needs_opus_tools = pytest.mark.skipif(
    shutil.which("opusdec") is None and not REQUIRED,
    reason="opus-tools is not installed (scripts/test installs it)",
)
needs_espeak = pytest.mark.skipif(
    (shutil.which("espeak-ng") is None or shutil.which("opusenc") is None) and not REQUIRED,
    reason="espeak-ng and opus-tools are not installed (scripts/test installs them)",
)
#: Every clip the kiosk can play: sentences and digits, in every voiced language.
CLIPS = sorted(
    {
        entry["file"]
        for clips in kiosk_audio.manifest()["clips"].values()
        for entry in clips.values()
    }
    | {name for names in kiosk_audio.manifest()["digits"].values() for name in names}
)
BUDGET = 15 * 1000 * 1000


def words(lang: str, message: str) -> str:
    return CATALOGUES[lang].gettext(message)


# -- the catalogue and the clips -----------------------------------------------------------


def test_every_kiosk_string_has_a_current_clip_in_every_voiced_language() -> None:
    assert kiosk_audio.stale(CATALOGUES) == []
    assert set(kiosk_audio.VOICES) | set(kiosk_audio.TEXT_ONLY) == set(LANGUAGES)
    assert kiosk_audio.TEXT_ONLY == ("so",)  # Somali: no espeak-ng voice, text-only for now
    for lang in kiosk_audio.VOICES:
        assert set(kiosk_audio.manifest()["clips"][lang]) == set(kiosk_audio.kiosk_messages())


def test_the_kiosk_strings_include_every_screen_answer_and_status() -> None:
    from portal.kiosk import CHOICES, GREETING, QUESTIONS

    messages = set(kiosk_audio.kiosk_messages())
    for table in (QUESTIONS, GREETING, *CHOICES.values()):
        assert set(table.values()) <= messages
    assert "Are you still there? The screen will clear in 20 seconds." in messages
    assert "Sent. Nobody has read it yet." in messages  # a status name
    assert "Listen to your code" in messages


@needs_opus_tools
def test_every_clip_decodes_and_is_longer_than_nothing(tmp_path: Path) -> None:
    assert len(CLIPS) > 13 * 90
    for name in CLIPS:
        wav = tmp_path / "clip.wav"
        decode = ["opusdec", "--quiet", "--rate", "8000", str(kiosk_audio.AUDIO / name), str(wav)]
        subprocess.run(decode, check=True)  # noqa: S603, S607 - Debian's opus-tools
        data = wav.read_bytes()
        assert data[:4] == b"RIFF", name
        samples = (len(data) - 44) // 2  # 16-bit mono at 8 kHz
        assert samples > 8000 * 0.2, f"{name} is {samples / 8000:.2f} s long"


def test_all_the_clips_fit_in_fifteen_megabytes() -> None:
    on_disk = sorted(
        path.relative_to(kiosk_audio.AUDIO).as_posix()
        for path in kiosk_audio.AUDIO.glob("*/*.opus")
    )
    assert on_disk == CLIPS  # nothing left over from older strings
    total = sum((kiosk_audio.AUDIO / name).stat().st_size for name in CLIPS)
    assert total < BUDGET, f"{total / 1e6:.1f} MB of clips"


@needs_espeak
def test_a_changed_string_fails_until_the_script_makes_its_clip_again(tmp_path: Path) -> None:
    copy = tmp_path / "lanthorn"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "node_modules"),
        symlinks=True,
    )
    po = copy / "portal" / "translations" / "pl" / "LC_MESSAGES" / "messages.po"
    text = po.read_text("utf-8")
    assert 'msgstr "Widzenia"' in text
    po.write_text(text.replace('msgstr "Widzenia"', 'msgstr "Odwiedziny"'), "utf-8")
    script = [sys.executable, str(copy / "scripts" / "kiosk_audio.py")]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [*script, *extra], cwd=copy, capture_output=True, text=True, check=False
        )

    before = run("--check")
    assert before.returncode == 1
    assert "pl: the clip for 'Visits' is stale" in before.stdout
    assert before.stdout.count("stale") == 1  # the build names the one clip, nothing else
    made = run()
    assert made.returncode == 0, made.stdout + made.stderr
    assert "made 1 clips" in made.stdout
    after = run("--check")
    assert after.returncode == 0, after.stdout
    manifest = json.loads((copy / "portal" / "audio-manifest.json").read_text("utf-8"))
    new = manifest["clips"]["pl"]["Visits"]["file"]
    assert new != kiosk_audio.manifest()["clips"]["pl"]["Visits"]["file"]
    assert (copy / "portal" / "static" / "audio" / new).is_file()


def test_an_operator_recording_takes_precedence_while_its_words_are_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = kiosk_audio.clip_key("Visits")
    monkeypatch.setattr(kiosk_audio, "RECORDINGS", tmp_path)
    (tmp_path / "pl").mkdir()
    (tmp_path / "pl" / f"{key}.opus").write_bytes(b"a human voice")
    (tmp_path / "pl" / f"{key}.txt").write_text(words("pl", "Visits") + "\n", "utf-8")
    wanted = kiosk_audio.wanted(CATALOGUES)
    assert wanted["pl"]["Visits"][1] == kiosk_audio.recording_hash(words("pl", "Visits"))
    # The string changes: the recording no longer says it, and a synthesised clip is due.
    (tmp_path / "pl" / f"{key}.txt").write_text("Odwiedziny", "utf-8")
    wanted = kiosk_audio.wanted(CATALOGUES)
    assert wanted["pl"]["Visits"][1] != kiosk_audio.recording_hash(words("pl", "Visits"))


# -- plainer words ---------------------------------------------------------------------------


def test_the_kiosk_english_is_plain_enough_for_a_nine_year_old() -> None:
    """Flesch–Kincaid grade 4 or below: the kiosk's words as one text, and each sentence
    of five words or more (on a label of one or two words the formula measures only how
    many syllables one word has: "Healthcare" scores 8)."""
    messages = kiosk_audio.kiosk_messages()
    text = " ".join(m if m.rstrip()[-1:] in ".?!" else m + "." for m in messages)
    assert textstat.flesch_kincaid_grade(text) <= 4
    hard = {
        message: textstat.flesch_kincaid_grade(message)
        for message in messages
        if len(message.split()) >= 5 and textstat.flesch_kincaid_grade(message) > 4
    }
    assert hard == {}


def test_the_reviewers_wording_fixes_are_in_the_catalogues() -> None:
    assert words("pl", "I have a code from before") == "Mam już kod"
    again = 'Come back to a screen like this one in a few days. Touch "I have a code from before".'
    for lang in LANGUAGES:
        if lang != "en":  # the sentence quotes the button exactly, in every language
            assert words(lang, "I have a code from before") in words(lang, again), lang
    for lang in ("pl", "ar"):  # "kiosk" reads as a newsstand: "a screen like this one"
        kiosk_strings = [words(lang, m) for m in kiosk_audio.kiosk_messages()]
        assert not any(re.search("kiosk|كشك", text, re.I) for text in kiosk_strings), lang
    listener = next(m for m in kiosk_audio.SHARED if "A Listener is" in m)
    for lang in LANGUAGES:  # who a Listener is, said in every language
        assert words(lang, listener) != listener or lang == "en"
    romanian = [words("ro", m) for m in kiosk_audio.kiosk_messages()]
    assert not any(re.search(r"\braport|supraveghere", text, re.I) for text in romanian)
    albanian = [words("sq", m) for m in kiosk_audio.kiosk_messages()]
    assert not any(re.search("ambulanc|kodi.* i hyrjes", text) for text in albanian)


# -- the pages -------------------------------------------------------------------------------


@ONE_ENGINE
def test_clips_come_only_from_the_portal_itself(kiosk_portal: Portal) -> None:
    client = kiosk_portal.client()
    for path in ("/kiosk", "/kiosk/report?lang=pl", "/kiosk/follow-up?lang=ar"):
        response = client.get(path)
        assert "media-src 'self'" in response.headers["content-security-policy"]
        # An <audio> each, or on the page that works only with its scripts the clip's
        # address for the <audio> that kiosk-listen.js makes when Listen is touched.
        sources = re.findall(r'<audio[^>]* src="([^"]+)"', response.text)
        sources += re.findall(r'<span class="listen[^"]*" data-clip="([^"]+)"', response.text)
        assert sources
        assert all(source.startswith("/static/audio/") for source in sources)
        assert "autoplay" not in response.text  # nothing plays by itself
    clip = client.get(re.findall(r'<audio[^>]* src="([^"]+)"', client.get("/kiosk").text)[0])
    assert clip.status_code == 200
    assert clip.headers["content-type"] == "audio/ogg"
    assert "set-cookie" not in clip.headers  # the same file for everyone
    # Cached like every other static file of the portal's (no-store: nothing stays behind).
    assert clip.headers["cache-control"] == client.get("/static/kiosk.css").headers["cache-control"]


@ONE_ENGINE
def test_somali_has_no_voice_yet_and_its_listen_control_says_so(kiosk_portal: Portal) -> None:
    page = kiosk_portal.client().get("/kiosk/report?lang=so").text
    assert "<audio" not in page
    assert words("so", "No sound yet in this language") in page
    assert words("so", "No sound yet in this language") != "No sound yet in this language"


# -- in Chromium -----------------------------------------------------------------------------

#: Records every clip a page plays to its end, whichever element plays it. The test
#: listens fast: every element plays at 8 times its speed (the order and the clips heard are
#: what is checked; the receipt's pauses between digits are the page's own and stay).
LISTEN_FOR_PLAYS = """
window.__played = [];
(function (play) {
  HTMLMediaElement.prototype.play = function () {
    this.defaultPlaybackRate = 8;
    this.playbackRate = 8;
    return play.apply(this, arguments);
  };
})(HTMLMediaElement.prototype.play);
document.addEventListener("ended", function (event) {
  window.__played.push(new URL(event.target.currentSrc).pathname);
}, true);
"""


def played(page: Page, count: int) -> list[str]:
    """The clips played to their end so far, once there are `count` of them (polled: the
    kiosk's CSP refuses the eval behind Playwright's wait_for_function)."""
    result: list[str] = []
    for _ in range(600):
        result = page.evaluate("window.__played")
        if len(result) >= count:
            return result
        page.wait_for_timeout(100)
    raise AssertionError(f"only {len(result)} clips played, not {count}: {result}")


def clip(lang: str, message: str) -> str:
    return kiosk_audio.clip_url(lang, message)


@pytest.fixture
def listening(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    context.add_init_script(LISTEN_FOR_PLAYS)
    return context.new_page()


@ONE_ENGINE
@needs_chromium
@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_listen_plays_each_screen_and_answer_in_the_page_language(
    kiosk_portal: Portal, listening: Page, lang: str
) -> None:
    from portal.kiosk import CHOICES, QUESTIONS, STEPS

    page = listening
    _ = CATALOGUES[lang].gettext
    listen = _("Listen")
    page.goto(kiosk_portal.url + "/kiosk")
    page.get_by_role("button", name=LANGUAGES[lang], exact=True).click()
    settle(page)
    assert page.locator("html").get_attribute("lang") == lang
    shot(page, f"kiosk-13-listen-{lang}")
    heard = 0
    for step in STEPS[:4]:  # what, where, when, danger: the question, then the first answer
        page.locator(".step:visible").get_by_role("button", name=listen, exact=True).first.click()
        heard += 1
        assert played(page, heard)[-1] == clip(lang, QUESTIONS[step])
        first = next(iter(CHOICES[step].values()))
        row = page.get_by_role("button", name=_(first), exact=True).locator("..")
        row.get_by_role("button", name=listen, exact=True).click()
        heard += 1
        assert played(page, heard)[-1] == clip(lang, first)
        page.get_by_role("button", name=_(first), exact=True).click()
    screen = page.locator(".step:visible")
    screen.get_by_role("button", name=listen, exact=True).first.click()
    heard += 1
    assert played(page, heard)[-1] == clip(lang, QUESTIONS["describe"])
    page.get_by_role("button", name=_("Next"), exact=True).click()
    page.locator(".step:visible").get_by_role("button", name=listen, exact=True).first.click()
    heard += 1
    assert played(page, heard)[-1] == clip(lang, QUESTIONS["check"])
    page.get_by_role("button", name=_("Send"), exact=True).click()

    # The receipt: the digits' clips, one after another, in the receipt's order.
    receipt = page.locator(".receipt")
    expect(receipt).to_be_visible(timeout=30_000)
    code = crypto.validate_receipt(receipt.inner_text())
    digits = re.sub(r"\D", "", code)
    page.get_by_role("button", name=_("Listen to your code"), exact=True).click()
    sequence = played(page, heard + len(digits))[heard:]
    urls = kiosk_audio.digit_urls(lang)
    assert sequence == [urls[int(digit)] for digit in digits]
    heard += len(digits)
    # The check can be done by listening: what was typed is read the same way.
    page.get_by_label(_("Type the code as you wrote it down")).fill(digits[:8])
    page.get_by_role("button", name=_("Listen to what you typed"), exact=True).click()
    assert played(page, heard + 8)[heard:] == [urls[int(digit)] for digit in digits[:8]]


@ONE_ENGINE
@needs_chromium
def test_the_code_screen_can_be_heard(kiosk_portal: Portal, listening: Page) -> None:
    page = listening
    _ = CATALOGUES["pl"].gettext
    page.goto(kiosk_portal.url + "/kiosk/follow-up?lang=pl")
    # The screen's own Listen comes first; the sentence under the heading has its own.
    page.locator("#follow-up").get_by_role("button", name=_("Listen"), exact=True).first.click()
    assert played(page, 1) == [clip("pl", "Type your code")]


@ONE_ENGINE
def test_the_idle_warning_has_its_own_listen_control(kiosk_portal: Portal) -> None:
    page = kiosk_portal.client().get("/kiosk/follow-up?lang=ar").text
    warning = page[page.index('id="idle-warning"') : page.index("</div>")]
    idle = "Are you still there? The screen will clear in 20 seconds."
    assert f'src="{clip("ar", idle)}"' in warning


@ONE_ENGINE
@needs_chromium
def test_each_language_can_be_heard_before_choosing_it(
    kiosk_portal: Portal, listening: Page
) -> None:
    page = listening
    page.goto(kiosk_portal.url + "/kiosk")
    row = page.get_by_role("button", name="العربية", exact=True).locator("..")
    row.get_by_role("button", name=CATALOGUES["ar"].gettext("Listen"), exact=True).click()
    message = "Nobody here will know it was you. Choose your language."
    assert played(page, 1) == [clip("ar", message)]
    assert (
        page.get_by_role("button", name="Soomaali", exact=True)
        .locator("..")
        .get_by_role("button")
        .count()
        == 1
    )  # Somali: its name alone, no Listen that would stay silent


@ONE_ENGINE
@needs_chromium
def test_without_javascript_the_browser_audio_controls_play_the_clips(
    kiosk_portal: Portal, scriptless_page: Page
) -> None:
    page = scriptless_page
    _ = CATALOGUES["pl"].gettext
    page.goto(kiosk_portal.url + "/kiosk")
    page.get_by_role("button", name="Polski", exact=True).click()
    assert page.locator("input[name=step]").get_attribute("value") == "category"
    controls = page.get_by_role("main").get_by_label(_("Listen"), exact=True)
    expect(controls.first).to_be_visible()
    shot(page, "kiosk-14-listen-without-javascript-pl")
    assert controls.count() == 1 + 10  # the question and each of the ten answers
    first = controls.first
    assert first.get_attribute("controls") is not None
    box = first.bounding_box()
    assert box is not None
    # The player's own play button. A loaded machine may lay the player out after a click
    # lands (the click then does nothing), so a player found paused is pressed again; one
    # that is playing is never pressed (a second press would pause it).
    heard = "audio => audio.ended || audio.currentTime > 0.3"
    for _ in range(600):
        if first.evaluate(heard):
            break
        if _ % 50 == 0 and first.evaluate("audio => audio.paused && !audio.ended"):
            page.mouse.click(box["x"] + 20, box["y"] + box["height"] / 2)
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the audio control did not play")
    assert first.get_attribute("src") == clip("pl", "What is it about?")


@ONE_ENGINE
def test_without_javascript_the_receipt_has_a_player_for_each_digit_in_order(
    kiosk_portal: Portal,
) -> None:
    """The server's receipt page names the same ten digit clips for every code: the order
    in the page is the only thing that is the receipt's, and the server made no audio."""
    from portal.kiosk import CHOICES

    client = kiosk_portal.client()
    csrf = csrf_token(client, "/kiosk")
    response = client.post("/kiosk/answer", data={"csrf": csrf, "lang": "ar"})
    for step in (*CHOICES, "describe", "check"):  # the first answer each time, then Send
        token = re.search(r'name="token" value="([^"]+)"', response.text)
        assert token, step
        data = {"csrf": csrf, "token": token.group(1), "step": step, "text": ""}
        if step in CHOICES:
            data["answer"] = next(iter(CHOICES[step]))
        response = client.post("/kiosk/answer", data=data)
    page = response.text
    assert response.status_code == 201, page
    groups = re.findall(r'<span class="group">(\d{4})</span>', page)
    digits = "".join(groups)
    assert len(digits) == 20
    crypto.validate_receipt(digits)
    players = re.findall(r'<audio class="digit" controls preload="none" src="([^"]+)"', page)
    urls = kiosk_audio.digit_urls("ar")
    assert players == [urls[int(digit)] for digit in digits]
    assert page.index('<noscript><div class="listen-code">') < page.index('<audio class="digit"')
    assert len(set(urls)) == 10  # ten files, the same for every code and every person
