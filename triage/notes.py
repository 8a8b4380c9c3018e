"""Officers' own words that never reach the reporter: internal notes on a case, and the
reply templates officers start a reply from, one set per language.

Both are vault-sealed like every other text an officer writes (`Console._seal`): the
database holds neither a note nor a template in the clear. Writing one is audited
without its text (who, which case or language, when); the text is in the case's timeline
or on the templates page, for officers who may read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from foundation.languages import LANGUAGES

from .db import CaseNote, ReplyTemplate
from .settings import ConsoleError

if TYPE_CHECKING:
    from .console import Console

NOTE_CHARS = 4000
TITLE_CHARS = 80
TEMPLATE_CHARS = 4000


@dataclass(frozen=True)
class Template:
    id: int
    lang: str
    title: str
    text: str
    officer: str
    on: str


def add_note(console: Console, case_id: str, text: str) -> None:
    """An internal note on a case, by the acting officer. The reporter never sees it."""
    text = text.strip()
    if not text:
        raise ConsoleError("the note is empty")
    if len(text) > NOTE_CHARS:
        raise ConsoleError(f"keep a note under {NOTE_CHARS} characters (it has {len(text)})")
    with console.sessions() as session:
        console._case(session, case_id)
        session.add(
            CaseNote(
                case_id=case_id,
                officer=console.who,
                on=console._today(),
                at=int(console.clock() * 1000),
                text=console._seal(text),
            )
        )
        console.audit(session, "note", case_id, chars=len(text))  # never the text
        session.commit()


def case_notes(console: Console, case_id: str) -> list[dict[str, Any]]:
    """The case's notes, oldest first, opened: who wrote each, on which day, and what."""
    with console.sessions() as session:
        rows = session.scalars(
            select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.seq)
        ).all()
        return [
            {
                "officer": r.officer,
                "on": r.on,
                "at": r.at,
                "seq": r.seq,
                "text": console._open(r.text),
            }
            for r in rows
        ]


def _check_template(lang: str, title: str, text: str) -> None:
    if lang not in LANGUAGES:
        raise ConsoleError("choose one of the languages the portal offers")
    if not title.strip():
        raise ConsoleError("give the template a title (e.g. Acknowledgement)")
    if len(title) > TITLE_CHARS:
        raise ConsoleError(f"keep the title under {TITLE_CHARS} characters")
    if not text.strip():
        raise ConsoleError("the template's text is empty")
    if len(text) > TEMPLATE_CHARS:
        raise ConsoleError(f"keep a template under {TEMPLATE_CHARS} characters")


def save_template(
    console: Console, lang: str, title: str, text: str, template_id: int | None = None
) -> None:
    """Add a template, or change the one `template_id` names. Audited without its words."""
    _check_template(lang, title, text)
    sealed = console._seal({"title": title.strip(), "text": text.strip()})
    with console.sessions() as session:
        if template_id is None:
            row = ReplyTemplate(lang=lang, sealed=sealed, officer=console.who, on=console._today())
            session.add(row)
            session.flush()
        else:
            found = session.get(ReplyTemplate, template_id)
            if found is None:
                raise ConsoleError("there is no such template (deleted by someone else?)")
            row = found
            row.lang, row.sealed = lang, sealed
            row.officer, row.on = console.who, console._today()
        action = "add reply template" if template_id is None else "change reply template"
        console.audit(session, action, None, template=row.id, lang=lang)
        session.commit()


def delete_template(console: Console, template_id: int) -> None:
    with console.sessions() as session:
        row = session.get(ReplyTemplate, template_id)
        if row is None:
            raise ConsoleError("there is no such template (deleted by someone else?)")
        session.delete(row)
        console.audit(session, "delete reply template", None, template=template_id, lang=row.lang)
        session.commit()


def templates(console: Console, lang: str | None = None) -> list[Template]:
    """The templates (of one language, if `lang` is given), opened, by language then title."""
    with console.sessions() as session:
        query = select(ReplyTemplate)
        if lang is not None:
            query = query.where(ReplyTemplate.lang == lang)
        rows = session.scalars(query).all()
        found = []
        for row in rows:
            opened = console._open(row.sealed)
            title, text = opened["title"], opened["text"]
            found.append(Template(row.id, row.lang, title, text, row.officer, row.on.isoformat()))
    return sorted(found, key=lambda t: (t.lang, t.title.casefold(), t.id))


def template(console: Console, template_id: int) -> Template | None:
    return next((t for t in templates(console) if t.id == template_id), None)
