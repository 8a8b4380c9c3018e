"""Linked cases: persons and places of concern, and the cases that name the same one.

One report about an officer is an allegation; five are a pattern. Officers record the
persons and places a case names; each name is vault-sealed and matched across cases by a
keyed hash of its normalised form, so the console database never holds a name in the
clear. Likely links are also suggested from the reports' own words, searched in memory
after opening them; nothing decrypted is written anywhere.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import unicodedata
from typing import Any

from sqlalchemy import select

from .console import Console
from .db import Case, Concern, Item
from .settings import ConsoleError

KINDS = {"person": "Person", "place": "Place"}
PATTERN_AT = 5  # this many cases naming one person is shown as a pattern
_WORDS = re.compile(r"[^\w]+")


def normalise(name: str) -> str:
    """Case, accents' composed forms, punctuation and spacing do not make a new name."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(word for word in _WORDS.split(folded) if word)


def _digest(console: Console, kind: str, name: str) -> bytes:
    key = console.keys.subkey("concerns")
    return hmac.new(key, f"{kind}\n{normalise(name)}".encode(), hashlib.sha256).digest()


def add_concern(console: Console, case_id: str, kind: str, name: str) -> None:
    """Record a person or place of concern on a case (the name itself is sealed)."""
    if kind not in KINDS:
        raise ConsoleError("choose person or place")
    if not normalise(name):
        raise ConsoleError("write the name, or a description that identifies them")
    if len(name) > 200:
        raise ConsoleError("keep the name under 200 characters")
    with console.sessions() as session:
        console._case(session, case_id)
        session.add(
            Concern(
                case_id=case_id,
                kind=kind,
                digest=_digest(console, kind, name),
                label=console.keys.seal("concerns", name.strip().encode()),
                officer=console.who,
                on=datetime.datetime.fromtimestamp(console.clock(), datetime.UTC).date(),
            )
        )
        console._event(session, case_id, "concern", {"kind": KINDS[kind].lower()})
        console.audit(session, "add concern", case_id, kind=kind)  # never the name
        session.commit()


def concerns(console: Console, case_id: str, unit: str | None = None) -> list[dict[str, Any]]:
    """This case's persons and places, each with the other cases naming the same one
    (only those routed to `unit`, for an investigator)."""
    with console.sessions() as session:
        mine = session.scalars(
            select(Concern).where(Concern.case_id == case_id).order_by(Concern.seq)
        ).all()
        out = []
        for concern in mine:
            query = (
                select(Case.id, Case.facility, Case.received_on)
                .join(Concern, Concern.case_id == Case.id)
                .where(Concern.digest == concern.digest, Case.id != case_id)
                .distinct()
                .order_by(Case.received_on, Case.id)
            )
            if unit is not None:
                query = query.where(Case.unit == unit)
            others = [
                {"case": row.id, "facility": row.facility, "received_on": row.received_on}
                for row in session.execute(query)
            ]
            out.append(
                {
                    "kind": concern.kind,
                    "name": console.keys.open("concerns", concern.label).decode(),
                    "others": others,
                    "pattern": len(others) + 1 >= PATTERN_AT,
                }
            )
        return out


def _words_of(console: Console, item: Item) -> str:
    document = console._open(item.content).get("document", {})
    fields = ("description", "subjects", "witnesses", "location", "text")
    return normalise(" ".join(str(document.get(f) or "") for f in fields))


def suggestions(console: Console, case_id: str, unit: str | None = None) -> list[dict[str, Any]]:
    """Other cases whose reports mention a name recorded on this case, or name the same
    people in the same prison: a suggestion for an officer to confirm, never a link."""
    wanted = [
        (c["name"], normalise(c["name"]))
        for c in concerns(console, case_id)
        if len(normalise(c["name"])) >= 4  # "Sam" would match too much
    ]
    with console.sessions() as session:
        case = console._case(session, case_id)
        own = session.scalars(select(Item).where(Item.case_id == case_id, Item.kind == "report"))
        own_subjects = {
            normalise(str(console._open(item.content).get("document", {}).get("subjects") or ""))
            for item in own
        } - {""}
        query = select(Case).where(Case.id != case_id)
        if unit is not None:
            query = query.where(Case.unit == unit)
        found = []
        for other in session.scalars(query.order_by(Case.received_on, Case.id)):
            reports = session.scalars(
                select(Item).where(Item.case_id == other.id, Item.kind == "report")
            ).all()
            for item in reports:
                words = f" {_words_of(console, item)} "
                hits = [name for name, norm in wanted if f" {norm} " in words]
                subjects = normalise(
                    str(console._open(item.content).get("document", {}).get("subjects") or "")
                )
                if hits:
                    reason = "mentions " + ", ".join(hits)
                elif other.facility == case.facility and subjects in own_subjects:
                    reason = "names the same people in the same prison"
                else:
                    continue
                found.append({"case": other.id, "facility": other.facility, "reason": reason})
                break
        return found
