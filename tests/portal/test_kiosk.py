"""The prisoner kiosk in Chromium: one question per screen, a receipt, an answer read at
the kiosk later — and nothing for the next person in the queue to find."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect
from playwright.sync_api import Error as PlaywrightError

import crypto
from portal.i18n import load_catalogues
from tests.conftest import needs_chromium

from .conftest import Portal
from .forms import csrf_token

pytestmark = needs_chromium
SHOTS = os.environ.get("LANTHORN_SCREENSHOTS")  # a directory to keep screenshots in


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A kiosk: JavaScript on, so the report is sealed in the page; its screen's size."""
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    yield context.new_page()
    context.close()


def requests_of(page: Page) -> list[Request]:
    """Every request the page makes from now on, with its body."""
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    return seen


def nothing_readable_left(page: Page, *secrets: str) -> None:
    """The browser holds no storage, cookies or history that could show `secrets`."""
    storage = page.evaluate(
        "async () => [localStorage.length, sessionStorage.length,"
        " (await indexedDB.databases()).length, (await caches.keys()).length]"
    )
    assert storage == [0, 0, 0, 0]
    assert page.context.cookies() == []
    for _ in range(3):  # Back does not bring the last person's screens
        # A POST answer cannot be shown again (no-store): Chromium says ERR_CACHE_MISS.
        with contextlib.suppress(PlaywrightError):
            page.go_back(wait_until="commit")
        content = settled_content(page)
        for secret in secrets:
            assert secret not in content


def settled_content(page: Page) -> str:
    """The page's HTML once it has stopped navigating."""
    for _ in range(50):
        with contextlib.suppress(PlaywrightError):
            return page.content()
        page.wait_for_timeout(100)
    raise AssertionError("the page never settled")


def settle(page: Page) -> None:
    """Wait for the page's scripts when it has them: a tap before they run goes to the
    server's step pages instead (fine for a person, not what a test of the script wants)."""
    page.locator("#kiosk-app[data-ready], input[name=step]").first.wait_for(state="attached")


def shot(page: Page, name: str) -> None:
    """Keep a screenshot for docs/screenshots when LANTHORN_SCREENSHOTS names a directory."""
    if SHOTS:
        page.wait_for_load_state("load")  # with every picture drawn
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def report_at_the_kiosk(page: Page, url: str, words: str, shots: bool = True) -> str:
    """A whole report, first answer by first answer; `shots` for docs/screenshots, which
    show the kiosk as it runs (with JavaScript)."""
    snap = shot if shots else lambda page, name: None
    page.goto(url + "/kiosk")
    snap(page, "kiosk-1-language")
    page.get_by_role("button", name="English").click()
    settle(page)
    snap(page, "kiosk-2-what")
    page.get_by_role("button", name="Staff take money or gifts, or tell secrets").click()
    snap(page, "kiosk-3-where")
    page.get_by_role("button", name="In a cell or on the wing").click()
    page.get_by_role("button", name="In the last 7 days").click()
    snap(page, "kiosk-4-danger")
    page.get_by_role("button", name="No, or I do not know").click()
    page.get_by_label("You do not have to write anything").fill(words)
    snap(page, "kiosk-5-words")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text(words)).to_be_visible()  # the summary before sending
    snap(page, "kiosk-6-check")
    page.get_by_role("button", name="Send").click()
    receipt = page.locator(".receipt")
    expect(receipt).to_be_visible(timeout=30_000)
    snap(page, "kiosk-7-receipt")
    return receipt.inner_text()


def test_a_prisoner_reports_and_later_reads_the_answer(kiosk_portal: Portal, page: Page) -> None:
    receipt = report_at_the_kiosk(page, kiosk_portal.url, "Officer sells spice on B wing.")
    digits = crypto.validate_receipt(receipt)
    expect(page.get_by_text("learn it by heart, four numbers at a time")).to_be_visible()
    page.get_by_label("Type the code as you wrote it down").fill(digits)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_text("That is correct")).to_be_visible()
    expect(page.locator(".quick-exit")).to_be_visible()  # the kiosk layout kept after the check

    console = kiosk_portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    assert (report["channel"], report["facility"]) == ("kiosk", "HMP Example")
    assert report["category"] == "corruption"
    assert report["location"] == "In a cell or on the wing"
    assert report["occurred"] == "In the last 7 days"
    assert report["urgent"] is False
    assert report["description"] == "Officer sells spice on B wing."
    console.reply(item["case"], report, "We are looking into it. Stay safe.")

    page.goto(kiosk_portal.url + "/kiosk")
    page.get_by_role("button", name="English").click()
    settle(page)
    page.get_by_role("link", name="I have a code from before").click()
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    sent = requests_of(page)
    page.get_by_label("Your code").fill(receipt.replace(" ", "-"))  # typed the way it was kept
    page.get_by_role("button", name="Show answers").click()
    expect(page.get_by_text("We are looking into it. Stay safe.")).to_be_visible()
    # An answer means the report was read: the status never says otherwise above it.
    expect(page.locator("[data-status]")).to_have_text("Read by the people outside the prison")
    shot(page, "kiosk-9-answer")
    # The code was turned into keys at the kiosk: it never went to the portal.
    calls = [(r.method, r.url.removeprefix(kiosk_portal.url)) for r in sent]
    assert [call for call in calls if not call[1].startswith("/static/")] == [
        ("GET", "/api/v1/config"),
        ("GET", "/api/v1/thread"),
    ]
    assert all(digits not in (r.post_data or "") + r.url for r in sent)


def test_the_kiosk_seals_the_report_in_the_page(kiosk_portal: Portal, page: Page) -> None:
    canary = "canary-3d9e2b7a sold spice"
    sent = requests_of(page)
    receipt = report_at_the_kiosk(page, kiosk_portal.url, canary)
    posts = [r.url.removeprefix(kiosk_portal.url) for r in sent if r.method == "POST"]
    assert posts == ["/api/v1/reports"]  # no answer went to /kiosk/answer
    for request in sent:
        body = request.post_data_buffer or b""
        assert canary.encode() not in body
        assert canary.replace(" ", "+").encode() not in body  # nor as a form would send it
        assert b"corruption" not in body  # the category is inside the sealed box too
        assert canary not in request.url
        assert crypto.validate_receipt(receipt).encode() not in body
    console = kiosk_portal.console()
    [item] = console.outbox()["items"]
    assert console.open(item)["description"] == canary


def test_a_kiosk_without_javascript_still_reports(
    kiosk_portal: Portal, scriptless_page: Page
) -> None:
    receipt = report_at_the_kiosk(scriptless_page, kiosk_portal.url, "No script here", False)
    assert crypto.validate_receipt(receipt)
    console = kiosk_portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    assert (report["channel"], report["location"]) == ("kiosk", "In a cell or on the wing")
    assert report["description"] == "No script here"
    console.reply(item["case"], report, "Read without script.")
    page = scriptless_page
    page.goto(kiosk_portal.url + "/kiosk/follow-up?lang=en")
    page.get_by_label("Your code").fill("1234")
    page.get_by_role("button", name="Show answers").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("A code has 20 numbers."))
    page.get_by_label("Your code").fill(receipt)
    page.get_by_role("button", name="Show answers").click()
    expect(page.get_by_text("Read without script.")).to_be_visible()


@pytest.mark.parametrize("script", [True, False], ids=["javascript", "no-javascript"])
def test_the_next_person_finds_nothing(
    kiosk_portal: Portal, page: Page, scriptless_page: Page, script: bool
) -> None:
    kiosk = page if script else scriptless_page
    receipt = report_at_the_kiosk(
        kiosk, kiosk_portal.url, "Private words of the last person", script
    )
    kiosk.get_by_role("link", name="Exit now").click()
    expect(kiosk.get_by_text("Touch here to start")).to_be_visible()
    if script:
        nothing_readable_left(kiosk, receipt.split()[0], "Private words of the last person")
    else:
        assert kiosk.context.cookies() == []  # Clear-Site-Data took the cookies too


def test_every_kiosk_screen_leaves_by_itself_after_90_idle_seconds(kiosk_portal: Portal) -> None:
    client = kiosk_portal.client()
    start = client.get("/kiosk").text
    assert '<meta http-equiv="refresh" content="90;url=/kiosk/exit">' in start
    step = client.post("/kiosk/answer", data={"csrf": csrf_token(client, "/kiosk"), "lang": "en"})
    assert '<meta http-equiv="refresh" content="90;url=/kiosk/exit">' in step.text
    assert 'autocomplete="off"' in step.text
    assert client.get("/kiosk/exit").headers["clear-site-data"] == '"cache", "cookies", "storage"'


def test_the_kiosk_keeps_answers_sealed_in_the_page(kiosk_portal: Portal) -> None:
    client = kiosk_portal.client()
    token = csrf_token(client, "/kiosk")
    page = client.post("/kiosk/answer", data={"csrf": token, "lang": "en"}).text
    sealed = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    page = client.post(
        "/kiosk/answer",
        data={"csrf": token, "token": sealed, "step": "category", "answer": "healthcare"},
    ).text
    sealed = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert b"healthcare" not in crypto.b64u_decode(sealed)
    wrong = client.post(
        "/kiosk/answer",
        data={"csrf": token, "token": sealed, "step": "place", "answer": "the moon"},
    )
    assert wrong.status_code == 422
    assert "Please touch one of the answers." in wrong.text
    early = client.post("/kiosk/answer", data={"csrf": token, "token": sealed, "step": "check"})
    assert early.status_code == 422
    assert "Where did it happen?" in early.text  # sent back to the first unanswered one
    forged = client.post("/kiosk/answer", data={"csrf": token, "token": "AAAA", "step": "check"})
    assert "What is it about?" in forged.text  # a forged token starts over


@pytest.mark.parametrize(
    ("language", "code", "direction", "category", "place", "when", "urgent", "send"),
    [
        (
            "Polski",
            "pl",
            "ltr",
            "Personel wnosi narkotyki albo telefony",
            "Widzenia",
            "Dzisiaj",
            "Nie albo nie wiem",
            "Wyślij",
        ),
        (
            "العربية",
            "ar",
            "rtl",
            "الموظفون يُدخلون مخدرات أو هواتف",
            "الزيارات",
            "اليوم",
            "لا، أو لا أعرف",
            "إرسال",
        ),
    ],
)
def test_the_kiosk_speaks_the_chosen_language(
    kiosk_portal: Portal,
    page: Page,
    language: str,
    code: str,
    direction: str,
    category: str,
    place: str,
    when: str,
    urgent: str,
    send: str,
) -> None:
    page.goto(kiosk_portal.url + "/kiosk")
    page.get_by_role("button", name=language).click()
    settle(page)
    assert page.locator("html").get_attribute("lang") == code
    assert page.locator("html").get_attribute("dir") == direction
    page.get_by_role("button", name=category).click()
    page.get_by_role("button", name=place).click()
    page.get_by_role("button", name=when).click()
    page.get_by_role("button", name=urgent).click()
    page.locator("textarea").fill("słowa / كلمات")
    page.locator("button.next:visible").click()
    page.get_by_role("button", name=send).click()
    receipt = page.locator(".receipt")
    expect(receipt).to_be_visible(timeout=30_000)
    assert receipt.get_attribute("dir") == "ltr"  # digits read left to right in any script
    assert crypto.validate_receipt(receipt.inner_text())
    assert page.locator("html").get_attribute("dir") == direction
    shot(page, f"kiosk-7-receipt-{code}")
    digits = crypto.validate_receipt(receipt.inner_text())
    console = kiosk_portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    assert report["lang"] == code
    assert report["category"] == "trafficking"
    assert report["location"] == "Visits"  # the console reads the answers in English
    assert report["description"] == "słowa / كلمات"

    # Days later, the answer is read at the kiosk in the same language.
    console.reply(item["case"], report, "Dziękujemy — شكرا")
    page.goto(f"{kiosk_portal.url}/kiosk/follow-up?lang={code}")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    assert page.locator("html").get_attribute("dir") == direction
    page.locator("#receipt").fill(digits)
    page.locator("#follow-up-form button").click()
    expect(page.get_by_text("Dziękujemy — شكرا")).to_be_visible()
    words = load_catalogues()[code].gettext("Read by the people outside the prison")
    expect(page.locator("[data-status]")).to_have_text(words)
    assert words != "Read by the people outside the prison"


def test_a_string_missing_from_a_catalogue_shows_in_english(tmp_path: Path) -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po
    from jinja2 import Environment

    from portal.i18n import current_language, install, load_catalogues

    catalogue = Catalog(locale="pl")
    catalogue.add("Exit now", "Wyjdź teraz")
    directory = tmp_path / "pl" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    with (directory / "messages.po").open("wb") as handle:
        write_po(handle, catalogue)
    env = Environment(autoescape=True)
    install(env, load_catalogues(tmp_path))
    template = env.from_string('{{ _("Exit now") }} | {{ _("Touch here to start") }}')
    token = current_language.set("pl")
    try:
        assert template.render() == "Wyjdź teraz | Touch here to start"
    finally:
        current_language.reset(token)


def test_a_warning_comes_before_the_screen_clears_and_can_be_answered(
    kiosk_portal: Portal, page: Page
) -> None:
    page.clock.install()
    page.goto(kiosk_portal.url + "/kiosk")
    page.get_by_role("button", name="English").click()
    settle(page)
    page.get_by_role("button", name="Staff hurt someone").click()
    warning = page.get_by_role("alertdialog")
    expect(warning).to_be_hidden()
    page.clock.fast_forward(71_000)  # 19 s before the end: the warning is up
    expect(warning).to_be_visible()
    assert "20 seconds" in warning.inner_text()
    shot(page, "kiosk-8-still-there")
    page.get_by_role("button", name="I am still here").click()
    expect(warning).to_be_hidden()
    page.clock.fast_forward(85_000)  # the click started a new 90 s
    assert "Where did it happen?" in page.content()
    page.clock.fast_forward(6_000)
    page.wait_for_url("**/kiosk/exit")
    expect(page.get_by_text("Touch here to start")).to_be_visible()
    nothing_readable_left(page, "Staff hurt someone")


def test_scripts_run_only_where_a_page_needs_them(kiosk_portal: Portal) -> None:
    client = kiosk_portal.client()

    def policy(path: str) -> str:
        return str(client.get(path).headers["content-security-policy"])

    # The kiosk's pages also play the portal's own clips (its Listen controls); no other
    # page plays anything.
    for path in ("/kiosk", "/kiosk/exit"):
        assert policy(path).endswith("; script-src 'self'; media-src 'self'")
    for path in ("/kiosk/report?lang=en", "/kiosk/follow-up"):
        assert policy(path).endswith(
            "; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; media-src 'self'"
        )
    for path in ("/report/staff", "/report/third-party", "/follow-up"):
        assert policy(path).endswith("; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'")
    for path in ("/", "/about", "/nowhere"):
        assert "script-src" not in policy(path)
    for found in (policy("/report/staff"), policy("/kiosk")):
        assert found.startswith("default-src 'none'")
        assert "unsafe-inline" not in found
        assert "'unsafe-eval'" not in found


def test_a_wrong_code_at_the_kiosk_is_explained_in_the_kiosk_language(
    kiosk_portal: Portal, page: Page
) -> None:
    polish = load_catalogues()["pl"]
    page.goto(kiosk_portal.url + "/kiosk/follow-up?lang=pl")
    page.locator("#follow-up-form[data-ready]").wait_for(state="attached")
    field, show = page.locator("#receipt"), page.locator("#follow-up-form button")
    field.fill("1234 5678")
    show.click()
    expect(
        page.get_by_text(polish.gettext("A code has 20 numbers. Check that you typed all of them."))
    ).to_be_visible()
    digits = crypto.generate_receipt()
    typo = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    field.fill(typo)
    show.click()
    expect(
        page.get_by_text(polish.gettext("This code has a typing mistake. Check every number."))
    ).to_be_visible()
    field.fill(digits)  # well formed, but nobody reported with it
    show.click()
    expect(
        page.get_by_text(polish.gettext("No report was found for this code. Check every number."))
    ).to_be_visible()
    expect(page.locator("#answers")).to_be_hidden()
