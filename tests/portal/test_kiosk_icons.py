"""A picture beside every kiosk answer, for people who read little or no English: every
one drawn here, served by the portal, silent to screen readers, and nothing but shapes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from portal.kiosk import CHOICES, ICONS, STEPS
from tests.conftest import ONE_ENGINE, needs_chromium

from .conftest import Portal
from .forms import csrf_token

ICON_DIR = Path(__file__).resolve().parents[2] / "portal" / "static" / "icons"
SVG = "{http://www.w3.org/2000/svg}"
#: Elements that could carry words, code or another document into a picture.
FORBIDDEN = {"script", "text", "tspan", "textPath", "foreignObject", "image", "use", "a", "style"}


class Buttons(HTMLParser):
    """Each answer button on a page with the images inside it, and every image on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, list[dict[str, str | None]]] = {}
        self.images: list[dict[str, str | None]] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "button" and attributes.get("name") in ("answer", "lang"):
            self._open = attributes["value"]
            self.answers[self._open or ""] = []
        elif tag == "img":
            self.images.append(attributes)
            if self._open is not None:
                self.answers[self._open].append(attributes)

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


def assert_served_picture(client: httpx.Client, image: dict[str, str | None]) -> None:
    assert image.get("alt") == "", image  # decorative: the button's words are its name
    assert image.get("width"), image  # sized before it loads: nothing jumps under a finger
    assert image.get("height"), image
    src = image.get("src") or ""
    assert re.fullmatch(r"/static/icons/[a-z-]+\.svg", src), src
    assert (ICON_DIR / src.rsplit("/", 1)[1]).is_file(), src
    response = client.get(src)
    assert response.status_code == 200, src
    assert response.headers["content-type"].startswith("image/svg+xml"), src


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
            assert image["src"] == f"/static/icons/{ICONS[step][value]}.svg"
            assert_served_picture(client, image)
        seen.append(step)
        if step == STEPS[0]:  # the way back in with a code from before: a key
            [key] = [i for i in parse(page).images if "key" in (i.get("src") or "")]
            assert_served_picture(client, key)
    assert seen == list(CHOICES)

    start = parse(client.get("/kiosk").text)
    [language_picture] = start.images  # one picture, no flags: languages are not countries
    assert language_picture["src"] == "/static/icons/speech-bubbles.svg"
    assert_served_picture(client, language_picture)
    assert all(images == [] for images in start.answers.values())


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
def test_pictures_load_under_the_csp_at_the_start_side(
    kiosk_portal: Portal, scriptless_page: Page, language: str, direction: str
) -> None:
    page = scriptless_page  # the server's step pages (step.html)
    page.goto(kiosk_portal.url + "/kiosk")
    with page.expect_navigation():
        page.get_by_role("button", name=language).click()
        page.locator("#kiosk-app[data-ready], input[name=step]").first.wait_for(state="attached")
    for step in CHOICES:
        for button in page.locator("button.choice").all():
            icon, words = button.locator("img.icon"), button.locator("span")
            assert icon.evaluate("i => i.complete && i.naturalWidth > 0")  # not blocked
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
