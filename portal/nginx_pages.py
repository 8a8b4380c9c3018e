"""The pages nginx answers with itself, in every language the portal speaks.

nginx refuses some requests before the portal sees them: past a connection cap (503) and
over the body limit (413); and it answers for the portal when the portal cannot (502: it
is not running or refused the connection; 504: it did not answer in time). It cannot
know the reader's language, so each page says the same thing in every language at once,
each block in its own script and direction. The words are the catalogues' own, so the
pages are built from them and committed under `deploy/portal/errors/`, where the shipped
site file serves them from the checkout; `./scripts/nginx-pages` writes them again after
a catalogue changes, and a test fails while a committed page differs from what the
catalogues give now.

The pages are plain HTML: no script, no style and no stylesheet (the portal's own may
be the very thing nginx cannot reach), so the portal's strict Content-Security-Policy,
which nginx sends with them, forbids nothing they need.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from babel.support import NullTranslations

from foundation.languages import LANGUAGES, N_, RTL

from .i18n import load_catalogues

#: Each page's file name, the statuses nginx answers with it, and its words: a heading
#: and what to do. nginx sends no body when it gives up on a slow client (its 408s close
#: the connection unanswered), so there is no page for that.
PAGES: dict[str, tuple[tuple[int, ...], str, str]] = {
    "busy.html": (
        (503,),
        N_("The portal is very busy just now."),
        N_("Nothing you sent was kept. Please try again in a few minutes."),
    ),
    "too-large.html": (
        (413,),
        N_("Too large to send"),
        N_(
            "What you sent is larger than the portal can take, so none of it was kept. "
            "Please go back and send it again with fewer or smaller files."
        ),
    ),
    # The portal may have kept a report whose answer never came back (a 504 after it was
    # stored): sending it again is safe, because the form's one-time value makes the
    # portal answer "already sent" instead of filing it twice.
    "unavailable.html": (
        (502, 504),
        N_("The portal could not answer just now."),
        N_(
            "If you did not see a receipt, what you sent may not have been kept. Please go "
            "back and send it again in a few minutes. If the portal then says it was "
            "already sent, it was kept."
        ),
    ),
}


def render(heading: str, text: str, catalogues: dict[str, NullTranslations]) -> str:
    """One page: the heading and the text in every offered language, English first."""
    blocks = []
    for code in LANGUAGES:
        words = catalogues.get(code, catalogues["en"])
        direction = "rtl" if code in RTL else "ltr"
        blocks.append(
            f'<section lang="{code}" dir="{direction}">\n'
            f"<h2>{escape(words.gettext(heading), quote=False)}</h2>\n"
            f"<p>{escape(words.gettext(text), quote=False)}</p>\n"
            "</section>\n"
        )
    return (
        "<!doctype html>\n"
        '<html lang="en" dir="ltr">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        "<title>Lanthorn</title>\n"
        "</head>\n"
        "<body>\n"
        "<h1>Lanthorn</h1>\n"
        "<!-- Written by ./scripts/nginx-pages from portal/translations/: do not edit. -->\n"
        f"{''.join(blocks)}"
        "</body>\n"
        "</html>\n"
    )


def build(catalogues: dict[str, NullTranslations] | None = None) -> dict[str, str]:
    """{file name: page} for every page in `PAGES`, from the catalogues as they are now."""
    catalogues = catalogues if catalogues is not None else load_catalogues()
    return {name: render(heading, text, catalogues) for name, (_, heading, text) in PAGES.items()}


def write(directory: Path) -> list[Path]:
    """Write every page into `directory` (deploy/portal/errors/ in the repository)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, page in build().items():
        path = directory / name
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
