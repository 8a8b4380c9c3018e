"""The kiosk's screens do not wait for the sealing library (issue 19's 300 ms screen).

libsodium.js and lanthorn-protocol.js are 1.4 MB of script and a WebAssembly module: the
kiosk's first screen and its Listen button used to wait for them. Now the page names them,
each with its integrity hash, and loads them when the reporter moves towards sealing (the
first answer, the first number of a code). What a reporter notices: the first screen has
everything it shows without them, and the report is still sealed in the page. What an
attacker notices: a changed library is still refused by its hash, and then nothing is sent.
Nor does the first screen make an <audio> for each of its Listen buttons before one is touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from portal import kiosk_audio
from portal.kiosk import CHOICES, QUESTIONS, STEPS
from portal.sri import sri
from tests.conftest import needs_chromium

from .conftest import Portal
from .test_kiosk import requests_of, settle

pytestmark = needs_chromium
LIBRARY = (
    "vendor/libsodium/libsodium-sumo.js",
    "vendor/libsodium/libsodium-wrappers.js",
    "lanthorn-protocol.js",
    "receipt-page.js",
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    yield context.new_page()
    context.close()


def fetched(seen: list[Request], path: str) -> bool:
    return any(request.url.endswith("/static/" + path) for request in seen)


def test_the_first_screen_loads_without_the_sealing_library(
    kiosk_portal: Portal, page: Page
) -> None:
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk/report?lang=en", wait_until="load")
    settle(page)
    expect(page.get_by_role("heading", name="What is it about?")).to_be_visible()
    expect(page.get_by_role("button", name="Listen", exact=True).first).to_be_visible()
    assert not any(fetched(seen, path) for path in LIBRARY)
    # The first answer starts it, in order, each file with its integrity hash.
    page.get_by_role("button", name="Staff take money or gifts, or tell secrets").click()
    for _ in range(300):
        if all(fetched(seen, path) for path in LIBRARY):
            break
        page.wait_for_timeout(100)
    order = [next(i for i, r in enumerate(seen) if r.url.endswith(p)) for p in LIBRARY]
    assert order == sorted(order)
    pinned = page.evaluate(
        "() => [...document.scripts].filter(s => s.src.includes('/static/'))"
        ".map(s => [new URL(s.src).pathname, s.integrity])"
    )
    for path in LIBRARY:
        assert [f"/static/{path}", sri(path)] in pinned


def test_the_first_screen_makes_no_audio_until_listen_is_touched(
    kiosk_portal: Portal, page: Page
) -> None:
    # Every <audio> costs the page time to make, and most Listen buttons are never touched:
    # the page that works only with its scripts makes each when its Listen is first touched.
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk/report?lang=en", wait_until="load")
    settle(page)
    assert page.locator("audio").count() == 0
    assert not [r.url for r in seen if "/static/audio/" in r.url]
    listen = page.locator(".step:visible").get_by_role("button", name="Listen", exact=True)
    listen.first.click()
    made = page.locator(".step:visible audio")
    expect(made).to_have_count(1)
    assert made.get_attribute("src") == kiosk_audio.clip_url("en", QUESTIONS["category"])
    assert made.get_attribute("autoplay") is None
    listen.first.click()  # again: the same clip from its start, not a second element
    expect(page.locator("audio")).to_have_count(1)


def test_the_code_screen_loads_the_library_only_when_a_code_is_typed(
    kiosk_portal: Portal, page: Page
) -> None:
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk/follow-up?lang=en", wait_until="load")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    assert not any(fetched(seen, path) for path in LIBRARY)
    page.get_by_label("Your code").fill("1234")
    page.get_by_role("button", name="Show answers").click()
    # It loaded, and then read the code: four numbers are not a code.
    expect(page.get_by_text("A code has 20 numbers.")).to_be_visible()
    assert all(fetched(seen, path) for path in LIBRARY)


def test_a_changed_library_is_refused_and_nothing_is_sent(kiosk_portal: Portal, page: Page) -> None:
    def changed(route: Route) -> None:
        body = route.fetch().text()
        route.fulfill(
            body=body.replace("use strict", "use strict "), content_type="text/javascript"
        )

    page.route(re.compile(r".*/static/lanthorn-protocol\.js$"), changed)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk/report?lang=en")
    settle(page)
    for step in STEPS[:4]:  # the first answer each time
        page.get_by_role("button", name=next(iter(CHOICES[step].values())), exact=True).click()
    page.get_by_role("button", name="Next", exact=True).click()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("It did not work. Nothing was sent. Please try again.")).to_be_visible()
    assert any("integrity" in text and "lanthorn-protocol.js" in text for text in errors)
    assert not [r for r in seen if r.method == "POST"]
    assert page.evaluate("() => typeof window.LanthornProtocol") == "undefined"
