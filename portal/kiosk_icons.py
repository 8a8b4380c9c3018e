"""The kiosk's pictures, drawn in the page itself rather than fetched one file each.

Every kiosk screen shows pictures beside its answers and buttons (portal/static/icons).
As `<img>` files each cost a request that the portal answers in turn, and every response
is `no-store` (a shared kiosk keeps no copy of what the last person saw), so the first
screen waited for a dozen of them before its load event (issue 19's 300 ms screen). Now
each picture is `<svg class="icon" aria-hidden="true"><use href="#icon-NAME"/></svg>`, and
the page ends with one hidden block of `<symbol>`s: the shapes of the pictures that page
drew, parsed once from the same files. Inline SVG is markup, not script or style, so the
kiosk's policy (no 'unsafe-inline') holds; the shapes carry presentation attributes only.

A page's pictures are gathered while it renders: `render` opens `page_pictures()` around
it, `icon()` notes each one, and kiosk/base.html's `icon_symbols()` writes their shapes at
the end of the body. A picture that kiosk-listen.js draws (the speaker on its Listen
buttons) is noted by the template that gives it a control to replace (`uses_icon()`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from markupsafe import Markup

ICONS = Path(__file__).parent / "static" / "icons"
SVG = "{http://www.w3.org/2000/svg}"
_NAME = re.compile(r"[a-z][a-z-]*")
#: A file's own size and colour stay with the `<img>` it was: on the page the icon's
#: width and height set its size, and kiosk.css its colour (forced colours included).
_DROPPED = {"width", "height", "color"}
#: A picture on the page: its size, and the shapes it draws (`symbol`).
_PICTURE = Markup(
    '<svg class="icon" width="{0}" height="{0}" aria-hidden="true"><use href="#icon-{1}"/></svg>'
)
#: Around the page's symbols: a block that is never shown (kiosk.css), nor read out.
_SYMBOLS = (
    Markup('<svg class="icon-symbols" width="0" height="0" aria-hidden="true">'),
    Markup("</svg>"),
)

_page: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "kiosk_page_icons", default=None
)


def _markup(tag: str, attributes: dict[str, str], inside: Markup) -> Markup:
    """One element, every name and value escaped."""
    pairs = Markup("").join(Markup(' {}="{}"').format(k, v) for k, v in attributes.items())
    if inside:
        return Markup("<{0}{1}>{2}</{0}>").format(tag, pairs, inside)
    return Markup("<{}{}/>").format(tag, pairs)


def _shapes(element: ET.Element) -> Markup:
    return Markup("").join(
        _markup(child.tag.removeprefix(SVG), child.attrib, _shapes(child)) for child in element
    )


@functools.cache
def symbol(name: str) -> Markup:
    """`<symbol id="icon-NAME">` with the shapes of portal/static/icons/NAME.svg, written
    out again from the parsed file (our own; its tests hold it to shapes alone)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a picture's name: {name!r}")
    drawing = ET.fromstring((ICONS / f"{name}.svg").read_text(encoding="utf-8"))  # noqa: S314
    if drawing.tag != f"{SVG}svg":
        raise ValueError(f"{name}.svg is not an SVG picture")
    attributes = {k: v for k, v in drawing.attrib.items() if k not in _DROPPED}
    return _markup("symbol", {"id": f"icon-{name}", **attributes}, _shapes(drawing))


@contextlib.contextmanager
def page_pictures() -> Iterator[None]:
    """While a page renders: the pictures it draws are noted for `icon_symbols()`."""
    token = _page.set(set())
    try:
        yield
    finally:
        _page.reset(token)


def uses_icon(name: str) -> str:
    """Note that the page draws `name` (by script, or by `icon`); writes nothing."""
    used = _page.get()
    if used is None:
        raise RuntimeError("a kiosk picture outside page_pictures()")
    symbol(name)  # a missing or misnamed file fails here, not as an empty picture
    used.add(name)
    return ""


def icon(name: str, size: int = 48) -> Markup:
    """A decorative picture: hidden from screen readers (the words beside it are the
    name of what it sits in), and sized before it is drawn, so nothing moves."""
    uses_icon(name)
    return _picture(name, size)


@functools.cache
def _picture(name: str, size: int) -> Markup:
    return _PICTURE.format(size, name)


def icon_symbols() -> Markup:
    """The shapes of every picture the page drew, once each, in a block never shown."""
    used = _page.get()
    if not used:
        return Markup("")
    start, end = _SYMBOLS
    return start + Markup("").join(symbol(name) for name in sorted(used)) + end


def install(env: Any) -> None:
    """Give the templates `icon()`, `uses_icon()` and `icon_symbols()`."""
    env.globals["icon"] = icon
    env.globals["uses_icon"] = uses_icon
    env.globals["icon_symbols"] = icon_symbols
