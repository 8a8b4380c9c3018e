"""Taking in one outbox item: open it with the oversight key, check it against what this
console knows of its case (triage/signed_items.py), fetch its files
(triage/fetching.py), and add it to the page's batch, or set it aside with the reason
and audit what the portal (or whoever wrote its database) tried.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

import crypto

from . import fetching, signed_items
from .client import PortalClient
from .db import (
    Case,
)
from .keys import reload_keys
from .outbox_page import TO_FETCH, Batch, CaseKeys, Seen, SyncReport

if TYPE_CHECKING:
    from .console import Console

#: How the audit log names each thing a portal may try that a sync sets aside.
ATTEMPTS = {
    "forged": "forgery attempt",
    "moved": "moved item",
    "replay": "replayed item",
    "second report": "second report",
}


def take(
    console: Console,
    portal: PortalClient,
    item: dict[str, Any],
    report: SyncReport,
    seen: Seen,
    batch: Batch,
) -> bool:
    """Open and check one outbox item, download its files, and add what is to be
    stored to `batch` (`_store` writes it). False while a file is still to fetch:
    the item must not be acknowledged yet."""
    item_id = str(item.get("id", ""))
    if item_id in seen.items:
        report.already += 1
        if item_id in seen.fetching:
            return fetching.fetch_again(console, portal, item_id, report)
        return True
    seen.items.add(item_id)
    try:
        sealed = crypto.b64u_decode(item.get("sealed", ""))
        document = _open_sealed(console, sealed)
    except crypto.CryptoError:
        _set_aside(
            console,
            item,
            "could not be opened with the oversight key: damaged, or sealed to another key",
            report,
            batch,
        )
        return True
    kind = item.get("kind")
    case_id = str(item.get("case", ""))
    case_here = case_id in seen.cases
    if document["type"] != kind:
        reason = f"the portal called it a {kind} but it is a {document['type']}"
        _set_aside(console, item, reason, report, batch)
        return True
    if kind == "message" and not case_here:
        reason = "a message for a case this console does not have"
        _set_aside(console, item, reason, report, batch)
        return True
    if kind == "report" and case_here:
        reason = "a second report for a case that already exists"
        _set_aside(console, item, reason, report, batch, attempt="second report")
        return True
    if kind == "report" and _case_key_taken(console, document, seen):
        reason = (
            "a second report for a case key another case already has: the same report "
            "filed again, so that items could be moved between the copies"
        )
        _set_aside(console, item, reason, report, batch, attempt="second report")
        return True
    header, problem = signed_items.verify(console, item, sealed, document, seen, batch)
    if problem is not None:
        _set_aside(console, item, problem[1], report, batch, attempt=problem[0])
        return True
    files = fetching.fetch_files(console, portal, document, item.get("blob_ids", []), report)
    today = console._today()
    stored_kind = "unsigned" if kind == "message" and header is None else kind
    if kind == "report":
        reply_box_pk = crypto.b64u_decode(document["reply_box_pk"], length=32)
        portal_sign_pk = signed_items.key_or_none(item.get("sign_pk"))
        reply_sign_pk = None if header is None else header.signer
        batch.cases.append(
            {
                "id": item["case"],
                # Kept unsealed, so in text columns: PostgreSQL refuses a NUL there,
                # and one report holding one would stop every sync.
                "category": document["category"].replace("\x00", "")[:40],
                "facility": document["facility"].replace("\x00", "")[:200],
                "urgent": bool(document["urgent"]),
                "lang": str(document.get("lang") or "").replace("\x00", "")[:16] or None,
                "received_on": today,
                "portal_box_pk": crypto.b64u_decode(item.get("box_pk", ""), length=32),
                "reply_box_pk": reply_box_pk,
                "reply_sign_pk": reply_sign_pk,
                "portal_sign_pk": portal_sign_pk,
                "workflow": "new",
                "public_status": "received",
            }
        )
        seen.keys[case_id] = CaseKeys(reply_box_pk, reply_sign_pk)
        if reply_sign_pk is not None and portal_sign_pk != reply_sign_pk:
            # The portal checks the reporter's requests with another key than the
            # one in the report: it (or whoever wrote its database) can act for them.
            batch.audit.append(("reporter key differs from the portal's", case_id, {}))
    content = {"document": document, "files": files, "portal_on": item.get("on")}
    batch.items.append(
        {
            "id": item_id,
            "case_id": item["case"],
            "kind": stored_kind,
            "content": console._seal(content),
            "on": today,
            "at": int(console.clock() * 1000),
        }
    )
    if header is not None:
        signed = str(item["signed"]).encode("ascii")
        digest = hashlib.sha256(signed).digest()
        seen.hashes.add(digest)
        batch.headers.append(
            {
                "case_id": case_id,
                "kind": kind,
                "item_id": item_id,
                "signed": signed,
                "signature": crypto.b64u_decode(item["signature"], length=64),
                "hash": digest,
                "on": today,
            }
        )
    batch.audit.append((f"received {stored_kind}", item["case"], {"signed": header is not None}))
    seen.cases.add(item["case"])
    report.taken += 1
    if any(state.startswith(TO_FETCH) for state in files.values()):
        batch.to_fetch.append({"item_id": item_id})
        return False
    return True


def _set_aside(
    console: Console,
    item: dict[str, Any],
    reason: str,
    report: SyncReport,
    batch: Batch,
    attempt: str | None = None,
) -> None:
    """Keep an item that is not taken in, with the reason, and audit it. `attempt`
    names what the portal (or whoever wrote its database) tried: "forged", "moved",
    "replay", "second report"; it is shown on the case as such."""
    case_id = str(item.get("case", ""))[:16]
    batch.set_aside.append(
        {
            "id": str(item.get("id", ""))[:40],
            "case_id": case_id,
            "kind": str(item.get("kind", ""))[:8],
            "reason": reason,
            "content": console._seal(item),
            "on": console._today(),
        }
    )
    action = ATTEMPTS.get(attempt or "", "set aside")
    batch.audit.append((action, case_id, {"reason": reason, "kind": str(item.get("kind"))}))
    report.set_aside.append(f"{item.get('id')}: {reason}")


def _open_sealed(console: Console, sealed: bytes) -> dict[str, Any]:
    """Open with the oversight key, then each previous one (`rotate-key` keeps them:
    a kiosk page loaded before a rotation still seals to the old key). If none opens
    it, `keys.sealed` is read again with the vault key held in memory, in case
    another process rotated the key since this console was unsealed."""
    try:
        return console.keys.open_document(sealed)
    except crypto.CryptoError:
        newer = reload_keys(console.settings, console.keys)
        if newer is None:
            raise
        console.keys = newer
        return newer.open_document(sealed)


def _case_key_taken(console: Console, document: dict[str, Any], seen: Seen) -> bool:
    """One case per case key (§16.4): another case already has this report's key."""
    key = crypto.b64u_decode(document["reply_box_pk"], length=32)
    if any(k.case_key == key for k in seen.keys.values()):
        return True
    with console.sessions() as session:
        return session.scalar(select(Case.id).where(Case.reply_box_pk == key)) is not None
