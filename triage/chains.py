"""Each case's signed chain as this console holds it (docs/protocol.md §16–§17): checked
after new items arrive, with every gap, fork, item out of order or portal whose thread
ends elsewhere kept on the case and audited; and the history of v1 items the console
vouches for when it first speaks v2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto

from . import replies
from .db import (
    Case,
    CaseEvent,
    Finding,
    Header,
    Item,
    Outgoing,
    get_state,
    set_state,
)

if TYPE_CHECKING:
    from .console import Console


def v1_history(console: Console, session: Session, case_id: str) -> crypto.History:
    """What this console vouches for of a case's v1 items (§17.1): the SHA-256 of the
    sealed text of each v1 reply it sent, and the portal id of each report and
    message it received without a signed header."""
    replies = set()
    for outgoing in session.scalars(
        select(Outgoing).where(
            Outgoing.case_id == case_id,
            Outgoing.kind.in_(("reply", "outcome")),
            Outgoing.sent_on.is_not(None),
        )
    ):
        sealed = console._open(outgoing.payload).get("sealed")
        if isinstance(sealed, str):  # sent before v2, as a v1 reply
            replies.add(hashlib.sha256(crypto.b64u_decode(sealed)).digest())
    signed = select(Header.item_id).where(Header.case_id == case_id, Header.item_id.is_not(None))
    received = set(
        session.scalars(
            select(Item.id).where(
                Item.case_id == case_id,
                Item.kind.in_(("report", "message", "unsigned")),
                Item.id.not_in(signed),
            )
        )
    )
    return crypto.History(frozenset(replies), frozenset(received))


def chain(console: Console, session: Session, case: Case) -> crypto.ThreadCheck:
    """The case's chain as this console holds it: every header it received and
    verified, and every one it signed, in the order it got them (§16.2)."""
    rows = session.scalars(
        select(Header).where(Header.case_id == case.id).order_by(Header.seq)
    ).all()
    return crypto.check_thread(
        [crypto.Entry(signed=bytes(r.signed), signature=bytes(r.signature)) for r in rows],
        case_key=case.reply_box_pk,
        reporter_key=case.reply_sign_pk or bytes(32),
        oversight=console.keys.generations,
    )


def check_chains(console: Console, case_ids: Iterable[str]) -> None:
    """Check each case's chain after new items arrived; record and audit each gap,
    fork or item out of order not recorded before (§16.3)."""
    for case_id in sorted(case_ids):
        with console.sessions() as session:
            case = console._case(session, case_id)
            check = chain(console, session, case)
            for finding in check.findings:
                if finding.kind in ("gap", "fork", "out_of_order"):
                    _record_finding(
                        console, session, case_id, finding.kind, finding.seq, finding.until
                    )
            session.commit()


def _record_finding(
    console: Console,
    session: Session,
    case_id: str,
    kind: str,
    seq: int | None,
    until: int | None = None,
) -> None:
    """Keep a finding on the case, and audit it, unless it is known already."""
    known = select(Finding.seq).where(
        Finding.case_id == case_id,
        Finding.kind == kind,
        Finding.chain_seq.is_(None) if seq is None else Finding.chain_seq == seq,
        Finding.until.is_(None) if until is None else Finding.until == until,
    )
    if session.scalar(known.limit(1)) is not None:
        return
    session.add(
        Finding(case_id=case_id, kind=kind, chain_seq=seq, until=until, on=console._today())
    )
    detail: dict[str, Any] = {"kind": kind, "seq": seq}
    if until is not None:
        detail["until"] = until
    console.audit(session, "thread finding", case_id, **detail)


def moved_on(console: Console, session: Session, case_id: str, head: object) -> None:
    """The portal's chain for the case ends at an item this console neither wrote
    nor received (a forged item, most likely), or the portal lost items it holds."""
    seq = head.get("seq") if isinstance(head, dict) else None
    ours = chain(console, session, console._case(session, case_id)).head
    behind = isinstance(seq, int) and ours is not None and seq < ours.seq
    _record_finding(
        console,
        session,
        case_id,
        "portal_behind" if behind else "unknown_head",
        seq if isinstance(seq, int) else None,
    )
    session.commit()


def vouch_for_history(console: Console) -> None:
    """Once, when this console first speaks v2: queue a status item (restating the
    state the reporter sees) for every case with items from before v2 and no signed
    item of this console's yet, so that it vouches for its history (§17.1)."""
    with console.sessions() as session:
        if get_state(session, "vouched_for_history") is not None:
            return
        signed = select(Header.case_id).where(Header.kind.in_(crypto.OVERSIGHT_KINDS))
        purged = select(CaseEvent.case_id).where(CaseEvent.kind == "purged")
        cases = session.scalars(
            select(Case).where(Case.id.not_in(signed), Case.id.not_in(purged))
        ).all()
        queued = 0
        for case in cases:
            history = v1_history(console, session, case.id)
            if history.replies or history.received:
                replies.queue(console, session, case.id, "status", "", case.public_status)
                queued += 1
        set_state(session, "vouched_for_history", console._today().isoformat())
        if queued:
            console.audit(session, "vouch for history", cases=queued)
        session.commit()
