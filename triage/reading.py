"""Reading cases: the list, and one case decrypted (report, messages, replies, files,
deadlines and what is wrong with its conversation). Every read is audited; what the
reporter disclosed about who they are is withheld unless asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import case_steps, labels
from .db import (
    Case,
    Finding,
    Item,
    SetAside,
)

if TYPE_CHECKING:
    from .console import Console


def cases(console: Console, limit: int | None = None) -> list[dict[str, Any]]:
    """Every case (or the first `limit`), urgent first, then newest first."""
    with console.sessions() as session:
        rows = session.scalars(
            select(Case).order_by(Case.urgent.desc(), Case.received_on.desc(), Case.id).limit(limit)
        ).all()
        console.audit(session, "list cases")
        session.commit()
        return [case_summary(case) for case in rows]


def show(console: Console, case_id: str, *, reveal_identity: bool = False) -> dict[str, Any]:
    """The case, decrypted: report, messages and replies in order.

    What the reporter disclosed about who they are stays "withheld" unless asked for,
    and asking is its own audit entry.
    """
    with console.sessions() as session:
        case = console._case(session, case_id)
        items = session.scalars(
            select(Item).where(Item.case_id == case.id).order_by(Item.seq)
        ).all()
        console.audit(session, "view", case.id)
        if reveal_identity:
            console.audit(session, "reveal identity", case.id)
        found = case_steps.case_deadlines(console, session, case)
        warnings = _warnings(console, session, case.id)
        session.commit()
        opened = [(item, console._open(item.content)) for item in items]
    sealed: dict[str, Any] = next((c for i, c in opened if i.kind == "report"), {})
    report: dict[str, Any] = sealed.get("document", {})
    thread = [
        {
            "kind": item.kind,
            "on": item.on.isoformat(),
            "seq": item.seq,
            "at": item.at,
            "by": content["document"].get("by"),  # a reply's author, since 0015
            "text": content["document"].get("text", content["document"].get("description")),
            "files": [
                {
                    "name": d["name"],
                    "size": d["size"],
                    "mime": d.get("mime", ""),
                    "sha256": d.get("sha256", ""),
                    "blob_id": d["blob_id"],
                    "state": content["files"][d["blob_id"]],
                }
                for d in content["document"].get("attachments", [])
            ]
            if "files" in content
            else [],
        }
        for item, content in opened
    ]
    return {
        **case_summary(case),
        "description": report.get("description", ""),
        "location": report.get("location", ""),
        "occurred": report.get("occurred", ""),
        "subjects": report.get("subjects", ""),
        "witnesses": report.get("witnesses", ""),
        "channel": report.get("channel", ""),
        "lang": report.get("lang", ""),
        # What a kiosk's "Today" meant: the day the report reached the portal.
        "reached_portal_on": labels.sent_day(sealed, case.received_on).isoformat(),
        "identity": (report.get("identity") if reveal_identity else "withheld")
        if report.get("identity")
        else None,
        "reply_key_mismatch": case.portal_box_pk != case.reply_box_pk,
        # The portal checks the reporter's requests with a key other than the one the
        # report names: it (or whoever wrote its database) could act as the reporter.
        "sign_key_mismatch": case.reply_sign_pk is not None
        and case.portal_sign_pk != case.reply_sign_pk,
        "signed": case.reply_sign_pk is not None,
        "warnings": warnings,
        "reported_category": report.get("category", ""),
        "severity": case.severity,
        "outcome": case.outcome,
        "closed_on": case.closed_on.isoformat() if case.closed_on else None,
        "deadlines": {d.name: d.as_json() for d in found},
        "messages": thread,
        # Set once retention.purge_expired has replaced the content with a tombstone.
        "purged_on": next((c["purged_on"] for _, c in opened if "purged_on" in c), None),
    }


def _warnings(console: Console, session: Session, case_id: str) -> list[dict[str, Any]]:
    """What is wrong with the case's conversation, oldest first: each item set aside
    (a forgery attempt, an item of another case, a copy sent again, a second report)
    and each finding about its chain (a gap, a fork, an item out of order, a portal
    whose thread ends at an item this console does not know)."""
    found: list[dict[str, Any]] = [
        {"on": row.on, "kind": "set_aside", "reason": row.reason}
        for row in session.scalars(
            select(SetAside).where(SetAside.case_id == case_id).order_by(SetAside.on)
        )
    ]
    found += [
        {"on": row.on, "kind": row.kind, "seq": row.chain_seq, "until": row.until}
        for row in session.scalars(
            select(Finding).where(Finding.case_id == case_id).order_by(Finding.seq)
        )
    ]
    return sorted(found, key=lambda w: w["on"])


def set_aside_items(console: Console) -> list[dict[str, str]]:
    with console.sessions() as session:
        rows = session.scalars(select(SetAside)).all()
        return [{"id": r.id, "case": r.case_id, "reason": r.reason} for r in rows]


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "case": case.id,
        "status": case.public_status,
        "workflow": case.workflow,
        "category": case.category,
        "facility": case.facility,
        "urgent": case.urgent,
        "received_on": case.received_on.isoformat(),
    }
