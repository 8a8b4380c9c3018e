"""A reporter's thread, checked before the server-rendered pages show it or sign after it.

The follow-up pages and the kiosk without JavaScript hold the reporter's keys for the
length of a request, so they check the thread as the reporter's own client would
(docs/protocol.md §16.2, §19.4): every item verified against the oversight keys this
portal is configured with (followed back through their rollover statements), and against
the case key and signing key derived from the receipt, never against the case's row.
Only items that verify, and v1 replies a signed item vouches for (§17.1), are shown as
from the oversight body; a forged, moved or unvouched item is a fixed warning in its
place, and a gap, a replay or items out of order a fixed warning above the thread.

These pages come from the portal itself, so they protect a reporter against whoever can
write the portal's database, not against a portal whose code or configuration is altered
(SECURITY.md, "Protocol v2").
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

import crypto
from foundation.languages import N_

from . import store
from .db import Case, Item
from .settings import PortalSettings

#: The fixed warnings (the same msgids as the pages with JavaScript: V2 strings S1–S5).
HIDDEN = N_(
    "A message here did not pass our safety check, so we have hidden it. It may be fake. "
    "Do not answer it."
)
GAP = N_("Some messages are missing here. Someone may have taken them out.")
TAMPERED = N_(
    "The messages here have been changed or put in the wrong order. Someone may have "
    "tampered with them."
)
KEYS_REFUSED = N_("This portal is not using the oversight body's keys. Do not send anything here.")
KEYS_CHANGED = N_(
    "The oversight body changed its keys on %(date)s. Their new fingerprint is %(fingerprint)s."
)
FINGERPRINT = N_(
    "The oversight body's key fingerprint is %(fingerprint)s. It should match the one on the "
    "posters."
)

_REJECTED = ("forged", "moved", "unvouched")


@dataclass(frozen=True)
class ThreadWarning:
    """A fixed warning and its parameters (only S5 has any)."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Shown:
    """One entry of the thread as a page shows it. `kind`: "report", "message", "reply"
    (a reply or outcome notice that verified, or a vouched v1 reply) or "hidden" (S1)."""

    kind: str
    on: datetime.date
    files: int = 0
    text: str | None = None
    purged: bool = False


@dataclass
class CheckedThread:
    """What a page may show of a thread, and where it may sign the next message."""

    entries: list[Shown]
    warnings: list[ThreadWarning]
    #: The state the reporter sees (§16.2: from signed oversight items only) and its day.
    state: str
    state_on: datetime.date | None
    #: The last item that verified: the next message is signed after it.
    head: crypto.Head | None
    #: The report has no header: a message must carry the key proof (§17.2).
    filed_under_v1: bool
    #: The oversight keys are refused (S4): show nothing as theirs, seal nothing to them.
    keys_refused: bool = False


def oversight_keys(settings: PortalSettings) -> crypto.KeyResolution:
    """The keys this portal is configured with, resolved through their rollovers and,
    when the operator pinned a fingerprint outside the data directory, against it.
    Raises `crypto.CryptoError` (`UnexpectedOversightKey` included) when refused."""
    return crypto.resolve_oversight_keys(
        bytes(settings.oversight_key),
        bytes(settings.oversight_sign_key),
        settings.oversight_rollovers,
        pinned=settings.oversight_pin or None,
    )


def fingerprint(settings: PortalSettings) -> str:
    """The fingerprint of the keys this portal seals to, for people to compare (§12.2)."""
    return crypto.fingerprint(bytes(settings.oversight_key), bytes(settings.oversight_sign_key))


def display(fingerprint: str) -> Markup:
    """A fingerprint for a page: kept left to right inside right-to-left text."""
    return Markup('<bdi dir="ltr" class="fingerprint">{}</bdi>').format(fingerprint)


def _entry(item: Item) -> crypto.Entry:
    if item.signed is None:
        sender = "oversight" if item.kind in crypto.OVERSIGHT_KINDS else "reporter"
        return crypto.Entry(sealed=item.sealed, id=item.id, sender=sender)
    return crypto.Entry(
        signed=bytes(item.signed),
        signature=bytes(item.signature or b""),
        sealed=None if item.sealed is None else bytes(item.sealed),
    )


def check(
    settings: PortalSettings,
    items: list[Item],
    *,
    case_key: bytes,
    reporter_key: bytes,
    box: crypto.PrivateKey | None,
    files: dict[int, list[str]] | None = None,
) -> CheckedThread:
    """Check a case's items as a reporter's client does.

    `case_key` and `reporter_key` come from the receipt (the reporter's box and signing
    public keys), never from the case's row. With `box`, oversight items are opened, their
    `history` read and their text given; without it (the kiosk's write-back, which holds
    no key that opens an answer), only the chain is checked, to sign after it.
    """
    entries = [_entry(item) for item in items]
    filed_under_v1 = bool(entries) and entries[0].signed is None
    try:
        resolution = oversight_keys(settings)
    except crypto.CryptoError:
        shown = [
            Shown(kind=item.kind, on=item.on)
            for item in items
            if item.kind in crypto.REPORTER_KINDS
        ]
        return CheckedThread(
            shown, [ThreadWarning(KEYS_REFUSED)], "received", None, None, filed_under_v1, True
        )
    keys = resolution.keys
    warnings: list[ThreadWarning] = []
    if resolution.changed_on is not None:
        current = keys.current.fingerprint
        params = {"date": resolution.changed_on, "fingerprint": display(current)}
        warnings.append(ThreadWarning(KEYS_CHANGED, params))

    def run(history: crypto.History) -> crypto.ThreadCheck:
        return crypto.check_thread(
            entries, case_key=case_key, reporter_key=reporter_key, oversight=keys, history=history
        )

    first = run(crypto.History())
    opened, rejected = _open(first, entries, box)
    history = crypto.history_of(opened.values())
    result = run(history) if (history.replies or history.received) else first
    if history.replies or history.received:
        opened, rejected = _open(result, entries, box)

    files = files or {}
    order = sorted(
        (p for p, v in enumerate(result.verdicts) if v == "ok" and p not in rejected),
        key=lambda p: result.headers[p].seq if result.headers[p] else 0,  # type: ignore[union-attr]
    )
    slots = iter(order)
    shown = []
    state, state_on = "received", items[0].on if items else None
    for position, verdict in enumerate(result.verdicts):
        if verdict == "ok" and position not in rejected:
            position = next(slots)  # ok items in SEQ order, in the places ok items take
        item, header = items[position], result.headers[position]
        count = len(files.get(item.seq, []))
        # What a signed item is, and its day, are the header's, not the portal's columns.
        kind = header.kind if header is not None else item.kind
        on = datetime.date.fromisoformat(header.sent_on) if header is not None else item.on
        if position in rejected or verdict in _REJECTED:
            shown.append(Shown(kind="hidden", on=on))
        elif verdict == "replay" or (kind == "status" and header is not None):
            continue  # a copy is shown once; a status change shows as the state above
        elif kind in crypto.OVERSIGHT_KINDS:  # ok, or a v1 reply vouched for or purged
            doc = opened.get(position)
            if doc is None and header is None and box is not None and item.sealed is not None:
                doc = _open_v1(item.sealed, box)
            text = None if doc is None else str(doc.get("text", ""))
            shown.append(Shown("reply", on, count, text, purged=item.sealed is None))
        else:
            shown.append(Shown(kind, on, count))
    signed_state = [
        result.headers[p]
        for p in range(len(items))
        if p not in rejected and result.headers[p] is not None
    ]
    for header in sorted((h for h in signed_state if h is not None), key=lambda h: h.seq):
        if header.from_oversight and header.state is not None:
            state, state_on = header.state, datetime.date.fromisoformat(header.sent_on)
    kinds = {f.kind for f in result.findings}
    if "gap" in kinds:
        warnings.append(ThreadWarning(GAP))
    if kinds & {"out_of_order", "replay", "fork"}:
        warnings.append(ThreadWarning(TAMPERED))
    return CheckedThread(shown, warnings, state, state_on, result.head, filed_under_v1)


def _open(
    result: crypto.ThreadCheck, entries: list[crypto.Entry], box: crypto.PrivateKey | None
) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """Open each verified oversight item: (documents by position, positions whose sealed
    text names another case or disagrees with its header, which are hidden)."""
    opened: dict[int, dict[str, Any]] = {}
    rejected: set[int] = set()
    if box is None:
        return opened, rejected
    for position, header in enumerate(result.headers):
        sealed = entries[position].sealed
        if header is None or not header.from_oversight or sealed is None:
            continue
        try:
            opened[position] = crypto.open_item(sealed, box, header)
        except crypto.CryptoError:  # ItemRejected, or a body this key does not open
            rejected.add(position)
    return opened, rejected


def _open_v1(sealed: bytes, box: crypto.PrivateKey) -> dict[str, Any] | None:
    """A v1 reply's document (shown only once a signed item vouched for it)."""
    try:
        doc = crypto.open_document(sealed, box, versions=(1,))
    except crypto.CryptoError:
        return None
    return doc if doc["type"] in ("reply", "outcome") else None


class KeysRefused(Exception):
    """The oversight keys are refused (S4): nothing is sealed to them."""


def add_message(
    session: Session,
    settings: PortalSettings,
    case: Case,
    *,
    box_pk: bytes,
    sign: crypto.SigningKey,
    proof: crypto.PrivateKey | bytes | None,
    text: str,
    attachments: list[dict[str, object]],
    today: datetime.date,
    sent_form: bytes | None = None,
) -> None:
    """Check the thread, then seal and sign a message after the last item that verified
    (`store.add_signed_message`). `proof` makes the key proof of a case filed under v1:
    the reporter's box key, or the proof itself, made while the box key was at hand.

    If the portal's head is not that item (a forged item took the next place), the
    message is refused with `store.ThreadMovedOn` rather than signed after it: the
    console would otherwise see the reporter answer an item it never wrote."""
    for attempt in range(3):
        items = store.thread_items(session, case, today, mark_read=False)
        checked = check(
            settings, items, case_key=box_pk, reporter_key=bytes(sign.verify_key), box=None
        )
        if checked.keys_refused:
            raise KeysRefused()
        key_proof = None
        if checked.filed_under_v1:
            if isinstance(proof, crypto.PrivateKey):
                key_proof = crypto.make_key_proof(
                    proof, bytes(sign.verify_key), bytes(settings.oversight_key)
                )
            elif isinstance(proof, bytes):
                key_proof = proof
        try:
            store.add_signed_message(
                session,
                case,
                box_pk=box_pk,
                sign=sign,
                oversight=settings.oversight_key,
                after=checked.head,
                key_proof=key_proof,
                text=text,
                attachments=attachments,
                limits=settings.limits,
                today=today,
                sent_form=sent_form,
            )
            return
        except store.ThreadMovedOn:
            if attempt == 2:
                raise
