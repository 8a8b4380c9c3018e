"""What goes to the reporter: replies, public status changes and the outcome notice.

Each is queued here in the officer's transaction, then sealed to the reporter's own key
and signed when it is sent (`push_to`), after the case's chain as it stands then
(docs/protocol.md §16.1). One the portal refuses waits with the rest of its case's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto

from . import chains, signed_items
from .client import PortalClient, PortalError
from .db import (
    Case,
    CaseEvent,
    Header,
    Item,
    Outgoing,
    get_state,
)
from .keys import reload_keys
from .settings import ConsoleError

if TYPE_CHECKING:
    from .console import Console

PUBLIC_STATES = ("acknowledged", "in_review", "action_taken", "closed")


def reply(console: Console, case_id: str, message: str, *, feedback: bool = False) -> None:
    """Queue a reply to the reporter; it is sealed to the reporter's own key (from
    the report) and signed when it is sent.

    `feedback`: the reply tells the reporter what was done (the 3-month deadline)."""
    with console.sessions() as session:
        case = console._case(session, case_id)
        # A reply acknowledges the report: the status the reporter sees and the
        # 7-day deadline (met by a reply, triage/workflow.py) must agree. The reply
        # itself carries the new state (one signed item, not two).
        state = "acknowledged" if case.public_status == "received" else None
        reply_item(console, session, case_id, message, kind="reply", state=state)
        if state is not None:
            if case.workflow == "new":
                case.workflow = "acknowledged"
            case.public_status = state
        console._event(session, case_id, "feedback" if feedback else "reply")
        console.audit(session, "reply", case_id, feedback=feedback)
        session.commit()


def reply_item(
    console: Console, session: Session, case_id: str, message: str, *, kind: str, state: str | None
) -> None:
    if not message.strip():
        raise ConsoleError("the reply is empty")
    case = console._case(session, case_id)
    purged = select(CaseEvent.seq).where(CaseEvent.case_id == case_id, CaseEvent.kind == "purged")
    if session.scalar(purged.limit(1)) is not None:
        raise ConsoleError("this case was purged at the end of its retention period")
    document = {"type": kind, "text": message, "sent_on": console._today().isoformat()}
    document["by"] = console.who  # kept here only, for the timeline; never sent
    item_id = "reply-" + secrets.token_hex(8)
    session.add(
        Item(
            id=item_id,
            case_id=case.id,
            kind="reply",
            content=console._seal({"document": document}),
            on=console._today(),
            at=int(console.clock() * 1000),
        )
    )
    queue(console, session, case.id, kind, message, state, item_id)


def queue(
    console: Console,
    session: Session,
    case_id: str,
    kind: str,
    text: str,
    state: str | None,
    item_id: str | None = None,
) -> None:
    """Queue an item for the portal. It is sealed and signed only when it is sent
    (`_push`), after whatever the chain holds by then (docs/protocol.md §16.1)."""
    body = {"case": case_id, "text": text, "state": state}
    session.add(Outgoing(case_id=case_id, kind=kind, payload=console._seal(body), item_id=item_id))


def set_public_status(console: Console, case_id: str, state: str) -> None:
    if state not in PUBLIC_STATES:
        raise ConsoleError(f"unknown status {state!r}: use one of {', '.join(PUBLIC_STATES)}")
    with console.sessions() as session:
        set_status(console, session, console._case(session, case_id), state)
        if state == "acknowledged":
            console._event(session, case_id, "acknowledged")
        console._event(session, case_id, "status", {"state": state})
        console.audit(session, "status", case_id, state=state)
        session.commit()


def set_status(console: Console, session: Session, case: Case, state: str) -> None:
    case.public_status = state
    queue(console, session, case.id, "status", "", state)


def push(console: Console) -> tuple[int, int]:
    """Send queued replies and status changes to the portal of the last sync."""
    with console.sessions() as session:
        url = get_state(session, "portal_url")
    if url is None:
        return 0, _queued(console)
    with PortalClient(url, console.keys.console, console.clock) as portal:
        return push_to(console, portal)


def _queued(console: Console) -> int:
    with console.sessions() as session:
        return len(session.scalars(select(Outgoing.seq).where(Outgoing.sent_on.is_(None))).all())


def push_to(
    console: Console, portal: PortalClient, pull: Callable[[], object] | None = None
) -> tuple[int, int]:
    """Send queued items in order, each sealed and signed now, after the case's chain
    as this console holds it; return (sent, still queued).

    One the portal refuses (a case it does not know, say) stays queued with the rest
    of its case's, in order, and the other cases' go on. If the portal cannot be
    reached, or refuses the console itself, everything waits for the next sync.

    A 409 `thread_moved_on` says the portal's chain ends elsewhere than this
    console's. During a sync (`pull` given), the outbox is read once more, for a
    message that arrived a moment ago, and the item signed again; if the portal's
    head is still one this console neither wrote nor received, that is shown on the
    case and audited, and the case's items wait."""
    newer = reload_keys(console.settings, console.keys)
    if newer is not None:  # rotated by another process: sign with the new key
        console.keys = newer
    chains.vouch_for_history(console)
    console.held_because = None
    pushed = 0
    held: set[str] = set()  # cases whose earlier item was refused: keep their order
    pulled = False
    with console.sessions() as session:
        queue = session.scalars(
            select(Outgoing).where(Outgoing.sent_on.is_(None)).order_by(Outgoing.seq)
        ).all()
        for outgoing in queue:
            if outgoing.case_id in held:
                continue
            try:
                try:
                    signed = _send(console, session, portal, outgoing)
                except PortalError as exc:
                    if exc.code != "thread_moved_on" or pull is None or pulled:
                        raise
                    pulled = True
                    pull()  # a message may have arrived since the outbox was read
                    signed = _send(console, session, portal, outgoing)
            except PortalError as exc:
                if exc.code == "thread_moved_on":
                    if pull is not None:
                        chains.moved_on(console, session, outgoing.case_id, exc.body.get("head"))
                    held.add(outgoing.case_id)
                    continue
                if exc.code == "bad_item" and _portal_keys_differ(console, session, portal):
                    break  # none would be taken: all wait for the portal's new keys
                if exc.refused_this_request:
                    held.add(outgoing.case_id)
                    continue
                break  # keep it, and everything after it, for the next sync
            except ConsoleError:
                held.add(outgoing.case_id)  # e.g. a case whose report key is unusable
                continue
            outgoing.sent_on = console._today()
            session.add(signed)
            if outgoing.kind == "outcome":
                console._event(session, outgoing.case_id, "outcome_notified")
            session.commit()
            pushed += 1
    return pushed, _queued(console)


def _send(console: Console, session: Session, portal: PortalClient, outgoing: Outgoing) -> Header:
    """Seal and sign a queued item after the case's chain as held now, and send it;
    return the header row to keep once it is sent."""
    case = console._case(session, outgoing.case_id)
    body = console._open(outgoing.payload)
    kind, text, state = outgoing.kind, body.get("text"), body.get("state")
    if kind == "status" and state is None:
        raise ConsoleError("a status change without a state")
    if text is None:  # queued before v2: the request body held the v1 sealed reply
        text = _queued_text(console, session, outgoing)
    if kind == "outcome":
        state = "closed"
    document: dict[str, Any] = {
        "v": 2,
        "type": kind,
        "case_key": crypto.b64u_encode(case.reply_box_pk),
        "text": text,
        "sent_on": console._today().isoformat(),
    }
    history = chains.v1_history(console, session, case.id)
    if history.replies or history.received:
        document["history"] = history.as_json()  # §17.1: what this console vouches for
    try:
        sealed, item = crypto.seal_item(
            document,
            crypto.PublicKey(case.reply_box_pk),
            console.keys.signing_key,
            after=chains.chain(console, session, case).head,
            state=state,
        )
    except (ValueError, crypto.CryptoError) as exc:  # an InvalidDocument, say
        raise ConsoleError(f"cannot seal this item: {exc}") from None
    portal.item({"case": case.id, "sealed": crypto.b64u_encode(sealed), **item.as_json()})
    return Header(
        case_id=case.id,
        kind=kind,
        item_id=outgoing.item_id,
        signed=item.signed,
        signature=item.signature,
        hash=item.hash,
        on=console._today(),
    )


def _portal_keys_differ(console: Console, session: Session, portal: PortalClient) -> bool:
    """After a signed item was refused: does the portal hold other oversight keys
    than this console's current ones? Between `triage rotate-key` and `portal
    set-oversight-key` it holds the retired ones, and says so; any other keys are
    not this console's (a portal whose configuration was altered), which is audited.
    Sets `held_because`."""
    try:
        served = portal.config()
    except PortalError:
        return False
    ours = console.keys.generations
    sign_pk = signed_items.key_or_none(served.get("oversight_sign_key"))
    box_pk = signed_items.key_or_none(served.get("oversight_public_key"))
    if (box_pk, sign_pk) == (ours.current.box_pk, ours.current.sign_pk):
        return False
    if any((box_pk, sign_pk) == (k.box_pk, k.sign_pk) for k in ours.keys[1:]):
        console.held_because = (
            "the portal still uses the oversight keys this console retired: give it "
            "the new public/oversight.json (lanthorn portal set-oversight-key) and "
            "restart it; replies and status changes wait here until then"
        )
        return True
    console.held_because = (
        "the portal serves oversight keys that are not this console's (fingerprint "
        f"{served.get('oversight_fingerprint', '?')}, this console's is "
        f"{ours.current.fingerprint}): its configuration may have been altered. "
        "Nothing is sent to it"
    )
    console.audit(
        session,
        "portal keys differ",
        served=str(served.get("oversight_fingerprint", ""))[:40],
        ours=ours.current.fingerprint,
    )
    session.commit()
    return True


def _queued_text(console: Console, session: Session, outgoing: Outgoing) -> str:
    """The text of a reply queued before v2, from the thread item it shows as."""
    if outgoing.item_id is not None:
        row = session.scalar(select(Item.content).where(Item.id == outgoing.item_id))
        if row is not None:
            return str(console._open(row).get("document", {}).get("text", ""))
    raise ConsoleError("a reply queued before protocol v2 whose text is not here")
