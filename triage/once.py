"""One-time values on the console's action forms: an action sent twice is done once.

Every action form carries a random `once` value. The action records it as spent in the
transaction that writes the action's audit entry (every action writes one), so that the
action and the record of its form stand or fall together, whichever of two requests
racing with the same form gets there first. The same form sent again — the browser's
"resend", a double click, a copy of the tab — finds its value spent and does nothing.

Kept per spent value: a hash of the value; a keyed hash of the form's fields, to tell a
resend (the same fields) from a form sent again with other words, which are then shown
back to the officer rather than dropped; the form's name; who; and when.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from foundation.errors import BadRequest

from .db import SpentForm

if TYPE_CHECKING:  # pragma: no cover
    from .console import Console

FIELD = "once"
ALREADY_DONE = "This was already done."
CHANGED = (
    "This form had already been sent, with other words, and that was done. What you "
    "typed now is kept below: check the page, and send it again if it is still needed."
)
_INSERT = insert(SpentForm)
_VALUE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class Spent(Exception):  # noqa: N818 - a state, like StopIteration
    """The form's value was spent by an earlier request."""


class AlreadyDone(Spent):
    """… by the very same form: it was sent again."""


class Changed(Spent):
    """… by the same form with other fields (the page was kept, and edited)."""


@dataclass
class Ticket:
    """A form's one-time value, while its action runs."""

    digest: bytes
    body: bytes
    form: str
    officer: str
    spent: bool = False


def new_value() -> str:
    """A fresh value for a form being rendered."""
    return secrets.token_urlsafe(18)


def ticket(console: Console, fields: dict[str, str], form: str) -> Ticket:
    """The ticket for a posted form; 400 if it carries no one-time value (a page from
    before the console was upgraded, or not from the console at all)."""
    value = fields.get(FIELD, "")
    if not _VALUE.fullmatch(value):
        raise BadRequest("This form is out of date: reload the page and send it again.")
    digest = hashlib.blake2b(value.encode(), digest_size=32, person=b"lanthorn-once").digest()
    said = json.dumps(sorted((k, v) for k, v in fields.items() if k != "csrf"))
    body = hmac.new(console.keys.subkey("forms"), said.encode(), hashlib.sha256).digest()
    return Ticket(digest, body, form[:40], console.who[:80])


def _raise_if_spent(session: Session, ticket: Ticket) -> None:
    row = session.get(SpentForm, ticket.digest)
    if row is None:
        return
    if hmac.compare_digest(bytes(row.body), ticket.body):
        raise AlreadyDone
    raise Changed


def check(console: Console, ticket: Ticket) -> None:
    """Before acting: raise `AlreadyDone` or `Changed` if the form was used already."""
    with console.sessions() as session:
        _raise_if_spent(session, ticket)


def spend(session: Session, ticket: Ticket, at: int) -> None:
    """Record the value as spent, in the caller's transaction; raise if it already is.

    Called by `Console.audit_many`, holding the audit log's lock, so that of two requests
    with one form the second sees the first's row; the primary key settles any other race."""
    _raise_if_spent(session, ticket)
    row = {"digest": ticket.digest, "body": ticket.body, "form": ticket.form}
    try:  # written now, not at the next flush: the action's commit carries it
        session.connection().execute(_INSERT, {**row, "officer": ticket.officer, "at": at})
    except IntegrityError:  # the whole transaction, action included, is rolled back
        raise AlreadyDone from None
    ticket.spent = True


def finish(console: Console) -> None:
    """After an action that wrote no audit entry (nothing needed changing): spend the
    value now, so that sending the form again still says it was done."""
    ticket = console.ticket
    if ticket is None or ticket.spent:
        return
    with console.sessions() as session:
        spend(session, ticket, int(console.clock()))
        session.commit()
