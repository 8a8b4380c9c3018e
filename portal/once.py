"""A form can be sent once: a reload or a double click never files a second report.

With JavaScript off, reloading the receipt page makes the browser post the report form
again, and pressing "Send" twice posts it twice. So every page whose form creates
something (the staff and third-party report, the follow-up message, the kiosk's last
screen) carries a one-time value (`issue`): 16 random bytes and the day the page was
made, sealed under the portal's secret so that it can be neither forged nor backdated.

When the report or message is stored, BLAKE2b of the random bytes is stored with the
*day* in `sent_forms`, in the same transaction and under a unique key
(`store.create_case`, `store.add_message`): a crash cannot keep one without the other,
and of two requests carrying the same page only the first is stored. The same page sent
again is answered 409 with `already_sent.html`, which says so without the first receipt
(the portal does not have it). `refuse_if_sent` looks before any Argon2id work or file
storage; the unique key settles requests that arrive together.

Rows are purged after `KEEP_DAYS` (`purge.py`). A page older than that is never taken as
it stands (`FormTooOld`: the form comes back filled in), so a purged row cannot let its
page through again. A form without the value (a page from before it existed, or a
client that is not a browser) is accepted without this protection.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import crypto
from foundation.errors import BadRequest
from foundation.languages import N_
from foundation.tokens import open_token, purpose_key, seal_token

from . import store
from .errors import AlreadySent
from .pages import in_session, render, today

__all__ = [
    "FIELD",
    "FORM_TOO_OLD",
    "KEEP_DAYS",
    "AlreadySent",
    "FormTooOld",
    "Ticket",
    "already_sent_page",
    "check",
    "issue",
    "read",
    "refuse_if_sent",
]

#: The hidden field (or, at the kiosk, the key in the sealed answers) that carries it.
FIELD = "once"
#: How long a page can be sent, and how long a sent page is remembered.
KEEP_DAYS = 7
FORM_TOO_OLD = N_(
    "This page was opened more than a week ago, so it was not sent. "
    "Check what you wrote, then send it again."
)


class FormTooOld(Exception):
    """The page was made more than `KEEP_DAYS` ago: show the form again, filled in."""


@dataclass(frozen=True)
class Ticket:
    """A page's one-time value, opened: what is stored, and the day the page was made."""

    digest: bytes
    issued_on: datetime.date


def _key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings.secret.reveal(), "send-once")


def _digest(nonce: bytes) -> bytes:
    return hashlib.blake2b(b"lanthorn/portal/sent-form" + nonce, digest_size=32).digest()


def issue(request: Request) -> str:
    """A new one-time value for a page's form."""
    value = {"n": crypto.b64u_encode(secrets.token_bytes(16)), "d": today(request).isoformat()}
    return seal_token(_key(request), value)


def read(request: Request, value: object) -> Ticket | None:
    """The ticket a form carried; None if it carried none. 400 for one the portal did
    not make (no browser sends that)."""
    if value is None or value == "":
        return None
    opened = open_token(_key(request), value)
    try:
        nonce = crypto.b64u_decode(opened["n"], length=16)
        issued_on = datetime.date.fromisoformat(opened["d"])
    except (TypeError, KeyError, ValueError, crypto.CryptoError):
        raise BadRequest(
            "This form could not be read. Go back, reload the page and send it again."
        ) from None
    return Ticket(_digest(nonce), issued_on)


async def refuse_if_sent(request: Request, ticket: Ticket | None) -> None:
    """409 `AlreadySent` if this page's form was sent before (one indexed lookup)."""
    if ticket is not None and await in_session(request, store.form_was_sent, ticket.digest):
        raise AlreadySent("This form was sent before.")


async def check(request: Request, ticket: Ticket | None) -> None:
    """Before the costly work: `FormTooOld` for an old page, 409 for a page already sent."""
    if ticket is None:
        return
    if (today(request) - ticket.issued_on).days > KEEP_DAYS:
        raise FormTooOld
    await refuse_if_sent(request, ticket)


def already_sent_page(request: Request, context: dict[str, Any]) -> Response:
    """409: what the reporter sent is stored; the receipt is not shown again.

    `context`: `what` ("report" or "message"), and `channel` for a report, so that the
    page offers a new report of the same kind.
    """
    return render(request, "already_sent.html", context, status=409)
