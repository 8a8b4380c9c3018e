"""Translations: gettext catalogues read with Babel, used through Jinja2's i18n extension.

Catalogues live in `portal/translations/<lang>/LC_MESSAGES/messages.po` and are compiled
in memory at start-up. Message ids are the English sentences themselves, so a string a
catalogue lacks falls back to English, never to a raw id. The language of the page being
rendered is a context variable, set by the page before it renders. The languages
themselves, and the `N_` marker, are in `foundation/languages.py` (the console names them).
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment
from markupsafe import escape

from foundation.languages import LANGUAGES, RTL

HERE = Path(__file__).parent / "translations"

current_language: ContextVar[str] = ContextVar("current_language", default="en")


def load_catalogues(directory: Path = HERE) -> dict[str, NullTranslations]:
    catalogues: dict[str, NullTranslations] = {"en": NullTranslations()}
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalogue = read_po(handle)
        buffer = io.BytesIO()
        write_mo(buffer, catalogue)
        buffer.seek(0)
        catalogues[po.parent.parent.name] = Translations(buffer)
    return catalogues


def known_messages(directory: Path = HERE) -> frozenset[str]:
    """Every message id the pages' catalogue holds (messages.pot): the only texts that
    `_()` may put into a page as they are."""
    known: set[str] = set()
    with (directory / "messages.pot").open("rb") as handle:
        for message in read_po(handle):
            known.update([message.id] if isinstance(message.id, str) else message.id)
    known.discard("")
    return frozenset(known)


def install(env: Environment, catalogues: dict[str, NullTranslations]) -> None:
    """Give `env` the i18n extension, translating into `current_language` at render time.

    Jinja2 marks what `_()` returns as safe HTML, so `_(variable)` would print a variable
    unescaped. Only the catalogue's own message ids are passed through; any other text
    (a reporter's words, an exception's message) is escaped like every other value."""
    known = known_messages()

    def translations() -> NullTranslations:
        return catalogues.get(current_language.get(), catalogues["en"])

    def gettext(message: str) -> str:
        if message not in known:
            return escape(message)
        return translations().gettext(message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return translations().ngettext(singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["text_direction"] = lambda: "rtl" if current_language.get() in RTL else "ltr"
    env.globals["current_language"] = current_language.get
    env.globals["languages"] = LANGUAGES
    # A screen for everyone, before anyone has chosen (the kiosk's neutral screen): one
    # message in each language, whatever the page's own.
    env.globals["gettext_in"] = lambda code, message: catalogues.get(
        code, catalogues["en"]
    ).gettext(message)
