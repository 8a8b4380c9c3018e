"""The POST forms on a console page, read as a browser reads them, and filled in the way
an officer would: what the page preselects stays chosen, a required choice left on its
placeholder gets the first real option, and empty text boxes get some words.

Tests use it to find every action form by itself, so that a new form is covered as soon
as a page shows it."""

from __future__ import annotations

import html.parser
import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: Forms that are not actions on the console's content: signing in and out, unsealing,
#: enrolling. They must still behave when sent twice (tested on their own).
NOT_ACTIONS = frozenset({"/login", "/logout", "/unseal", "/enrol"})


@dataclass
class Select:
    name: str
    required: bool
    options: list[tuple[str, bool, bool]] = field(default_factory=list)  # value, selected, disabled

    def chosen(self) -> str:
        """What a browser sends untouched: the selected option, else the first one."""
        enabled = [(value, selected) for value, selected, disabled in self.options if not disabled]
        picked = [value for value, selected in enabled if selected]
        if picked:
            return picked[-1]
        return enabled[0][0] if enabled else ""


@dataclass
class PostForm:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # text inputs and textareas
    checked: dict[str, str] = field(default_factory=dict)  # checked boxes
    selects: dict[str, Select] = field(default_factory=dict)
    unticked: list[str] = field(default_factory=list)  # boxes not checked, by name
    #: The first submit button's (name, value): a browser sends it when the form is sent
    #: with Enter, as it sends any button clicked.
    button: tuple[str, str] | None = None

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Which form this is on its page, across reloads: where it posts and what it
        carries hidden, apart from the per-render tokens."""
        kept = sorted((k, v) for k, v in self.hidden.items() if k not in ("csrf", "once"))
        return self.action, tuple(kept)

    def kind(self) -> tuple[str, tuple[str, ...], str]:
        """The sort of action, whichever row or case it is for."""
        path = re.sub(r"^/cases/[^/]+", "/cases/ID", self.action)
        return path, tuple(sorted(self.hidden)), self.hidden.get("action", "")

    def filled(self, n: int, overrides: dict[str, Callable[[int], str]]) -> dict[str, str]:
        """The body an officer sends: `overrides` give some fields' values by name."""
        data = dict(self.hidden)
        for name, value in self.texts.items():
            if name in overrides:
                data[name] = overrides[name](n)
            else:  # a changed value, so that a rename is a rename
                data[name] = f"{value} {n}".strip() if value else f"Sent twice {n}"
        data.update(self.checked)
        picks = [name for name in self.unticked if name.startswith("pick-")]
        if picks:  # the list's bulk form acts on ticked cases: the officer ticks one
            data[picks[0]] = "yes"
        if self.button is not None:
            data[self.button[0]] = self.button[1]
        for name, select in self.selects.items():
            value = select.chosen()
            if not value and select.required:  # the officer must choose: the first choice
                value = next((v for v, _, disabled in select.options if v and not disabled), "")
            data[name] = value
        return data


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[PostForm] = []
        self._form: PostForm | None = None
        self._select: Select | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = PostForm(a.get("action", ""))
            return
        form = self._form
        if form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "hidden":
                form.hidden[name] = a.get("value", "")
            elif kind == "checkbox":
                if "checked" in a:
                    form.checked[name] = a.get("value", "on")
                else:
                    form.unticked.append(name)
            elif kind in ("text", "password", "search", ""):
                form.texts[name] = a.get("value", "")
        elif tag == "button" and name and form.button is None:
            if a.get("type", "submit").lower() == "submit":
                form.button = (name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = form.selects[name] = Select(name, "required" in a)
        elif tag == "option" and self._select is not None:
            self._select.options.append((a.get("value", ""), "selected" in a, "disabled" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            if self._form is not None:
                self.forms.append(self._form)
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._form is not None and self._textarea is not None:
            self._form.texts[self._textarea] = "".join(self._text).strip("\n")
            self._textarea = None


def post_forms(page: str) -> list[PostForm]:
    """Every `<form method="post">` on the page, in the page's order."""
    parser = _Parser()
    parser.feed(page)
    return parser.forms


def action_forms(page: str) -> list[PostForm]:
    """The page's POST forms that act on the console (not sign-in, sign-out and the like)."""
    return [form for form in post_forms(page) if form.action not in NOT_ACTIONS]


class _Visible(html.parser.HTMLParser):
    """The text a reader sees, leaving out code samples (identifiers shown on purpose)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "script", "style", "title", "textarea"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "script", "style", "title", "textarea"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())
