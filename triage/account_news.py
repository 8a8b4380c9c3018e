"""What changed in the console's accounts since an officer last signed in (issue 17).

Whoever makes, raises, refuses or locks an account, every officer hears of it at their
next sign-in: a stolen admin account that asks for a new triage officer, or a second
admin who approves one, is seen by the people it would hurt, not only by whoever reads
the audit log. The list is read from the audit log itself, so it cannot differ from what
the log says: the entries about accounts after the officer's own previous "login" entry.
An officer's first sign-in has no previous one, and hears nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .db import AuditRow

#: The audit actions that change who may do what in the console, and how each reads.
ACCOUNT_CHANGES: dict[str, str] = {
    "add officer": "{who} added {officer} as {role}",
    "ask to add officer": "{who} asked to add {officer} as {role}",
    "ask to change role": "{who} asked to make {officer} {role}",
    "approve officer": "{who} approved {officer} as {role}",
    "approve role": "{who} approved {officer} as {role}",
    "refuse officer": "{who} refused to add {officer}",
    "refuse role": "{who} refused the new role for {officer}",
    "deactivate officer": "{who} deactivated {officer}",
    "sign-in locked": "{officer}'s sign-in was locked after failed attempts",
    "unlock officer": "{who} unlocked {officer}",
}
#: At most this many are listed; the rest are counted.
SHOWN = 8


def _pattern(text: str) -> str:
    """`text` for a LIKE pattern, its wildcards escaped (with `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has(fragment: str) -> Any:
    return AuditRow.entry.like(f"%{_pattern(fragment)}%", escape="\\")


def since_last_sign_in(session: Session, username: str) -> list[dict[str, Any]]:
    """The account entries after `username`'s last "login" entry, oldest first; none if
    they never signed in. Call it before this sign-in's own entry is written."""
    last = session.scalar(
        select(AuditRow.seq)
        .where(
            _has('"action":"login"'),
            _has(f'"who":{json.dumps("officer:" + username, ensure_ascii=False)}'),
        )
        .order_by(AuditRow.seq.desc())
        .limit(1)
    )
    if last is None:
        return []
    actions = or_(*(_has(f'"action":{json.dumps(a)}') for a in ACCOUNT_CHANGES))
    rows = session.scalars(
        select(AuditRow.entry).where(and_(AuditRow.seq > last, actions)).order_by(AuditRow.seq)
    )
    entries = [json.loads(row) for row in rows]
    return [e for e in entries if e.get("action") in ACCOUNT_CHANGES]


def _line(entry: dict[str, Any]) -> str:
    who = str(entry.get("who", "someone")).removeprefix("officer:")
    words = ACCOUNT_CHANGES[entry["action"]].format(
        who=who,
        officer=entry.get("officer", "an officer"),
        role=entry.get("role") or "a new role",
    )
    return f"{words} ({str(entry.get('at', ''))[:10]})"


def summary(entries: list[dict[str, Any]]) -> str:
    """One sentence for the page an officer lands on, or "" when nothing changed."""
    if not entries:
        return ""
    lines = [_line(e) for e in entries[-SHOWN:]]
    more = len(entries) - len(lines)
    earlier = f"; and {more} earlier, in the audit log" if more else ""
    count = f"{len(entries)} change{'s' if len(entries) != 1 else ''}"
    return f"Accounts since you last signed in ({count}): " + "; ".join(lines) + earlier + "."
