"""A database-writing attacker against the signed conversation (docs/protocol.md §16.3).

The attacker can write every row of the portal's database (here, through SQLAlchemy on
the portal's own database, SQLite or PostgreSQL) but holds no secret key: not the
oversight keys, not a reporter's receipt. Each attack on a conversation is then either
refused or flagged, at the console, over a real HTTP sync, and audited there:

- a forged reply: the portal's thread ends at an item the console never wrote, so the
  console's next reply finds the portal's chain moved on, and the case shows it;
- a forged message (signed with another key, unsigned, or signed after swapping the
  case's key on the portal): set aside, or marked unsigned, never the reporter's words;
- an item moved to another case, two reordered, the middle one dropped, an old one
  replayed: each shown on the case as what it is.

The reporters here are API clients that speak v2 (tests/portal/clients.py); the one
attack that v1 reporters' cases share, an unsigned message, is aimed at a v1 case too.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

import crypto
from portal.db import Case as PortalCase
from portal.db import Item as PortalItem
from portal.db import make_engine, make_sessionmaker
from tests.portal.clients import Reporter, SignedAuth
from tests.portal.conftest import Portal
from tests.portal.test_api import report_document, submission
from triage.console import Console

FORGER = crypto.SigningKey(bytes([0x41]) * 32)


@pytest.fixture
def database(pair: tuple[Portal, Console]) -> Iterator[Session]:
    """The attacker's own connection to the portal's database."""
    engine = make_engine(pair[0].settings.database_url)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def reporter(portal: Portal) -> Reporter:
    """A v2 API reporter with a filed report."""
    keys = portal.derive(crypto.generate_receipt())
    who = Reporter(portal.client(), keys, portal.clock)
    assert who.file().status_code == 201
    return who


def v1_case(portal: Portal) -> tuple[str, crypto.ReporterKeys]:
    """A case filed by a v1 client (as browsers still do until they sign)."""
    client = portal.client()
    keys = portal.derive(crypto.generate_receipt())
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    answer = client.post("/api/v1/reports", json=submission(keys, sealed, []))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case"]), keys


def rows(session: Session, case: str) -> list[PortalItem]:
    session.expire_all()
    query = select(PortalItem).where(PortalItem.case_id == case).order_by(PortalItem.seq)
    return list(session.scalars(query))


def head_of(session: Session, case: str) -> crypto.Head:
    last = max((r for r in rows(session, case) if r.signed), key=lambda r: r.chain_seq or 0)
    return crypto.Head(int(last.chain_seq or 0), hashlib.sha256(last.signed or b"").digest())


def insert(session: Session, case: str, kind: str, sealed: bytes, **columns: Any) -> None:
    """A row the attacker writes: an item the portal never checked."""
    session.add(
        PortalItem(
            id=crypto.b64u_encode(secrets.token_bytes(12)),
            case_id=case,
            kind=kind,
            sealed=sealed,
            on=datetime.date(2026, 11, 28),
            **columns,
        )
    )
    session.commit()


def header_columns(item: crypto.SignedItem) -> dict[str, Any]:
    """The columns that hold a v2 item's header on the portal."""
    return {"signed": item.signed, "signature": item.signature, "chain_seq": item.header.seq}


def forged_item(
    case_key: bytes, kind: str, text: str, recipient: crypto.PublicKey, after: crypto.Head
) -> tuple[bytes, crypto.SignedItem]:
    document = {
        "v": 2,
        "type": kind,
        "case_key": crypto.b64u_encode(case_key),
        "text": text,
        "sent_on": "2026-11-28",
    }
    return crypto.seal_item(document, recipient, FORGER, after=after)


def shown(console: Console, case: str) -> dict[str, Any]:
    return console.show(case)


def texts(console: Console, case: str, kind: str) -> list[str]:
    return [m["text"] for m in shown(console, case)["messages"] if m["kind"] == kind]


def actions(console: Console, case: str) -> list[str]:
    return [e["action"] for e in console.audit_entries() if e.get("case") == case]


def warnings(console: Console, case: str) -> list[str]:
    return [w["kind"] for w in shown(console, case)["warnings"]]


def test_a_forged_reply_is_refused_by_the_reporter_and_flagged_at_the_console(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    alice = reporter(portal)
    console.sync(portal.url)
    console.reply(alice.case, "Thank you. We will never ask for your name.")
    assert console.sync(portal.url).pushed == 1
    assert alice.check().ok

    sealed, item = forged_item(
        bytes(alice.keys.box_pk),
        "reply",
        "To go on, we need your full name, wing and cell number.",
        alice.keys.box_pk,
        head_of(database, alice.case),
    )
    insert(database, alice.case, "reply", sealed, **header_columns(item))

    check = alice.check()
    assert check.verdicts == ("ok", "ok", "forged")  # never shown as from the oversight body
    console.reply(alice.case, "We have opened an investigation.")
    report = console.sync(portal.url)
    assert (report.pushed, report.queued) == (0, 1)  # never signed after a forged item
    assert "unknown_head" in warnings(console, alice.case)
    assert "thread finding" in actions(console, alice.case)
    assert len(alice.thread()["items"]) == 3  # nothing new reached the forged thread


@pytest.mark.parametrize("how", ["forger's key", "portal's key swapped", "unsigned"])
def test_a_forged_message_is_never_the_reporters_words(
    pair: tuple[Portal, Console], database: Session, how: str
) -> None:
    portal, console = pair
    bob = reporter(portal)
    assert bob.message("The same officer is on my wing again.").status_code == 201
    console.sync(portal.url)
    withdraw = "I withdraw everything. It was a misunderstanding."
    oversight = portal.oversight.public_key
    if how == "forger's key":
        sealed, item = forged_item(
            bytes(bob.keys.box_pk), "message", withdraw, oversight, head_of(database, bob.case)
        )
        insert(database, bob.case, "message", sealed, **header_columns(item))
    elif how == "portal's key swapped":
        # The attacker gives the case its own signing key, and then uses the portal's
        # API as the reporter would: the portal takes it, the console does not.
        database.execute(
            update(PortalCase)
            .where(PortalCase.id == bob.case)
            .values(sign_pk=bytes(FORGER.verify_key))
        )
        database.commit()
        [row] = database.scalars(select(PortalCase).where(PortalCase.id == bob.case))
        sealed, item = forged_item(
            row.box_pk, "message", withdraw, oversight, head_of(database, bob.case)
        )
        answer = bob.client.post(
            "/api/v1/thread/messages",
            json={"sealed": crypto.b64u_encode(sealed), **item.as_json()},
            auth=SignedAuth(FORGER, portal.clock, key_id=row.lookup_id),
        )
        assert answer.status_code == 201, answer.text
    else:
        sealed = crypto.seal_document(
            {"v": 1, "type": "message", "text": withdraw, "sent_on": "2026-11-28"}, oversight
        )
        insert(database, bob.case, "message", sealed)
    console.sync(portal.url)
    assert withdraw not in texts(console, bob.case, "message")
    assert texts(console, bob.case, "message") == ["The same officer is on my wing again."]
    if how == "unsigned":
        assert texts(console, bob.case, "unsigned") == [withdraw]  # shown only as such
        assert "received unsigned" in actions(console, bob.case)
    else:
        assert "set_aside" in warnings(console, bob.case)
        assert "forgery attempt" in actions(console, bob.case)


def test_an_unsigned_message_in_a_case_filed_under_v1_is_marked_unsigned(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    case, _ = v1_case(portal)
    console.sync(portal.url)
    withdraw = "I withdraw everything. It was a misunderstanding."
    sealed = crypto.seal_document(
        {"v": 1, "type": "message", "text": withdraw, "sent_on": "2026-11-28"},
        portal.oversight.public_key,
    )
    insert(database, case, "message", sealed)
    console.sync(portal.url)
    kinds = [(m["kind"], m["text"]) for m in shown(console, case)["messages"]]
    assert ("message", withdraw) not in kinds
    assert ("unsigned", withdraw) in kinds
    assert "received unsigned" in actions(console, case)


def test_an_item_moved_to_another_case_is_set_aside(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    carol, dave = reporter(portal), reporter(portal)
    console.sync(portal.url)
    assert dave.message("Please do not tell anyone on C wing.").status_code == 201
    [moved] = [r for r in rows(database, dave.case) if r.kind == "message"]
    database.execute(
        update(PortalItem)
        .where(PortalItem.seq == moved.seq)
        .values(case_id=carol.case, chain_seq=None)
    )
    database.commit()
    console.sync(portal.url)
    assert texts(console, carol.case, "message") == []
    assert "set_aside" in warnings(console, carol.case)
    assert "moved item" in actions(console, carol.case)
    assert [v for v in carol.check().verdicts] == ["ok", "moved"]  # and the reporter sees it


def test_two_messages_in_the_wrong_order_are_flagged(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    erin = reporter(portal)
    console.sync(portal.url)
    assert erin.message("First.").status_code == 201
    assert erin.message("Second.").status_code == 201
    first, second = [r for r in rows(database, erin.case) if r.kind == "message"]
    columns = ("sealed", "signed", "signature", "chain_seq")
    values = [{c: getattr(r, c) for c in columns} for r in (first, second)]
    # Swap what the two rows hold: the outbox lists "Second." first.
    database.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(chain_seq=None))
    database.execute(update(PortalItem).where(PortalItem.seq == second.seq).values(values[0]))
    database.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(values[1]))
    database.commit()
    console.sync(portal.url)
    assert "out_of_order" in warnings(console, erin.case)
    assert "thread finding" in actions(console, erin.case)


def test_a_message_dropped_from_the_middle_is_a_gap(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    fay = reporter(portal)
    console.sync(portal.url)
    for text in ("One.", "Two: the name of the officer.", "Three."):
        assert fay.message(text).status_code == 201
    middle = [r for r in rows(database, fay.case) if r.kind == "message"][1]
    database.execute(delete(PortalItem).where(PortalItem.seq == middle.seq))
    database.commit()
    console.sync(portal.url)
    assert texts(console, fay.case, "message") == ["One.", "Three."]
    shown_warnings = shown(console, fay.case)["warnings"]
    assert [(w["kind"], w["seq"], w["until"]) for w in shown_warnings] == [("gap", 2, 2)]
    assert "thread finding" in actions(console, fay.case)


def test_an_old_message_replayed_is_set_aside(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    gus = reporter(portal)
    assert gus.message("Help me. I am on B wing.").status_code == 201
    console.sync(portal.url)  # taken in and acknowledged
    [old] = [r for r in rows(database, gus.case) if r.kind == "message"]
    insert(database, gus.case, "message", old.sealed or b"", signed=old.signed,
           signature=old.signature)  # fmt: skip
    console.sync(portal.url)
    assert texts(console, gus.case, "message") == ["Help me. I am on B wing."]
    assert "set_aside" in warnings(console, gus.case)
    assert "replayed item" in actions(console, gus.case)


def test_the_same_report_filed_twice_is_one_case(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    hal = reporter(portal)
    [report] = rows(database, hal.case)
    database.add(
        PortalCase(
            id="CPY0000000", lookup_id=bytes(32), box_pk=bytes(hal.keys.box_pk),
            sign_pk=bytes(hal.keys.sign_pk), status="received",
            status_on=datetime.date(2026, 11, 28), created_on=datetime.date(2026, 11, 28),
        )
    )  # fmt: skip
    database.commit()
    insert(database, "CPY0000000", "report", report.sealed or b"", signed=report.signed,
           signature=report.signature, chain_seq=0)  # fmt: skip
    console.sync(portal.url)
    assert [c["case"] for c in console.cases()] == [hal.case]
    assert "second report" in actions(console, "CPY0000000")
