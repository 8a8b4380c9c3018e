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

import dataclasses
import datetime
import hashlib
import html
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

import crypto
from foundation.database import make_engine, make_sessionmaker
from portal.db import Base
from portal.db import Case as PortalCase
from portal.db import Item as PortalItem
from tests.portal.clients import Reporter, SignedAuth
from tests.portal.conftest import Portal
from tests.portal.forms import hidden_fields, open_thread, receipt_of, send_message, submit_report
from tests.portal.test_api import report_document, submission
from triage.console import Console
from triage.keys import rotate_oversight_key

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


def actions(console: Console, case: str | None) -> list[str]:
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


# -- the pages without JavaScript: the follow-up thread and the kiosk ----------------------
#
# The same attacker, against a reporter who reads the thread on the portal's own pages
# without JavaScript (a web browser with scripts off, or the kiosk's screens without
# them). The server checks the thread with the keys derived from the receipt before it
# shows anything (portal/thread_view.py): whatever the attacker writes is a fixed warning,
# never a reply from the oversight body.

GENUINE = "Thank you. We will never ask for your name."
FORGED = "To go on, we need your full name, wing and cell number."
#: The fixed warnings, in English (the same on the pages with JavaScript).
S1 = (
    "A message here did not pass our safety check, so we have hidden it. It may be fake. "
    "Do not answer it."
)
S2 = "Some messages are missing here. Someone may have taken them out."
S3 = (
    "The messages here have been changed or put in the wrong order. Someone may have "
    "tampered with them."
)
S4 = "This portal is not using the oversight body's keys. Do not send anything here."
PAGES = ["web", "kiosk"]


def scriptless_case(portal: Portal, database: Session) -> tuple[str, str, crypto.ReporterKeys]:
    """A report sent with the form, without JavaScript: (receipt, case id, keys)."""
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    keys = portal.derive(receipt)
    database.expire_all()
    case = database.scalars(select(PortalCase).where(PortalCase.lookup_id == keys.lookup_id))
    return receipt, case.one().id, keys


def answered(
    pair: tuple[Portal, Console], database: Session, *replies: str
) -> tuple[str, str, crypto.ReporterKeys]:
    portal, console = pair
    receipt, case, keys = scriptless_case(portal, database)
    console.sync(portal.url)
    for text in replies:
        console.reply(case, text)
        assert console.sync(portal.url).pushed == 1
    return receipt, case, keys


def page_of(portal: Portal, receipt: str, where: str) -> tuple[httpx.Client, str]:
    """The reporter's thread as the page without JavaScript shows it, unescaped."""
    client = portal.client()
    if where == "web":
        assert open_thread(client, receipt).status_code == 303
        answer = client.get("/thread")
    else:
        form = client.get("/kiosk/follow-up?lang=en")
        answer = client.post(
            "/kiosk/follow-up", data={**hidden_fields(form.text), "receipt": receipt}
        )
    assert answer.status_code == 200, answer.text
    return client, html.unescape(answer.text)


def shown_on(portal: Portal, receipt: str, where: str) -> str:
    return page_of(portal, receipt, where)[1]


@pytest.mark.parametrize("where", PAGES)
def test_a_forged_reply_is_hidden_on_the_pages_without_javascript(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, keys = answered(pair, database, GENUINE)
    sealed, item = forged_item(
        bytes(keys.box_pk), "reply", FORGED, keys.box_pk, head_of(database, case)
    )
    insert(database, case, "reply", sealed, **header_columns(item))
    page = shown_on(portal, receipt, where)
    assert GENUINE in page
    assert FORGED not in page  # never shown, not even as a warning's quote
    assert S1 in page


@pytest.mark.parametrize("where", PAGES)
def test_no_message_is_signed_after_a_forged_item(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    """The server seals and signs the reporter's message after the last item that
    verified: when a forged reply holds the next place, nothing is sent, and the page
    says the thread was tampered with, rather than answer the forgery."""
    portal, _ = pair
    receipt, case, keys = answered(pair, database, GENUINE)
    sealed, item = forged_item(
        bytes(keys.box_pk), "reply", FORGED, keys.box_pk, head_of(database, case)
    )
    insert(database, case, "reply", sealed, **header_columns(item))
    before = len(rows(database, case))
    client, _ = page_of(portal, receipt, where)
    if where == "web":
        answer = send_message(client, "My name is Sam Smith, B wing, cell 12.")
        assert answer.status_code == 409
    else:
        answer = write_back(client, receipt, "My name is Sam Smith, B wing, cell 12.")
        assert answer.status_code == 422
    assert S3 in html.unescape(answer.text)
    assert "Sam Smith" in answer.text  # the words are kept, to send when it is safe
    assert len(rows(database, case)) == before


@pytest.mark.parametrize("where", PAGES)
def test_a_forged_message_shows_as_a_warning(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, keys = answered(pair, database, GENUINE)
    sealed, item = forged_item(
        bytes(keys.box_pk), "message", "I withdraw everything.",
        portal.oversight.public_key, head_of(database, case),
    )  # fmt: skip
    insert(database, case, "message", sealed, **header_columns(item))
    page = shown_on(portal, receipt, where)
    assert S1 in page
    assert GENUINE in page


@pytest.mark.parametrize("where", PAGES)
def test_a_reply_moved_from_another_case_shows_as_a_warning(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, _keys = answered(pair, database, GENUINE)
    _, other, _ = answered(pair, database, "Meet the officer in the chapel on Friday.")
    [moved] = [r for r in rows(database, other) if r.kind == "reply"]
    database.execute(
        update(PortalItem).where(PortalItem.seq == moved.seq).values(case_id=case, chain_seq=None)
    )
    database.commit()
    page = shown_on(portal, receipt, where)
    assert "chapel" not in page
    assert S1 in page
    assert GENUINE in page


@pytest.mark.parametrize("where", PAGES)
def test_two_replies_in_the_wrong_order_show_a_warning(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, _ = answered(pair, database, "First answer.", "Second answer.")
    first, second = [r for r in rows(database, case) if r.kind == "reply"]
    columns = ("sealed", "signed", "signature", "chain_seq")
    values = [{c: getattr(r, c) for c in columns} for r in (first, second)]
    database.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(chain_seq=None))
    database.execute(update(PortalItem).where(PortalItem.seq == second.seq).values(values[0]))
    database.execute(update(PortalItem).where(PortalItem.seq == first.seq).values(values[1]))
    database.commit()
    page = shown_on(portal, receipt, where)
    assert S3 in page
    assert page.index("First answer.") < page.index("Second answer.")  # in signed order


@pytest.mark.parametrize("where", PAGES)
def test_a_reply_dropped_from_the_middle_shows_a_gap(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, _ = answered(pair, database, "One.", "Two: we have moved the officer.", "Three.")
    middle = [r for r in rows(database, case) if r.kind == "reply"][1]
    database.execute(delete(PortalItem).where(PortalItem.seq == middle.seq))
    database.commit()
    page = shown_on(portal, receipt, where)
    assert S2 in page
    assert "One." in page
    assert "Three." in page


@pytest.mark.parametrize("where", PAGES)
def test_a_reply_replayed_shows_once_and_a_warning(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    portal, _ = pair
    receipt, case, _ = answered(pair, database, GENUINE)
    [old] = [r for r in rows(database, case) if r.kind == "reply"]
    insert(database, case, "reply", old.sealed or b"", signed=old.signed,
           signature=old.signature)  # fmt: skip
    page = shown_on(portal, receipt, where)
    assert page.count(GENUINE) == 1
    assert S3 in page


@pytest.mark.parametrize("where", PAGES)
def test_oversight_keys_swapped_in_the_config_are_refused_when_pinned(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    """The operator pinned the posters' fingerprint outside the data directory
    (LANTHORN_OVERSIGHT_FINGERPRINT); the attacker rewrote the keys in portal.json and
    signs its own replies. Nothing is shown as from the oversight body, nothing can be
    sealed to the attacker's keys, and the page says so."""
    portal, console = pair
    receipt, case, keys = answered(pair, database, GENUINE)
    attacker_box = crypto.PrivateKey.generate()
    sealed, item = forged_item(
        bytes(keys.box_pk), "reply", FORGED, keys.box_pk, head_of(database, case)
    )
    insert(database, case, "reply", sealed, **header_columns(item))
    portal.app.state.settings = dataclasses.replace(
        portal.settings,
        oversight_pin=console.keys.fingerprint,
        oversight_key=attacker_box.public_key,
        oversight_sign_key=FORGER.verify_key,
    )  # the portal restarted with the altered configuration
    client, page = page_of(portal, receipt, where)
    assert S4 in page
    assert FORGED not in page
    assert GENUINE not in page
    if where == "web":
        answer = send_message(client, "My name is Sam Smith.")
        assert answer.status_code == 409
        assert S4 in html.unescape(answer.text)
    assert [r.kind for r in rows(database, case)] == ["report", "reply", "reply"]


def write_back(client: httpx.Client, receipt: str, text: str) -> httpx.Response:
    """The kiosk's write-back without JavaScript, from the thread screen to "Send"."""
    form = client.get("/kiosk/follow-up?lang=en")
    thread = client.post("/kiosk/follow-up", data={**hidden_fields(form.text), "receipt": receipt})
    write = client.post("/kiosk/write-back", data=hidden_fields(thread.text))
    check = client.post("/kiosk/write-back", data={**hidden_fields(write.text), "text": text})
    return client.post("/kiosk/write-back", data={**hidden_fields(check.text), "go": "send"})


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every row of the portal's database: a backup, as `pg_dump` or a file copy keeps it."""
    session.expire_all()
    return {
        table.name: [dict(row._mapping) for row in session.execute(table.select())]
        for table in Base.metadata.sorted_tables
    }


def restore(session: Session, backup: dict[str, list[dict[str, Any]]]) -> None:
    """The portal rebuilt from `backup`: everything written since is lost."""
    for table in reversed(Base.metadata.sorted_tables):
        session.execute(table.delete())
    for table in Base.metadata.sorted_tables:
        if backup[table.name]:
            session.execute(table.insert(), backup[table.name])
    session.commit()


@pytest.mark.parametrize("where", PAGES)
def test_a_portal_restored_from_a_backup_shows_the_reporter_a_gap(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    """The portal lost a reply when it was rebuilt from last night's backup. The console
    signs its next reply after its own head, not the portal's older one (which would hide
    the loss), the portal takes it, and the reporter sees that something is missing."""
    portal, console = pair
    receipt, case, _ = answered(pair, database, "One.")
    backup = snapshot(database)
    console.reply(case, "Two: the officer has been moved off your wing.")
    assert console.sync(portal.url).pushed == 1
    restore(database, backup)
    assert "Two:" not in shown_on(portal, receipt, where)

    console.reply(case, "Three.")
    report = console.sync(portal.url)
    assert (report.pushed, report.queued) == (1, 0)
    page = shown_on(portal, receipt, where)
    assert "One." in page
    assert "Three." in page
    assert S2 in page


def test_the_console_says_the_portal_has_the_old_keys_between_rotation_and_restart(
    pair: tuple[Portal, Console], database: Session
) -> None:
    """Between `triage rotate-key` and `portal set-oversight-key`, the portal refuses
    items signed with the new key: the console says so, not that it is unreachable."""
    portal, console = pair
    _, case, _ = answered(pair, database, "One.")
    console.keys = rotate_oversight_key(console.settings, console.keys)
    console.reply(case, "Two.")
    report = console.sync(portal.url)
    assert (report.pushed, report.queued) == (0, 1)
    assert "still uses the oversight keys this console retired" in report.held
    assert "set-oversight-key" in report.held
    assert "portal keys differ" not in actions(console, None)


def test_the_console_audits_a_portal_serving_keys_that_are_not_its_own(
    pair: tuple[Portal, Console], database: Session
) -> None:
    portal, console = pair
    _, case, _ = answered(pair, database, "One.")
    portal.app.state.settings = dataclasses.replace(
        portal.settings,
        oversight_key=crypto.PrivateKey.generate().public_key,
        oversight_sign_key=FORGER.verify_key,
    )  # the portal restarted with keys swapped in its configuration
    console.reply(case, "Two.")
    report = console.sync(portal.url)
    assert (report.pushed, report.queued) == (0, 1)
    assert "not this console's" in report.held
    assert "portal keys differ" in actions(console, None)


@pytest.mark.parametrize("where", PAGES)
def test_in_a_case_filed_under_v1_only_vouched_replies_show(
    pair: tuple[Portal, Console], database: Session, where: str
) -> None:
    """A case filed by a v1 client: the console's signed items vouch for the v1 history
    it really has (§17.1). An unsigned reply the attacker adds is not in it: hidden. And
    the message the server signs there carries the key proof, so the console shows it
    as the reporter's words."""
    portal, console = pair
    client = portal.client()
    receipt = crypto.generate_receipt()
    keys = portal.derive(receipt)
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    answer = client.post("/api/v1/reports", json=submission(keys, sealed, []))
    case = str(answer.json()["case"])
    console.sync(portal.url)
    console.reply(case, GENUINE)
    console.sync(portal.url)
    unsigned = crypto.seal_document(
        {"v": 1, "type": "reply", "text": FORGED, "sent_on": "2026-11-28"}, keys.box_pk
    )
    insert(database, case, "reply", unsigned)
    client, page = page_of(portal, receipt, where)
    assert GENUINE in page
    assert FORGED not in page
    assert S1 in page
    if where == "web":
        assert send_message(client, "Thank you. I am safe for now.").status_code == 303
    else:
        assert write_back(client, receipt, "Thank you. I am safe for now.").status_code == 200
    console.sync(portal.url)
    assert texts(console, case, "message") == ["Thank you. I am safe for now."]


def test_a_message_relabelled_as_a_reply_is_not_shown_as_one(
    pair: tuple[Portal, Console], database: Session
) -> None:
    """What a signed item is comes from its header, not the portal's `kind` column. (The
    kiosk shows only replies that open, so it never showed this one.)"""
    portal, _ = pair
    receipt, case, _ = scriptless_case(portal, database)
    client, _ = page_of(portal, receipt, "web")
    assert send_message(client, "They took my letters.").status_code == 303
    database.execute(
        update(PortalItem)
        .where(PortalItem.case_id == case, PortalItem.kind == "message")
        .values(kind="reply")
    )
    database.commit()
    page = shown_on(portal, receipt, "web")
    assert "Reply from the oversight body" not in page
    assert "This reply could not be opened." not in page
    assert "Your message," in page
