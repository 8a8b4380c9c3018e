"""The console's side of protocol v2: the oversight signing key in the vault, made at the
key ceremony (or at the first unseal of a console set up before v2) and rotated with a
rollover statement; items signed when they are sent; messages in a case filed under v1
proven by their key proof; and the console vouching for the v1 history it really has."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import secrets

import crypto
from portal.db import Item as PortalItem
from portal.settings import OversightPublicKeys
from tests.portal.clients import Reporter
from tests.portal.conftest import Portal
from tests.portal.test_api import report_document, submission
from triage.console import Console
from triage.db import Outgoing, set_state
from triage.keys import (
    KEYS_FILE,
    OVERSIGHT_FILE,
    open_keys,
    rotate_oversight_key,
    seal_keys,
    unseal,
)

from .conftest import PASSPHRASES, case_ids


def v2_reporter(portal: Portal) -> Reporter:
    who = Reporter(portal.client(), portal.derive(crypto.generate_receipt()), portal.clock)
    assert who.file().status_code == 201
    return who


def test_the_signing_key_is_sealed_in_the_vault_and_only_its_public_half_is_out(
    pair: tuple[Portal, Console],
) -> None:
    _, console = pair
    settings, keys = console.settings, console.keys
    sealed = (settings.data_dir / KEYS_FILE).read_bytes()
    seed = bytes(keys.signing_key)
    assert seed not in sealed
    assert open_keys(keys.vault_key, sealed).signing_key.encode() == keys.signing_key.encode()
    published = json.loads((settings.public_dir / OVERSIGHT_FILE).read_text())
    public = OversightPublicKeys.from_json(published)
    assert public.box_pk == bytes(keys.oversight.public_key)
    assert public.sign_pk == bytes(keys.signing_key.verify_key)
    assert published["oversight_fingerprint"] == keys.fingerprint == public.fingerprint
    for path in settings.public_dir.iterdir():
        assert seed not in path.read_bytes()
        assert crypto.b64u_encode(seed).encode() not in path.read_bytes()


def test_a_console_from_before_v2_gets_its_signing_key_at_the_first_unseal(
    pair: tuple[Portal, Console],
) -> None:
    _, console = pair
    settings = console.settings
    old = dataclasses.replace(console.keys, oversight_sign=None)
    (settings.data_dir / KEYS_FILE).write_bytes(seal_keys(old))
    (settings.public_dir / OVERSIGHT_FILE).unlink()
    upgraded = unseal(settings, PASSPHRASES[:2])
    assert upgraded.oversight_sign is not None
    assert upgraded.made_signing_key
    published = json.loads((settings.public_dir / OVERSIGHT_FILE).read_text())
    assert published["oversight_fingerprint"] == upgraded.fingerprint
    again = unseal(settings, PASSPHRASES[:2])  # kept: the next unseal makes none
    assert again.signing_key.encode() == upgraded.signing_key.encode()
    assert not again.made_signing_key
    reopened = Console(settings, upgraded, who="officer:test")
    try:
        [entry] = [
            e for e in reopened.audit_entries() if e["action"] == "made oversight signing key"
        ]
        assert entry["fingerprint"] == upgraded.fingerprint
        reopened.verify_audit()
    finally:
        reopened.close()


def test_replies_are_signed_when_sent_after_what_arrived_meanwhile(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    alice = v2_reporter(portal)
    console.sync(portal.url)
    [case] = case_ids(console)
    with console.sessions() as session:  # the portal cannot be reached: the reply waits
        set_state(session, "portal_url", "http://127.0.0.1:9")
        session.commit()
    console.reply(case, "Queued on Monday.")
    assert console.push() == (0, 1)
    assert alice.message("Written on Tuesday, before the reply arrived.").status_code == 201
    report = console.sync(portal.url)  # takes the message in, then signs the reply after it
    assert (report.taken, report.pushed, report.queued) == (1, 1, 0)
    check = alice.check()
    assert check.ok
    assert check.verdicts == ("ok", "ok", "ok")
    assert [h.kind for h in check.headers if h] == ["report", "message", "reply"]
    assert check.state == "acknowledged"
    assert console.show(case)["warnings"] == []


def test_rotation_keeps_the_chain_whole_across_the_two_signing_keys(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    alice = v2_reporter(portal)
    console.sync(portal.url)
    [case] = case_ids(console)
    console.reply(case, "Signed with the first key.")
    assert console.push() == (1, 0)
    old = console.keys.fingerprint
    console.keys = rotate_oversight_key(console.settings, console.keys, datetime.date.today())
    [rollover] = console.keys.rollovers
    assert rollover.old.sign_pk != rollover.new.sign_pk
    console.set_public_status(case, "in_review")
    assert console.push() == (0, 1)  # the portal still names the old key: refused, waits
    new_keys = OversightPublicKeys.from_json(console.keys.public_keys())
    portal.app.state.settings = dataclasses.replace(  # set-oversight-key and a restart
        portal.settings,
        oversight_key=crypto.PublicKey(new_keys.box_pk),
        oversight_sign_key=crypto.VerifyKey(new_keys.sign_pk),
        oversight_rollovers=new_keys.rollovers,
    )
    assert console.push() == (1, 0)
    assert alice.message("Still here.").status_code == 201
    console.sync(portal.url)
    assert console.show(case)["warnings"] == []
    config = alice.config()
    resolved = crypto.resolve_oversight_keys(
        crypto.b64u_decode(config["oversight_public_key"]),
        crypto.b64u_decode(config["oversight_sign_key"]),
        [
            crypto.parse_rollover(
                r["statement"].encode(),
                crypto.b64u_decode(r["old_signature"]),
                crypto.b64u_decode(r["new_signature"]),
            )
            for r in config["oversight_rollovers"]
        ],
        pinned=old,  # a client that pinned the keys before the rotation follows them
    )
    entries = [crypto.Entry.from_json(i) for i in alice.thread()["items"]]
    check = crypto.check_thread(
        entries,
        case_key=bytes(alice.keys.box_pk),
        reporter_key=bytes(alice.keys.sign_pk),
        oversight=resolved.keys,
    )
    assert check.ok
    assert check.state == "in_review"


def v1_case(portal: Portal) -> tuple[str, crypto.ReporterKeys]:
    client = portal.client()
    keys = portal.derive(crypto.generate_receipt())
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    answer = client.post("/api/v1/reports", json=submission(keys, sealed, []))
    assert answer.status_code == 201
    return str(answer.json()["case"]), keys


def test_a_key_proof_establishes_the_reporters_key_in_a_case_filed_under_v1(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    case, keys = v1_case(portal)
    console.sync(portal.url)
    assert console.show(case)["signed"] is False
    bob = Reporter(portal.client(), keys, portal.clock, case=case)
    oversight = bytes(portal.oversight.public_key)
    proof = crypto.make_key_proof(keys.box, bytes(keys.sign_pk), oversight)
    with_proof = {
        "reply_sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
        "key_proof": crypto.b64u_encode(proof),
    }
    assert bob.message("My first signed message.", **with_proof).status_code == 201
    console.sync(portal.url)
    shown = console.show(case)
    assert shown["signed"] is True
    assert [(m["kind"], m["text"]) for m in shown["messages"]][1:] == [
        ("message", "My first signed message.")
    ]
    # A proof for another key cannot be made without the case's box key: the portal's
    # database writer signs with a key of its own, and offers a proof made up.
    forger = crypto.SigningKey.generate()
    made_up = {
        "reply_sign_pk": crypto.b64u_encode(bytes(forger.verify_key)),
        "key_proof": crypto.b64u_encode(secrets.token_bytes(32)),
    }
    document = {
        "v": 2,
        "type": "message",
        "case_key": crypto.b64u_encode(bytes(keys.box_pk)),
        "text": "I withdraw everything.",
        "sent_on": "2026-11-28",
        **made_up,
    }
    sealed, item = crypto.seal_item(document, portal.oversight.public_key, forger, after=bob.head())
    with portal.app.state.sessions() as session:
        session.add(
            PortalItem(
                id=crypto.b64u_encode(secrets.token_bytes(12)), case_id=case, kind="message",
                sealed=sealed, on=datetime.date(2026, 11, 28), signed=item.signed,
                signature=item.signature, chain_seq=item.header.seq,
            )
        )  # fmt: skip
        session.commit()
    console.sync(portal.url)
    texts = [m["text"] for m in console.show(case)["messages"]]
    assert "I withdraw everything." not in texts
    actions = [e["action"] for e in console.audit_entries() if e.get("case") == case]
    assert "forgery attempt" in actions


def test_the_console_vouches_for_the_v1_history_it_really_has(
    pair: tuple[Portal, Console],
) -> None:
    """A case from before v2: its v1 report and a v1 reply the console sent. At its first
    push under v2 the console sends a status item whose `history` names them (§17.1), so
    the reporter's client shows them; a v1 reply the portal's database writer adds is not
    in it, and is never shown as from the oversight body."""
    portal, console = pair
    case, keys = v1_case(portal)
    with console.sessions() as session:  # a console that synced before it spoke v2
        set_state(session, "vouched_for_history", "never")
        session.commit()
    console.sync(portal.url)
    sent = crypto.seal_document(
        {"v": 1, "type": "reply", "text": "A reply from before v2.", "sent_on": "2026-01-05"},
        keys.box_pk,
    )
    forged = crypto.seal_document(
        {"v": 1, "type": "reply", "text": "Your name and cell, please.", "sent_on": "2026-01-06"},
        keys.box_pk,
    )
    with portal.app.state.sessions() as session:
        for sealed in (sent, forged):
            session.add(
                PortalItem(
                    id=crypto.b64u_encode(secrets.token_bytes(12)), case_id=case, kind="reply",
                    sealed=sealed, on=datetime.date(2026, 1, 5),
                )
            )  # fmt: skip
        session.commit()
    with console.sessions() as session:  # as the console sent it, before v2
        body = {"case": case, "sealed": crypto.b64u_encode(sent)}
        session.add(
            Outgoing(
                case_id=case, kind="reply", payload=console._seal(body),
                sent_on=datetime.date(2026, 1, 5),
            )
        )  # fmt: skip
        from triage.db import State

        session.query(State).filter(State.key == "vouched_for_history").delete()
        session.commit()
    report = console.sync(portal.url)
    assert report.pushed == 1  # the status item that vouches for the history
    bob = Reporter(portal.client(), keys, portal.clock, case=case)
    check = bob.check()
    assert check.verdicts == ("vouched", "vouched", "unvouched", "ok")
    assert [f.kind for f in check.findings] == ["unvouched"]
    assert check.state == "received"
    history = crypto.open_document(
        crypto.b64u_decode(bob.thread()["items"][-1]["sealed"]), keys.box, versions=(2,)
    )["history"]
    assert history["replies"] == [hashlib.sha256(sent).hexdigest()]
    actions = [e["action"] for e in console.audit_entries()]
    assert "vouch for history" in actions
