"""The kiosk speaks on every screen (issue 19), beyond the questions and the receipt: the
screen left behind, the kiosk's error page, the errors and warnings on its screens, the
follow-up's status, and a message sent twice.

What a prisoner who cannot read notices: each of these has a Listen control that plays
the words beside it in the page's language (or, where the kiosk cannot know the language,
in each language beside that language's words); without JavaScript the browser's own
audio controls are there and play the same clips. Nothing plays by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from foundation.languages import LANGUAGES
from portal import kiosk_audio, kiosk_error
from portal.kiosk import GREETING, TOUCH_AN_ANSWER
from tests.conftest import needs_chromium
from tests.triage.conftest import console_settings, pair  # noqa: F401 - fixtures used here
from triage.console import Console

from .conftest import Portal
from .forms import csrf_token, hidden_fields
from .test_kiosk import shot
from .test_kiosk_audio import CATALOGUES, LISTEN_FOR_PLAYS, clip, played
from .test_kiosk_write_back import REPLY, answered_report, write_back_without_script

VOICED = list(kiosk_audio.VOICES)
START = GREETING["start"]


@pytest.fixture
def listening(browser: Browser) -> Iterator[Page]:
    """A kiosk with JavaScript that records every clip played to its end (`played`)."""
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    context.add_init_script(LISTEN_FOR_PLAYS)
    yield context.new_page()
    context.close()


def plays(page: Page, control: Locator) -> None:
    """The browser's own audio control plays when its play button is pressed (no script)."""
    box = control.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 20, box["y"] + box["height"] / 2)
    for _ in range(300):
        if control.evaluate("audio => audio.ended || audio.currentTime > 0.3"):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the audio control did not play")


def in_language(page: str, code: str) -> str:
    """The part of an every-language page that is `code`'s: its list item."""
    found = re.search(rf'<li lang="{code}"[^>]*>(.*?)</li>', page, re.S)
    assert found, code
    return found.group(1)


# -- the kiosk's error page ------------------------------------------------------------------


def test_an_error_at_the_kiosk_is_said_in_every_language_each_with_its_clip(
    kiosk_portal: Portal,
) -> None:
    client = kiosk_portal.client()
    answers = {
        404: client.get("/kiosk/nowhere"),
        405: client.get("/kiosk/answer"),
        403: client.post("/kiosk/answer", data={"lang": "pl"}),  # no CSRF token: refused
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        csp = answer.headers["content-security-policy"]
        assert "media-src 'self'" in csp
        assert "script-src 'self'" in csp
        page = answer.text
        assert 'class="quick-exit"' in page  # the kiosk's screen, not the web pages'
        assert 'href="/about"' not in page
        for code in LANGUAGES:
            words = CATALOGUES[code].gettext(kiosk_error.TEXT)
            mine = in_language(page, code)
            assert words in mine
            if code in VOICED:
                assert f'src="{clip(code, kiosk_error.TEXT)}"' in mine
            else:  # Somali: its words, and no Listen that would stay silent, but says so
                assert "<audio" not in mine
                assert CATALOGUES[code].gettext("No sound yet in this language") in mine
        assert "autoplay" not in page
    assert answers[405].headers["allow"] == "POST"


@needs_chromium
def test_listen_on_the_kiosk_error_page_plays_each_language(
    kiosk_portal: Portal, listening: Page
) -> None:
    page = listening
    page.goto(kiosk_portal.url + "/kiosk/nowhere")
    shot(page, "kiosk-15-error-page")
    fits = "document.documentElement.scrollHeight <= window.innerHeight"
    assert page.evaluate(fits)  # one kiosk screen (1080 × 1200), no scrolling
    for n, code in enumerate(("ar", "pl"), start=1):
        row = page.get_by_role("listitem").filter(
            has_text=CATALOGUES[code].gettext(kiosk_error.TEXT)
        )
        row.get_by_role("button", name=CATALOGUES[code].gettext("Listen"), exact=True).click()
        assert played(page, n)[-1] == clip(code, kiosk_error.TEXT)


@needs_chromium
def test_without_javascript_the_error_page_has_audio_controls_that_play(
    kiosk_portal: Portal, scriptless_page: Page
) -> None:
    page = scriptless_page
    response = page.goto(kiosk_portal.url + "/kiosk/nowhere")
    assert response is not None
    assert response.status == 404
    polish = CATALOGUES["pl"].gettext
    row = page.get_by_role("listitem").filter(has_text=polish(kiosk_error.TEXT))
    control = row.get_by_label(polish("Listen"), exact=True)
    assert control.get_attribute("controls") is not None
    assert control.get_attribute("src") == clip("pl", kiosk_error.TEXT)
    plays(page, control)


# -- the screen left behind ------------------------------------------------------------------


def test_the_screen_left_behind_can_be_heard_in_every_voiced_language(
    kiosk_portal: Portal,
) -> None:
    answer = kiosk_portal.client().get("/kiosk/exit")
    assert answer.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    page = answer.text
    assert "data-idle" not in page  # still no idle end of its own
    for code in VOICED:
        mine = in_language(page, code)
        assert LANGUAGES[code] in mine
        assert f'src="{clip(code, START)}"' in mine
    assert '<li lang="so"' not in page  # no Listen that would stay silent
    assert "autoplay" not in page


@needs_chromium
def test_listen_on_the_screen_left_behind_plays_that_language(
    kiosk_portal: Portal, listening: Page
) -> None:
    page = listening
    page.goto(kiosk_portal.url + "/kiosk/exit")
    row = page.get_by_role("listitem").filter(has_text="Polski")
    row.get_by_role("button", name=CATALOGUES["pl"].gettext("Listen"), exact=True).click()
    assert played(page, 1) == [clip("pl", START)]


@needs_chromium
def test_without_javascript_the_screen_left_behind_has_audio_controls_that_play(
    kiosk_portal: Portal, scriptless_page: Page
) -> None:
    page = scriptless_page
    page.goto(kiosk_portal.url + "/kiosk/exit")
    row = page.get_by_role("listitem").filter(has_text="العربية")
    control = row.get_by_label(CATALOGUES["ar"].gettext("Listen"), exact=True)
    assert control.get_attribute("src") == clip("ar", START)
    plays(page, control)


# -- errors and warnings on the kiosk's screens ---------------------------------------------


def test_an_error_on_a_kiosk_screen_has_its_clip_beside_it(kiosk_portal: Portal) -> None:
    client = kiosk_portal.client()
    csrf = csrf_token(client, "/kiosk")
    first = client.post("/kiosk/answer", data={"csrf": csrf, "lang": "ar"})
    fields = {**hidden_fields(first.text, "/kiosk/answer"), "step": "category"}
    refused = client.post("/kiosk/answer", data=fields)  # Next, without an answer
    assert refused.status_code == 422
    alert = re.search(r'<p class="error">(.*?)</p>', refused.text, re.S)
    assert alert
    assert CATALOGUES["ar"].gettext(TOUCH_AN_ANSWER) in alert.group(1)
    assert f'src="{clip("ar", TOUCH_AN_ANSWER)}"' in alert.group(1)

    token = csrf_token(client, "/kiosk/follow-up")
    short = client.post("/kiosk/follow-up", data={"csrf": token, "receipt": "1234", "lang": "pl"})
    assert short.status_code == 422
    length = "A code has 20 numbers. Check that you typed all of them."
    alert = re.search(r'<p class="error">(.*?)</p>', short.text, re.S)
    assert alert
    assert f'src="{clip("pl", length)}"' in alert.group(1)


@needs_chromium
@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_a_typing_mistake_in_the_code_can_be_heard(
    kiosk_portal: Portal, listening: Page, lang: str
) -> None:
    page = listening
    _ = CATALOGUES[lang].gettext
    page.goto(kiosk_portal.url + f"/kiosk/follow-up?lang={lang}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    page.get_by_label(_("Your code")).fill("1234")
    page.get_by_role("button", name=_("Show answers")).click()
    length = "A code has 20 numbers. Check that you typed all of them."
    # The alert is the words alone (a screen reader reads them, not "Listen" too), and
    # their Listen sits beside them.
    expect(page.get_by_role("alert")).to_have_text(_(length))
    shot(page, f"kiosk-16-code-mistake-{lang}")
    beside = page.get_by_role("paragraph").filter(has=page.get_by_role("alert"))
    beside.get_by_role("button", name=_("Listen"), exact=True).click()
    assert played(page, 1) == [clip(lang, length)]


# -- the follow-up: the status's name, and a message sent twice ------------------------------


@needs_chromium
@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_the_status_name_and_the_write_back_screens_can_be_heard_in_the_page_language(
    pair: tuple[Portal, Console],  # noqa: F811 - the fixture imported above
    listening: Page,
    lang: str,
) -> None:
    portal, console = pair
    receipt, _case = answered_report(portal, console)
    _ = CATALOGUES[lang].gettext
    status = "Read by the people outside the prison"  # answered: read, whatever else
    page = listening
    page.goto(portal.url + f"/kiosk/follow-up?lang={lang}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_label(_("Your code")).fill(receipt)
    page.get_by_role("button", name=_("Show answers")).click()
    expect(page.get_by_text(REPLY)).to_be_visible()
    expect(page.get_by_role("strong")).to_have_text(_(status))
    listen = page.get_by_role("button", name=_("Listen"), exact=True)
    expect(listen).to_have_count(2)  # the screen's ("Your report"), then the status's
    listen.nth(1).click()
    assert played(page, 1) == [clip(lang, status)]
    listen.nth(0).click()
    assert played(page, 2)[-1] == clip(lang, "Your report")

    # The write-back screens: each one's Listen plays that screen's words.
    page.get_by_role("button", name=_("Write back")).click()
    write, check, sent = "What do you want to say?", "Is this right?", "Your message has been sent."
    for heard, screen in enumerate((write, check, sent), start=3):
        expect(page.get_by_role("heading", name=_(screen))).to_be_visible()
        page.get_by_role("button", name=_("Listen"), exact=True).first.click()
        assert played(page, heard)[-1] == clip(lang, screen)
        if screen == write:
            words = _("Write your message here. Only the people outside the prison will read it.")
            page.get_by_label(words).fill("canary-7f2a It happened again.")
            page.get_by_role("button", name=_("Next")).click()
        elif screen == check:
            page.get_by_role("button", name=_("Send")).click()


@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_without_javascript_the_status_name_has_its_clip_beside_it(
    pair: tuple[Portal, Console],  # noqa: F811 - the fixture imported above
    lang: str,
) -> None:
    portal, console = pair
    receipt, _case = answered_report(portal, console)
    client = portal.client()
    token = csrf_token(client, "/kiosk/follow-up")
    answer = client.post("/kiosk/follow-up", data={"csrf": token, "receipt": receipt, "lang": lang})
    assert answer.status_code == 200
    status = "Read by the people outside the prison"
    shown = CATALOGUES[lang].gettext(status)
    beside = rf'<strong>{re.escape(shown)}</strong></p>\s*<audio[^>]* src="([^"]+)"'
    found = re.search(beside, answer.text)
    assert found
    assert found.group(1) == clip(lang, status)


def test_a_message_sent_twice_at_the_kiosk_says_so_aloud_and_leads_to_finish(
    pair: tuple[Portal, Console],  # noqa: F811 - the fixture imported above
) -> None:
    portal, console = pair
    receipt, _case = answered_report(portal, console)
    client = portal.client()
    *_, check, done = write_back_without_script(client, receipt, "pl", "Tylko raz.")
    assert done.status_code == 200
    again = client.post("/kiosk/write-back", data={**hidden_fields(check.text), "go": "send"})
    assert again.status_code == 409
    for words in (
        "This message was already sent",
        "This page was sent before, so your message was not sent a second time.",
    ):
        assert CATALOGUES["pl"].gettext(words) in again.text
        assert f'src="{clip("pl", words)}"' in again.text
    assert 'href="/kiosk/exit"' in again.text
    assert 'href="/thread"' not in again.text  # the web pages' own, not the kiosk's


# -- the idle warning ------------------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_the_idle_warning_can_be_heard_and_stays_up_to_be_answered(
    kiosk_portal: Portal, listening: Page, lang: str
) -> None:
    page = listening
    _ = CATALOGUES[lang].gettext
    page.clock.install()
    page.goto(kiosk_portal.url + f"/kiosk/follow-up?lang={lang}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    warning = page.get_by_role("alertdialog")
    page.clock.fast_forward(71_000)  # 19 s before the screen clears: the warning is up
    expect(warning).to_be_visible()
    warning.get_by_role("button", name=_("Listen"), exact=True).click()
    idle = "Are you still there? The screen will clear in 20 seconds."
    page.clock.run_for(100)  # the clip plays in real time; the page's timers wait
    assert played(page, 1) == [clip(lang, idle)]
    expect(warning).to_be_visible()  # listening is not an answer: the question stays
    warning.get_by_role("button", name=_("I am still here")).click()
    expect(warning).to_be_hidden()
    assert page.url.endswith(f"/kiosk/follow-up?lang={lang}")
