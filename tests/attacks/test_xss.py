"""The XSS corpus (xss_payloads.txt, 120 payloads) in every place attacker text reaches a
page: report fields, attachment names, reporter messages, concern names, officer
replies, assessment and routing reasons, a unit's name, a failed sign-in's user name, the
search box. Every console page that shows them, and the reporter's pages (thread, kiosk
answers read in the page by JavaScript, the report form shown again after a mistake),
are loaded in headless Chromium with JavaScript ON and the Content-Security-Policy
*bypassed*, so that escaping alone is tested, not the CSP behind it: no dialog, no page
error, no payload marker set on `window`, no element or attribute a payload carries in
the DOM, and no template evaluates `{{ 9999*9999 }}`.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

import crypto
from tests.conftest import needs_chromium
from tests.portal.forms import REPORT_FIELDS, csrf_token, open_thread, receipt_of, submit_report
from tests.triage.conftest import Site, enrol, grant_identity, token
from tests.triage.officer_pages import action_fields, fresh_code
from triage import links, units
from triage.settings import ConsoleError

pytestmark = needs_chromium

HERE = Path(__file__).parent
TOKENS = {
    "<NUL>": "\x00",
    "<RLO>": "\u202e",
    "<LRO>": "\u202d",
    "<ZWSP>": "\u200b",
    "<TAB>": "\t",
    "<LF>": "\n",
}


def load_payloads(path: Path = HERE / "xss_payloads.txt") -> list[str]:
    """The corpus, each payload given its number as a marker (see the file's header)."""
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    out = []
    for n, line in enumerate(lines, start=1):
        text = line.replace("$JS", f"window.__x_{n}=1;alert({n})").replace("$ID", f"id=xss{n}")
        text = text.replace("XSSN", str(n))
        for name, char in TOKENS.items():
            text = text.replace(name, char)
        out.append(text)
    return out


PAYLOADS = load_payloads()
JOINED = "\n".join(PAYLOADS)
#: Forms refuse a NUL (no browser sends one): the same corpus without those payloads.
WITHOUT_NUL = "\n".join(p for p in PAYLOADS if "\x00" not in p)
EVALUATED = str(9999 * 9999)  # what `{{ 9999*9999 }}` would show if a template ran it


def test_the_corpus_is_large_and_varied() -> None:
    assert len(PAYLOADS) >= 100
    assert len(set(PAYLOADS)) == len(PAYLOADS)
    for needle in (
        "<script",
        "onerror",
        "<svg",
        "<math",
        "javascript:",
        "expression(",
        "{{7*7}}",
        "\u202e",
        "\x00",
        "<noscript>",
        '" onmouseover',
        "\\u003c",
    ):
        assert any(needle in p for p in PAYLOADS), needle  # fmt: skip


@pytest.fixture
def database_backend() -> str:
    """Rendering does not depend on the database: this module runs on SQLite only (the
    NUL and size attacks that do depend on it run on both backends elsewhere)."""
    return "sqlite"


def packed(payloads: list[str], limit: int = 200) -> Iterator[str]:
    """Payloads joined by spaces into strings of at most `limit` characters."""
    current = ""
    for payload in payloads:
        if current and len(current) + 1 + len(payload) > limit:
            yield current
            current = ""
        current = f"{current} {payload}".strip() if current else payload
    if current:
        yield current


def file_names() -> list[str]:
    return [p.replace("\x00", "")[:150] or "x" for p in PAYLOADS]


#: Run in the page after it has loaded: everything a payload that got through would leave.
INSPECT = """() => {
  const bad = [];
  const urlAttrs = ["href", "src", "action", "formaction", "data", "xlink:href",
                    "background", "poster", "srcdoc", "content"];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      if (a.name.startsWith("on")) bad.push(el.tagName + "[" + a.name + "]");
      if (urlAttrs.includes(a.name) && /^\\s*(javascript|vbscript|data)\\s*:/i.test(a.value))
        bad.push(el.tagName + "[" + a.name + "=" + a.value.slice(0, 40) + "]");
      if (a.name === "style" ) bad.push(el.tagName + "[style]");
    }
    for (const key of ["id", "name", "className"]) {
      const value = typeof el[key] === "string" ? el[key] : "";
      if (/(^|\\s)xss/.test(value)) bad.push(el.tagName + "#" + value);
    }
  }
  const forbidden = "iframe, object, embed, frame, frameset, base, math, marquee, xmp, " +
    "listing, isindex, video, details:not(.close-case):not(.referral), style, body meta, " +
    "body link, " +
    "svg script, svg foreignObject, svg a, svg animate, svg set, svg image";
  for (const el of document.querySelectorAll(forbidden)) bad.push("<" + el.tagName + ">");
  // The kiosk's pictures (portal/kiosk_icons.py): <svg class="icon"><use href="#icon-NAME">
  // and nothing else, drawing a <symbol> of the page's own. Any other <use> is someone else's.
  for (const el of document.querySelectorAll("svg use")) {
    const href = el.getAttribute("href") || "";
    const ours = el.parentElement.matches("svg.icon") && /^#icon-[a-z-]+$/.test(href) &&
      el.getAttributeNames().join() === "href" && el.childElementCount === 0 &&
      document.querySelector("svg.icon-symbols > symbol" + href) !== null;
    if (!ours) bad.push("<use> " + href.slice(0, 40));
  }
  for (const el of document.querySelectorAll(
    "template:not(#reply-template):not(#warning-template), body noscript"))
    bad.push("<" + el.tagName + ">");
  for (const s of document.scripts)
    if (!(s.getAttribute("src") || "").startsWith("/static/")) bad.push("inline script");
  // The kiosk's own Listen clips (portal/kiosk_audio.py): only from /static/audio/, never
  // playing by themselves. Any other sound would be someone else's.
  for (const el of document.querySelectorAll("audio")) {
    const sources = [el.getAttribute("src"),
      ...[...el.querySelectorAll("source")].map((x) => x.getAttribute("src"))]
      .filter((x) => x !== null);
    if (el.hasAttribute("autoplay") || sources.length === 0 ||
        !sources.every((x) => x.startsWith("/static/audio/")))
      bad.push("<AUDIO> " + sources.join(" "));
  }
  for (const img of document.images)
    if (!(img.getAttribute("src") || "").startsWith("/static/")) bad.push("img " + img.src);
  const markers = Object.keys(window).filter((k) => k.startsWith("__x_"));
  return {bad, markers, title: document.title};
}"""


class Watch:
    """A browser context with JavaScript on and the CSP bypassed, recording every sign
    of script running: dialogs, page errors, console messages."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(
            java_script_enabled=True, bypass_csp=True
        )
        self.page: Page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.checked: list[str] = []

    def check(self, label: str, *, shows: str | None = None) -> str:
        """Assert that nothing on the current page ran or was injected; returns the HTML."""
        self.page.wait_for_load_state("load")
        found = self.page.evaluate(INSPECT)
        content = self.page.content()
        assert self.dialogs == [], (label, self.dialogs[:5])
        assert found["markers"] == [], (label, found["markers"][:10])
        assert found["bad"] == [], (label, found["bad"][:10])
        assert "pwned" not in found["title"]
        assert [e for e in self.errors] == [], (label, self.errors[:3])
        assert [m for m in self.console if "__x_" in m or "xss" in m] == [], label
        assert EVALUATED not in content, label  # no template ran `{{ 9999*9999 }}`
        if shows is not None:
            assert shows in self.page.locator("body").inner_text(), (label, shows)
        self.checked.append(label)
        return content

    def close(self) -> None:
        self.context.close()


def _sign_in(watch: Watch, url: str, username: str, secret: str) -> None:
    page = watch.page
    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Code from your authenticator app").fill(fresh_code(secret))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def _api_report(site: Site, text: str) -> str:
    """A report through the JSON API with `text` in every free-text field; its case id."""
    portal = site.portal
    key = secrets.token_bytes(32)
    document = {
        "v": 1, "type": "report", "channel": "third_party", "lang": "en",
        "category": secrets.choice(["corruption", "bullying", "other"]),
        "facility": text, "location": text, "occurred": text, "description": text,
        "subjects": text, "witnesses": text, "urgent": secrets.choice([True, False]),
        "identity": None, "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(crypto.PrivateKey.generate().public_key)),
        "sent_on": "2026-11-27",
    }  # fmt: skip
    sealed = crypto.seal_report(document, portal.settings.oversight_key)
    body = {
        "sealed": crypto.b64u_encode(sealed), "lookup_id": crypto.b64u_encode(key),
        "box_pk": crypto.b64u_encode(key), "sign_pk": crypto.b64u_encode(key), "blob_ids": [],
    }  # fmt: skip
    answer = portal.client().post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case"])


def _post(client: httpx.Client, path: str, page_path: str, **fields: str) -> httpx.Response:
    """Send the form from `page_path`; done, the page its redirect leads to."""
    hidden = action_fields(client.get(page_path).text, path)
    once = {"csrf": hidden["csrf"], "once": hidden["once"]}
    return client.post(path, data={**once, **fields}, follow_redirects=True)


def _serve(watch: Watch, url: str, body: str) -> None:
    """Show `body` (a page fetched outside the browser) at `url`, on the app's origin."""
    watch.page.route(url, lambda route: route.fulfill(body=body, content_type="text/html"))
    watch.page.goto(url)


def test_the_checks_see_any_tag_payload_that_gets_through(browser: Browser) -> None:
    """A negative control: each payload that is a tag, put into a page unescaped, is
    caught by `Watch.check` (so a pass above means escaped, not unnoticed)."""
    watch = Watch(browser)
    # `<scr<script>ipt>` is aimed at filters that strip "<script>": raw, it is no tag.
    raw = [p for p in PAYLOADS if p.startswith("<") and "id=xss" in p and "<scr<" not in p]
    assert len(raw) >= 60
    missed = []
    try:
        for payload in raw:
            watch.dialogs.clear(), watch.errors.clear(), watch.console.clear()
            watch.page.set_content(f"<!doctype html><title>t</title><p>{payload}</p><p>after")
            watch.page.wait_for_timeout(50)  # autofocus, animations: let them fire
            try:
                watch.check(payload)
            except AssertionError:
                continue
            missed.append(payload)
    finally:
        watch.close()
    assert missed == []


def test_no_payload_runs_or_is_injected_on_any_page(site: Site, browser: Browser) -> None:
    portal, console = site.portal, site.console
    names = file_names()

    # -- the reporter side: a report with the corpus everywhere, a message, 120 files ----
    reporter = portal.client()
    fields = {name: JOINED for name in ("facility", "location", "occurred", "subjects",
                                        "witnesses", "description", "identity")}  # fmt: skip
    files = [(name, b"x", "text/plain") for name in names[:60]]
    receipt = receipt_of(submit_report(reporter, files=files, **fields))
    assert open_thread(reporter, receipt).status_code == 303
    message = reporter.post(
        "/thread",
        data={"csrf": csrf_token(reporter, "/thread", "/thread"), "text": JOINED},
        files=[("attachments", (name, b"y", "text/html")) for name in names[60:]],
    )
    assert message.status_code == 303, message.text[:300]
    others = [_api_report(site, text) for text in packed(PAYLOADS)]
    sync = console.sync(portal.url)
    assert sync.taken == len(others) + 2
    assert not sync.set_aside
    assert not sync.bad_files
    [main] = [c["case"] for c in console.cases() if c["case"] not in others]

    # -- the console side: officers act on the case with the corpus -----------------------
    triage, triage_secret = enrol(site, "tess", "triage")
    admin, admin_secret = enrol(site, "ada", "admin")
    _, auditor_secret = enrol(site, "otto", "auditor")
    grant_identity(site, "tess", main)  # a custodian approved: the page offers Reveal
    case_path = f"/cases/{main}"
    unit_name = PAYLOADS[12][:80]  # <img ... onerror=...>
    assert "onerror" in unit_name
    added = _post(admin, "/units", "/units", action="add", unit="xss_unit", name=unit_name)
    assert added.status_code == 200, added.text[:300]
    for path, extra in (
        ("reply", {"text": WITHOUT_NUL}),
        ("assess", {"category": "corruption", "severity": "high", "reason": WITHOUT_NUL[:500]}),
        ("route", {"unit": "xss_unit", "reason": WITHOUT_NUL[:500]}),
        ("concern", {"kind": "place", "name": PAYLOADS[0][:200]}),
    ):
        done = _post(triage, f"{case_path}/{path}", case_path, **extra)
        assert done.status_code == 200, (path, done.text[:300])
        assert "Not done" not in done.text, (path, done.text[:300])
    console.reply(main, JOINED)  # with the NUL payloads too, as the command line can
    for payload in PAYLOADS:
        try:
            links.add_concern(console, main, "person", payload[:200])
        except ConsoleError:
            pass  # nothing left once normalised (e.g. only punctuation)
    closing = others[0]
    closed = _post(
        triage, f"/cases/{closing}/close", f"/cases/{closing}",
        outcome="unfounded", summary=WITHOUT_NUL[:5000], feedback=WITHOUT_NUL[:5000],
    )  # fmt: skip
    assert closed.status_code == 200, closed.text[:300]
    console.push()
    blob = re.search(rf'{case_path}/files/([A-Za-z0-9_-]+)"', triage.get(case_path).text)
    assert blob
    assert triage.get(f"{case_path}/files/{blob.group(1)}").status_code == 200
    stranger = site.client()  # a failed sign-in puts the typed user name in the audit log
    login = stranger.get("/login").text
    stranger.post("/login", data={"csrf": token(login), "username": "<svg id=xsslogin onload="
                  "alert(1)>", "password": "x", "code": "1"})  # fmt: skip
    assert unit_name in units.units(console).values()

    # -- every page that shows any of it, in Chromium --------------------------------------
    watch = Watch(browser)
    try:
        _sign_in(watch, site.url, "tess", triage_secret)
        page = watch.page
        listing = site.url + "/cases"
        for _ in range(20):  # every page of the case list
            page.goto(listing)
            content = watch.check(f"case list {listing}")
            following = re.search(r'<a href="([^"]+)" rel="next"', content)
            if not following:
                break
            listing = site.url + html.unescape(following.group(1))
        page.goto(site.url + case_path)
        watch.check("case page", shows="{{ 9999*9999 }}")
        page.get_by_role("button", name="Reveal (recorded in the audit log)").click()
        watch.check("case page, identity revealed", shows="{{7*7}}")
        for other in (closing, others[1], others[-1]):
            page.goto(f"{site.url}/cases/{other}")
            watch.check(f"case {other}")
        for path in ("/dashboard", "/statistics"):
            page.goto(site.url + path)
            watch.check(path)
        for payload in (PAYLOADS[11], PAYLOADS[43], PAYLOADS[96], "{{ 9999*9999 }}"):
            page.goto(site.url + "/cases?" + httpx.QueryParams({"q": payload[:200]}).__str__())
            watch.check(f"search for {payload[:30]!r}")
        watch.close()

        watch = Watch(browser)
        _sign_in(watch, site.url, "otto", auditor_secret)
        watch.page.goto(site.url + "/audit")
        watch.check("audit log", shows="<svg id=xsslogin")
        watch.close()

        watch = Watch(browser)
        _sign_in(watch, site.url, "ada", admin_secret)
        for path in ("/units", "/officers"):
            watch.page.goto(site.url + path)
            watch.check(path, shows=unit_name if path == "/units" else None)
        watch.close()

        # The reporter's thread page: replies sealed to the reporter, opened by the portal.
        watch = Watch(browser)
        watch.page.goto(portal.url + "/follow-up")
        watch.page.locator("#receipt").fill(receipt)
        watch.page.get_by_role("button", name="Open my report").click()
        watch.page.wait_for_url("**/thread")
        watch.check("reporter's thread", shows="{{ 9999*9999 }}")
        # The kiosk: the page derives the keys and opens the replies itself (JavaScript).
        watch.page.goto(portal.url + "/kiosk/follow-up?lang=en")
        watch.page.locator("#receipt").fill(receipt)
        watch.page.get_by_role("button", name="Show answers").click()
        watch.page.locator("[data-replies] .reply").first.wait_for(timeout=30_000)
        watch.check("kiosk answers, opened in the page", shows="{{ 9999*9999 }}")
        # The kiosk without JavaScript: the server opens them (shown here with it on).
        kiosk = portal.client()
        form = kiosk.get("/kiosk/follow-up").text
        answers = kiosk.post(
            "/kiosk/follow-up", data={"csrf": token(form), "receipt": receipt, "lang": "en"}
        )
        assert answers.status_code == 200
        _serve(watch, portal.url + "/kiosk/answers-from-the-server", answers.text)
        watch.check("kiosk answers, opened by the server", shows="{{ 9999*9999 }}")
        # The report form shown again after a mistake, every field filled with the corpus.
        again = portal.client()
        refused = again.post(
            "/report/staff",
            data={"csrf": csrf_token(again, "/report/staff"), **REPORT_FIELDS, **fields,
                  "category": ""},
            files=[("attachments", (names[5], b"z", "text/plain"))],
        )  # fmt: skip
        assert refused.status_code == 422
        _serve(watch, portal.url + "/report/staff/refused", refused.text)
        watch.check("report form shown again")
        breakout = next(p for p in PAYLOADS if p.startswith('" onmouseover'))
        for field in ("#facility", "#description"):  # kept as typed, as values
            kept = watch.page.locator(field).input_value()
            assert PAYLOADS[0] in kept, field
            assert breakout in kept, field
    finally:
        watch.close()


def test_translating_a_variable_never_unescapes_it() -> None:
    """Jinja2 treats what `_()` returns as safe HTML: `_(variable)` must still escape any
    text that is not one of the catalogue's own messages, in every language."""
    from portal.app import portal_templates
    from portal.i18n import current_language, install, load_catalogues

    templates = portal_templates()
    install(templates.env, load_catalogues())
    page = templates.env.from_string("<p>{{ _(words) }}</p><p>{{ _(known) }}</p>")
    for lang in ("en", "pl", "ar"):
        token = current_language.set(lang)
        try:
            out = page.render(words='<img src=x onerror="alert(1)">', known="Send report")
        finally:
            current_language.reset(token)
        assert "<img" not in out
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in out
    assert "<p>Send report</p>" in page.render(words="", known="Send report")
