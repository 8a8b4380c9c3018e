"""The languages a reporter can use, and the marker for text translated where it is shown.

The portal translates its pages into these languages (`portal/i18n.py`); the console
names a report's language and writes the reporter's words in the right direction.
"""

from __future__ import annotations

#: Languages a kiosk offers, each named in its own script; `dir` for right-to-left ones.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "cy": "Cymraeg",
    "pl": "Polski",
    "ro": "Română",
    "sq": "Shqip",
    "lt": "Lietuvių",
    "es": "Español",
    "pt": "Português",
    "ar": "العربية",
    "ur": "اردو",
    "pa": "ਪੰਜਾਬੀ",
    "so": "Soomaali",
    "vi": "Tiếng Việt",
    "bn": "বাংলা",
}
RTL = frozenset({"ar", "ur"})


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a string for extraction; it is translated where it is shown."""
    return message
