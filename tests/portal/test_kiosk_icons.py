"""A picture beside every kiosk answer, for people who read little or no English: every
one drawn here, drawn in the page itself (no file fetched for it), silent to screen readers,
and nothing but shapes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from portal.kiosk import CHOICES, ICONS, STEPS
from tests.conftest import ONE_ENGINE, needs_chromium

from .conftest import Portal
from .forms import csrf_token
from .test_kiosk import requests_of, settle

ICON_DIR = Path(__file__).resolve().parents[2] / "portal" / "static" / "icons"
SVG = "{http://www.w3.org/2000/svg}"
#: What a picture's `<symbol>` leaves out of its file: the page sizes and colours it.
SIZE_AND_COLOUR = {"width", "height", "color"}
#: Kiosk pages with pictures, besides the step pages: the error page is a 404's.
KIOSK_PAGES = (
    "/kiosk",
    "/kiosk/report?lang=en",
    "/kiosk/report?lang=so",
    "/kiosk/follow-up?lang=en",
    "/kiosk/exit",
    "/kiosk/no-such-page",
)
#: In the page: the `<use>` in an `<svg class="icon">` found its shapes and drew them.
DRAWN = "svg => svg.querySelector('use').getBBox().width > 0"
#: Elements that could carry words, code or another document into a picture.
FORBIDDEN = {"script", "text", "tspan", "textPath", "foreignObject", "image", "use", "a", "style"}


class Buttons(HTMLParser):
    """Each answer button on a page with the pictures inside it, every picture on the page
    (an `<svg class="icon">` and the `<use>` in it), and the shapes the page defines."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, list[dict[str, str | None]]] = {}
        self.images: list[dict[str, str | None]] = []
        self.symbols: list[str] = []
        self.tags: set[str] = set()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.add(tag)
        if tag == "button" and attributes.get("name") in ("answer", "lang"):
            self._open = attributes["value"]
            self.answers[self._open or ""] = []
        elif tag == "svg" and attributes.get("class") == "icon":
            self.images.append(attributes)
            if self._open is not None:
                self.answers[self._open].append(attributes)
        elif tag == "use" and self.images and "use" not in self.images[-1]:
            self.images[-1]["use"] = attributes.get("href")
        elif tag == "symbol":
            self.symbols.append(attributes.get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._open = None


def parse(page: str) -> Buttons:
    parser = Buttons()
    parser.feed(page)
    return parser


def walk_choice_steps(client: httpx.Client, language: str) -> Iterator[tuple[str, str]]:
    """(step, page) for every step with answers, touching the first answer each time."""
    csrf = csrf_token(client, "/kiosk")
    page = client.post("/kiosk/answer", data={"csrf": csrf, "lang": language}).text
    for step in CHOICES:
        assert f'name="step" value="{step}"' in page
        yield step, page
        token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        answer = next(iter(CHOICES[step]))
        data = {"csrf": csrf, "token": token, "step": step, "answer": answer}
        page = client.post("/kiosk/answer", data=data).text


def picture_name(image: dict[str, str | None]) -> str:
    """The name of the file a picture's shapes come from: `#icon-NAME` in its `<use>`."""
    found = re.fullmatch(r"#icon-([a-z-]+)", image.get("use") or "")
    assert found, image
    return found.group(1)


def assert_drawn_picture(page: Buttons, image: dict[str, str | None]) -> None:
    assert image.get("aria-hidden") == "true", image  # decorative: the button's words name it
    assert image.get("width"), image  # sized before it is drawn: nothing jumps under a finger
    assert image.get("height"), image
    name = picture_name(image)
    assert (ICON_DIR / f"{name}.svg").is_file(), name
    assert page.symbols.count(f"icon-{name}") == 1, name  # its shapes are in the page, once


def test_every_answer_has_a_picture_in_one_place() -> None:
    assert ICONS.keys() == CHOICES.keys()
    for step, choices in CHOICES.items():
        assert ICONS[step].keys() == choices.keys(), step
        for name in ICONS[step].values():
            assert (ICON_DIR / f"{name}.svg").is_file(), name
    assert set(STEPS) >= CHOICES.keys()


@ONE_ENGINE
@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_kiosk_answer_shows_a_served_silent_picture(
    kiosk_portal: Portal, language: str
) -> None:
    client = kiosk_portal.client()
    seen = []
    for step, page in walk_choice_steps(client, language):
        answers = parse(page).answers
        assert answers.keys() == CHOICES[step].keys(), step
        for value, images in answers.items():
            [image] = images
            assert picture_name(image) == ICONS[step][value]
            assert_drawn_picture(parse(page), image)
        seen.append(step)
        if step == STEPS[0]:  # the way back in with a code from before: a key
            [key] = [i for i in parse(page).images if i.get("use") == "#icon-key"]
            assert_drawn_picture(parse(page), key)
    assert seen == list(CHOICES)

    start = parse(client.get("/kiosk").text)
    [language_picture] = start.images  # one picture, no flags: languages are not countries
    assert picture_name(language_picture) == "speech-bubbles"
    assert_drawn_picture(start, language_picture)
    assert all(images == [] for images in start.answers.values())


def shapes(element: ET.Element) -> list[tuple[str, dict[str, str]]]:
    return [(child.tag.removeprefix(SVG), child.attrib) for child in element.iter()][1:]


@ONE_ENGINE
def test_every_kiosk_page_defines_the_pictures_it_draws_and_fetches_none(
    kiosk_portal: Portal,
) -> None:
    client = kiosk_portal.client()
    pages = {path: client.get(path) for path in KIOSK_PAGES}
    pages.update((f"step {step}", page) for step, page in walk_choice_steps(client, "en"))
    for where, response in pages.items():
        page = response if isinstance(response, str) else response.text
        parsed = parse(page)
        drawn = {picture_name(image) for image in parsed.images}
        for image in parsed.images:
            assert_drawn_picture(parsed, image)
        # The shapes of what it draws, once each; and the speaker that kiosk-listen.js
        # draws on the Listen buttons it makes, where there is a clip to make one for.
        listen = re.search(r'<audio[^>]* data-listen=|<span class="listen[^>]* data-clip=', page)
        wanted = drawn | ({"speaker"} if listen else set())
        assert sorted(parsed.symbols) == sorted(f"icon-{name}" for name in wanted), where
        assert "img" not in parsed.tags, where  # no picture costs a request
        assert " style=" not in page, where  # the policy has no 'unsafe-inline' for styles
        block = re.search(r'<svg class="icon-symbols"[^>]*>.*?</svg>', page, re.S)
        assert block or not wanted, where
        if block:  # each symbol is its file's shapes, exactly
            root = ET.fromstring(block.group(0))  # noqa: S314 (our own page)
            assert root.get("aria-hidden") == "true"
            for symbol in root:
                assert symbol.tag == "symbol"
                name = symbol.attrib.pop("id").removeprefix("icon-")
                drawing = ET.fromstring((ICON_DIR / f"{name}.svg").read_text(encoding="utf-8"))  # noqa: S314
                kept = {k: v for k, v in drawing.attrib.items() if k not in SIZE_AND_COLOUR}
                assert symbol.attrib == kept, name
                assert [(tag, attrib) for tag, attrib in shapes(symbol)] == shapes(drawing), name


@pytest.mark.parametrize("path", sorted(ICON_DIR.glob("*.svg")), ids=lambda p: p.stem)
def test_every_picture_is_only_shapes(path: Path) -> None:
    # Our own files, parsed to check exactly that nothing active or remote is inside.
    root = ET.fromstring(path.read_text(encoding="utf-8"))  # noqa: S314
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 48 48"
    assert root.get("stroke") == "currentColor"
    assert root.get("color") == "#0b0c0c"  # the kiosk's text colour, as an <img> shows it
    assert path.stat().st_size < 2048
    for element in root.iter():
        assert element.tag.startswith(SVG), element.tag
        assert element.tag.removeprefix(SVG) not in FORBIDDEN, element.tag
        assert not (element.text or "").strip(), f"words in {path.name}"
        assert not (element.tail or "").strip(), f"words in {path.name}"
        for name, value in element.attrib.items():
            assert not name.endswith("href"), f"{name} in {path.name}"
            assert not name.lower().startswith("on"), f"{name} in {path.name}"
            assert "url(" not in value, f"{name}={value} in {path.name}"
            assert "//" not in value, f"{name}={value} in {path.name}"
            if name in ("fill", "stroke"):
                assert value in ("none", "currentColor"), f"{name}={value} in {path.name}"


@ONE_ENGINE
@needs_chromium
@pytest.mark.parametrize(("language", "direction"), [("English", "ltr"), ("العربية", "rtl")])
def test_pictures_are_drawn_under_the_csp_at_the_start_side(
    kiosk_portal: Portal, scriptless_page: Page, language: str, direction: str
) -> None:
    page = scriptless_page  # the server's step pages (step.html)
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk")
    with page.expect_navigation():
        page.get_by_role("button", name=language).click()
        page.locator("#kiosk-app[data-ready], input[name=step]").first.wait_for(state="attached")
    for step in CHOICES:
        for button in page.locator("button.choice").all():
            icon, words = button.locator("svg.icon"), button.locator("span")
            assert icon.evaluate(DRAWN)  # its shapes found and drawn
            box, text = icon.bounding_box(), words.bounding_box()
            assert box
            assert text
            assert box["width"] >= 44
            assert box["height"] >= 44
            if direction == "ltr":
                assert box["x"] + box["width"] <= text["x"], step
            else:
                assert box["x"] >= text["x"] + text["width"], step
        with page.expect_navigation():
            page.locator("button.choice").first.click()
    assert not [r.url for r in seen if "/static/icons/" in r.url]


@ONE_ENGINE
@needs_chromium
def test_the_listen_buttons_draw_the_speaker_from_the_page(
    kiosk_portal: Portal, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1080, "height": 1200})
    page = context.new_page()
    seen = requests_of(page)
    page.goto(kiosk_portal.url + "/kiosk/report?lang=en", wait_until="load")
    settle(page)
    listen = page.locator(".step:not([hidden]) button.listen:visible")
    assert listen.count() > 1
    for button in listen.all():
        icon = button.locator("svg.icon")
        assert icon.get_attribute("aria-hidden") == "true"
        assert icon.locator("use").get_attribute("href") == "#icon-speaker"
        assert icon.evaluate(DRAWN)
        box = icon.bounding_box()
        assert box
        assert (box["width"], box["height"]) == (40, 40)
    expect(page.get_by_role("button", name="Listen", exact=True).first).to_be_visible()
    assert not [r.url for r in seen if "/static/icons/" in r.url]
    context.close()
