"""Every POST route of the portal and the console, and how to send its form.

The attack suites (fuzzing, CSRF) iterate over `PORTAL_FORMS` and `CONSOLE_FORMS`;
`test_every_post_route_is_attacked` derives the routes from the apps' own route tables
(and the case actions from the case page's forms), so a new route or action without an
entry here fails the suite instead of going unattacked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from starlette.routing import Route

from foundation.csrf import CSRF_COOKIE

Pairs = list[tuple[str, bytes]]
#: (field name, file name, content, content type)
Files = list[tuple[str, str, bytes, str]]


@dataclass(frozen=True)
class Form:
    """One form as a browser sends it: where, how encoded, and a valid set of fields."""

    path: str  # the route's path as in the route table, e.g. "/cases/{case}/{action}"
    purpose: str | None  # the CSRF purpose its token is minted for; None: API, no CSRF
    encoding: str  # "urlencoded", "multipart", or "api" (JSON or raw body, no CSRF)
    who: str  # who sends it: "anyone", "reporter" (portal); "anyone", "triage", "admin"
    valid: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # the {action} of a case action

    @property
    def target(self) -> str:
        return self.path.replace("{action}", self.action or "")

    @property
    def name(self) -> str:
        return self.target


PORTAL_FORMS = [
    Form("/report/{channel}", "report", "multipart", "anyone", {
        "category": "corruption", "urgent": "no", "facility": "HMP Example",
        "location": "B wing", "occurred": "Tuesday", "subjects": "", "witnesses": "",
        "description": "Money changes hands at visits.", "identity": "", "pending": "",
    }),
    Form("/receipt/check", "receipt-check", "urlencoded", "anyone",
         {"token": "", "typed": "", "kiosk": "", "lang": ""}),
    Form("/follow-up", "follow-up", "urlencoded", "anyone",
         {"receipt": "", "lookup_id": "", "box_sk": ""}),
    Form("/thread", "message", "multipart", "reporter", {"text": "One more thing."}),
    Form("/leave", "leave", "urlencoded", "reporter", {}),
    Form("/kiosk/answer", "kiosk", "urlencoded", "anyone",
         {"token": "", "step": "category", "answer": "corruption", "go": "", "lang": "",
          "text": ""}),
    Form("/kiosk/follow-up", "kiosk-follow-up", "urlencoded", "anyone",
         {"receipt": "", "lang": "pl"}),
    Form("/kiosk/write-back", "kiosk-write-back", "urlencoded", "anyone",
         {"token": "", "step": "write", "text": "Thank you.", "go": "send"}),
]  # fmt: skip

#: The JSON API's POST routes: no CSRF (no cookies), signed or public; attacked by
#: test_schemathesis.py, test_sealed_and_signed.py and test_bombs.py instead.
PORTAL_API = {
    "/api/v1/blobs",
    "/api/v1/reports",
    "/api/v1/thread/messages",
    "/api/v1/console/ack",
    "/api/v1/console/items",
}

_CASE = "/cases/{case}/{action}"
CONSOLE_FORMS = [
    Form("/unseal", "unseal", "urlencoded", "anyone",
         {"passphrase0": "amber lantern over the wing", "passphrase1": "wrong"}),
    Form("/login", "login", "urlencoded", "anyone",
         {"username": "tess", "password": "correct horse battery", "code": "000000"}),
    Form("/logout", "logout", "urlencoded", "triage", {}),
    Form("/enrol", "enrol", "urlencoded", "anyone",
         {"username": "nobody", "setup": "000000-000000", "enrolment": "", "password": "",
          "code": ""}),
    Form("/cases/{case}/referral", "case-referral", "urlencoded", "triage",
         {"unit": "police_liaison", "reason": "for the police", "passages": "",
          "originals": ""}),
    Form(_CASE, "case-reveal", "urlencoded", "triage", {}, "reveal"),
    Form(_CASE, "case-ask", "urlencoded", "triage", {"reason": "to call them back"}, "ask"),
    Form("/custody", "custody", "urlencoded", "custodian",
         {"request": "1", "decision": "refuse", "answer": "not needed"}),
    Form(_CASE, "case-reply", "urlencoded", "triage",
         {"text": "We have read it.", "feedback": ""}, "reply"),
    Form(_CASE, "case-acknowledge", "urlencoded", "triage", {}, "acknowledge"),
    Form(_CASE, "case-assess", "urlencoded", "triage",
         {"category": "corruption", "severity": "high", "urgent": "yes", "reason": "r"},
         "assess"),
    Form(_CASE, "case-concern", "urlencoded", "triage",
         {"kind": "person", "name": "Officer on nights"}, "concern"),
    Form(_CASE, "case-record", "urlencoded", "triage", {"what": "police_contacted"}, "record"),
    Form(_CASE, "case-close", "urlencoded", "triage",
         {"outcome": "unfounded", "summary": "s", "feedback": "f"}, "close"),
    Form(_CASE, "case-status", "urlencoded", "triage", {"state": "in_review"}, "status"),
    Form(_CASE, "case-route", "urlencoded", "triage",
         {"unit": "police_liaison", "reason": "sexual offence"}, "route"),
    Form(_CASE, "case-note", "urlencoded", "triage", {"text": "Called the wing."}, "note"),
    Form("/templates", "templates", "urlencoded", "triage",
         {"lang": "pl", "title": "Acknowledgement", "text": "Dziękujemy.", "id": "",
          "delete": ""}),
    Form("/sync", "sync", "urlencoded", "triage", {}),
    Form("/cases/bulk", "cases-bulk", "urlencoded", "triage",
         {"action": "assign", "assignee": "tess", "back": "/cases?assignee=-",
          "pick-NOSUCHCASE": "yes"}),
    Form("/officers", "officers", "urlencoded", "admin",
         {"username": "nell", "role": "triage", "unit": "", "deactivate": "", "ask": "add",
          "change": "", "request": "", "decision": ""}),
    Form("/officers/unlock", "unlock", "urlencoded", "admin", {"username": "tess"}),
    Form("/units", "units", "urlencoded", "admin",
         {"action": "add", "unit": "chaplaincy", "name": "Chaplaincy"}),
    Form("/units/routing", "routing", "urlencoded", "admin",
         {"category": "other", "unit0": "governor", "unit1": "", "unit2": "", "unit3": ""}),
    Form("/notifications", "notifications", "urlencoded", "triage",
         {"action": "save", "address": "tess@oversight.example", "key": "",
          "new_reports": "yes", "urgent_reports": "", "deadlines": ""}),
]  # fmt: skip


def post_routes(routes: Iterable[Any]) -> set[str]:
    """The paths of every route in a Starlette route table that accepts POST."""
    return {r.path for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())}


_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def form_actions(page: str) -> set[str]:
    return set(_FORM_ACTION.findall(page))


def mint(app: Any, client: httpx.Client, purpose: str) -> str:
    """The CSRF token `app` puts in its `purpose` form for `client`'s CSRF cookie."""
    cookie = client.cookies.get(CSRF_COOKIE)
    assert cookie, "the client has no CSRF cookie yet: GET a page first"
    return str(app.state.csrf._serializer(purpose).dumps(cookie))


def urlencoded(pairs: Sequence[tuple[str, bytes]]) -> bytes:
    return "&".join(
        f"{quote_from_bytes(name.encode('utf-8', 'surrogatepass'))}={quote_from_bytes(value)}"
        for name, value in pairs
    ).encode("ascii")


def multipart(pairs: Sequence[tuple[str, bytes]], files: Files = ()) -> tuple[bytes, str]:
    """A multipart/form-data body as browsers write it; returns (body, content type)."""
    boundary = "----lanthorn" + secrets.token_hex(8)
    out = bytearray()
    for name, value in pairs:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value + b"\r\n"
    for name, filename, content, mime in files:
        disposition = f'form-data; name="{name}"; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += f"Content-Type: {mime}\r\n\r\n".encode() + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def send(
    client: httpx.Client,
    path: str,
    encoding: str,
    pairs: Sequence[tuple[str, bytes]],
    files: Files = (),
    **kwargs: Any,
) -> httpx.Response:
    """POST `pairs` (and `files`) to `path`, encoded as `encoding`."""
    if encoding == "multipart":
        body, content_type = multipart(pairs, files)
    else:
        body, content_type = urlencoded(pairs), "application/x-www-form-urlencoded"
    return client.post(path, content=body, headers={"content-type": content_type}, **kwargs)


def snapshot(engine: Engine, metadata: MetaData, skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every row of every table (but `skip`), to show a refused request changed nothing."""
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
            if table.name not in set(skip)
        }


def portal_rows(portal: Any) -> dict[str, list[str]]:
    from portal.db import Base

    return snapshot(portal.app.state.engine, Base.metadata)


def console_rows(console: Any, *, audit: bool = True) -> dict[str, list[str]]:
    """The console's rows but sessions' expiry times, which every signed-in page moves
    (and, `audit=False`, but the audit log, where every refusal is written)."""
    from triage.db import Base

    skip = {"officer_sessions"} if audit else {"officer_sessions", "audit"}
    return snapshot(console.engine, Base.metadata, skip=skip)
