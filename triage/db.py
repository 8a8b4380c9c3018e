"""The console's database. Everything that came from a reporter is sealed under the vault
key (`content` columns); only the workflow fields needed to sort and filter are plain."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from foundation.database import make_engine as make_engine
from foundation.database import make_sessionmaker as make_sessionmaker

from . import list_keys

__all__ = [
    "AccountRequest",
    "AuditRow",
    "Base",
    "Case",
    "CaseEvent",
    "CaseNote",
    "Concern",
    "Finding",
    "Header",
    "IdentityRequest",
    "Item",
    "Notification",
    "NotificationChoice",
    "Officer",
    "OfficerSession",
    "Outgoing",
    "ReplyTemplate",
    "RoutingEntry",
    "SetAside",
    "SpentForm",
    "State",
    "Unit",
    "make_engine",
    "make_sessionmaker",
]


class Base(DeclarativeBase):
    pass


def _filled(column: str) -> Any:
    """A column default computing one of a new case's keys from its other columns."""

    def default(context: Any) -> Any:
        return list_keys.fill(context.get_current_parameters())[column]

    return default


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the portal's case id
    workflow: Mapped[str] = mapped_column(String(16), default="new")
    public_status: Mapped[str] = mapped_column(String(16), default="received")
    category: Mapped[str] = mapped_column(String(40))
    facility: Mapped[str] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(Boolean)
    unit: Mapped[str | None] = mapped_column(String(40))
    received_on: Mapped[datetime.date] = mapped_column(Date)
    #: The reporter's box key as the portal holds it, and as written inside the report
    #: (the case key of protocol v2: every signed item names it).
    portal_box_pk: Mapped[bytes] = mapped_column(LargeBinary(32))
    reply_box_pk: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The reporter's signing key: from inside a v2 report, or, in a case filed under
    #: v1, the one the first valid key proof established (docs/protocol.md §17.2); None
    #: until then. Every message of the case must be signed with it.
    reply_sign_pk: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    #: The signing key the portal holds for the case (it checks the reporter's requests
    #: with it), as the outbox gave it with the report.
    portal_sign_pk: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    #: The assessment (category above may be changed by it) and the closure.
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    closed_on: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    #: Who works on the case: an officer's username (a triage officer, or an investigator
    #: of the case's unit), or None: in the "Unassigned" queue (triage/assignment.py).
    assignee: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: The reporter's language, as the portal offered it (a code such as "pl"), kept plain
    #: to filter by, like the category; None for cases stored before migration 0014.
    lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The list's keyset sort keys and deadline summary (triage/list_keys.py), filled in
    #: when a case is stored, however it is inserted, and kept by a flush hook.
    list_key: Mapped[str] = mapped_column(String(64), default=_filled("list_key"))
    due_key: Mapped[str] = mapped_column(String(80), default=_filled("due_key"))
    due_on: Mapped[datetime.date] = mapped_column(Date, default=_filled("due_on"))
    deadlines: Mapped[str] = mapped_column(String(8), default=_filled("deadlines"))


class CaseEvent(Base):
    """What was done on a case and on which day: the facts deadlines are computed from.
    A detail that could carry case content (a closing summary) is vault-sealed."""

    __tablename__ = "case_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    on: Mapped[datetime.date] = mapped_column(Date)
    officer: Mapped[str] = mapped_column(String(80))
    detail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: When, in milliseconds since 1970 (UTC), to order a day's events in the case's
    #: timeline; None for events recorded before migration 0015.
    at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Concern(Base):
    """A person or place of concern named in a case, entered by an officer. The name is
    vault-sealed; `digest` (a keyed hash of the normalised name) finds every case that
    names the same one without storing the name in the clear."""

    __tablename__ = "concerns"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # person | place
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    label: Mapped[bytes] = mapped_column(LargeBinary)  # vault-sealed, as the officer wrote it
    officer: Mapped[str] = mapped_column(String(80))
    on: Mapped[datetime.date] = mapped_column(Date)


class Item(Base):
    """A report, a reporter message or a reply; `content` is the vault-sealed document.

    `kind` "unsigned" is a message without a signed header, taken in after this console
    spoke protocol v2: shown to officers as such, never as the reporter's own words."""

    __tablename__ = "items"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)  # the portal's item id
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    on: Mapped[datetime.date] = mapped_column(Date)
    #: When this console stored it (milliseconds since 1970, UTC), for the case's
    #: timeline; None for items stored before migration 0015.
    at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CaseNote(Base):
    """An officer's internal note on a case: never sent to the reporter, shown in the
    case's timeline. The text is vault-sealed like everything an officer writes."""

    __tablename__ = "case_notes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    officer: Mapped[str] = mapped_column(String(80))
    on: Mapped[datetime.date] = mapped_column(Date)
    at: Mapped[int] = mapped_column(BigInteger)  # milliseconds since 1970, UTC
    text: Mapped[bytes] = mapped_column(LargeBinary)  # vault-sealed


class ReplyTemplate(Base):
    """A reply officers start from, in one language (triage/notes.py). Its title and text
    are vault-sealed together (`sealed`, JSON); only the language is plain."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lang: Mapped[str] = mapped_column(String(16), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # {"title", "text"}
    officer: Mapped[str] = mapped_column(String(80))  # who saved it last
    on: Mapped[datetime.date] = mapped_column(Date)


class Header(Base):
    """The signed header of an item in a case's chain (docs/protocol.md §14): every one
    the console received and verified, and every one it signed and the portal took, in
    the order it got them. Kept as long as the case, so the chain can be checked at any
    time. `item_id` is the thread item it belongs to (none for a status change)."""

    __tablename__ = "headers"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    signed: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of `signed`, the item hash (§14.2): a copy sent again is found by it.
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    on: Mapped[datetime.date] = mapped_column(Date)


class Finding(Base):
    """Something wrong with a case's chain, found when items arrived or were sent: a gap,
    a fork, an item out of order, or a thread on the portal that ends at an item this
    console neither wrote nor received. Shown on the case; each is audited once."""

    __tablename__ = "findings"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The chain position concerned (a gap runs from `chain_seq` to `until`).
    chain_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    until: Mapped[int | None] = mapped_column(Integer, nullable=True)
    on: Mapped[datetime.date] = mapped_column(Date)


class FileToFetch(Base):
    """An item stored with files still to fetch: it is not acknowledged to the portal
    until they are all here (migration 0008)."""

    __tablename__ = "files_to_fetch"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)


class SetAside(Base):
    """An outbox item that could not be taken in, kept with the reason, sealed."""

    __tablename__ = "set_aside"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the portal's item id
    case_id: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # the outbox entry, vault-sealed
    on: Mapped[datetime.date] = mapped_column(Date)


class Outgoing(Base):
    """A reply, status change or outcome notice waiting to reach the portal (queued while
    it is down). It is sealed to the reporter and signed when it is sent, after the
    case's chain as it stands then (docs/protocol.md §16.1)."""

    __tablename__ = "outgoing"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(8))  # reply | status | outcome
    #: Vault-sealed: what to send (`{"case", "text", "state"}`); before v2, the request
    #: body itself (`{"case", "sealed"}` or `{"case", "state"}`).
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    sent_on: Mapped[datetime.date | None] = mapped_column(Date)
    #: The thread item a reply or outcome notice shows as (`items.id`).
    item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AuditRow(Base):
    __tablename__ = "audit"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry: Mapped[str] = mapped_column(Text)  # canonical JSON: who, what, which case, when
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class Officer(Base):
    """A person who works in the console. The TOTP secret is sealed under the vault key."""

    __tablename__ = "officers"

    username: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: admin | triage | investigator | auditor | custodian (triage/officers.py ROLES)
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(40))  # investigators only
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # vault-sealed
    setup_code_hash: Mapped[str | None] = mapped_column(String(200))  # until enrolled
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class IdentityRequest(Base):
    """A triage officer's request to see who the reporter of a case is, and a custodian's
    decision (triage/custody.py). The reasons are vault-sealed: officers write case
    details into them. Only `requester` sees the identity, and only once `state` is
    "approved" by a `decided_by` who is someone else (migration 0011)."""

    __tablename__ = "identity_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    requester: Mapped[str] = mapped_column(String(40))
    reason: Mapped[bytes] = mapped_column(LargeBinary)  # vault-sealed
    on: Mapped[datetime.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # approved | refused
    decided_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_on: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    answer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # vault-sealed


class AccountRequest(Base):
    """An admin's request to add an officer, or to give one a new role (or unit), waiting
    for a second admin (triage/approvals.py). Until it is approved the account does not
    exist, or keeps its old role (migration 0011)."""

    __tablename__ = "account_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # add | role
    username: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    requester: Mapped[str] = mapped_column(String(40))
    on: Mapped[datetime.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # approved | refused
    decided_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_on: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)


class NotificationChoice(Base):
    """What an officer wants to be told by email, and where (triage/notify.py). The
    address and the OpenPGP key name a person who works for the oversight body: they are
    vault-sealed together (`sealed`, JSON); only which events they chose is plain."""

    __tablename__ = "notification_choices"

    username: Mapped[str] = mapped_column(ForeignKey("officers.username"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # {"address", "key", "fingerprint"}
    new_reports: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_reports: Mapped[bool] = mapped_column(Boolean, default=False)
    deadlines: Mapped[bool] = mapped_column(Boolean, default=False)


class Notification(Base):
    """A notification waiting to be sent: counts only, never a case (triage/notify.py).
    Queued in the transaction that stores what it counts; deleted once the relay took it
    (the audit log keeps that it was sent). `failure` says, in fixed words, why the last
    attempt did not reach the relay."""

    __tablename__ = "notifications"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("officers.username"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # reports | deadlines | test
    new_or_due: Mapped[int] = mapped_column(Integer)  # new reports | deadlines due by tomorrow
    urgent_or_missed: Mapped[int] = mapped_column(Integer)  # of which urgent | deadlines missed
    queued_at: Mapped[int] = mapped_column(Integer)  # seconds since 1970, UTC
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(String(120), nullable=True)


class OfficerSession(Base):
    __tablename__ = "officer_sessions"

    id_digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("officers.username"))
    expires: Mapped[int] = mapped_column(Integer)


class SpentForm(Base):
    """A one-time value an action form carried, once the action was done (triage/once.py):
    the same form sent again finds it here and does nothing. Only hashes are kept: of the
    value, and (keyed) of what the form said, to tell a resend from a changed form."""

    __tablename__ = "spent_forms"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary(32))
    form: Mapped[str] = mapped_column(String(40))  # which form, e.g. case-reply
    officer: Mapped[str] = mapped_column(String(80))  # who sent it, as the audit log names them
    at: Mapped[int] = mapped_column(Integer)  # when (seconds since 1970, UTC)


class Unit(Base):
    """A unit cases are routed to and investigators work for. Retired, not deleted: its
    cases and investigators keep pointing at it, and it is not offered for new ones."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. counter_corruption
    name: Mapped[str] = mapped_column(String(80), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingEntry(Base):
    """One line of the routing table: for `category`, the unit that acts at `position`
    (0 first). A case page suggests a category's units in this order."""

    __tablename__ = "routing"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit: Mapped[str] = mapped_column(ForeignKey("units.id"))


class State(Base):
    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def get_state(session: Any, key: str) -> str | None:
    row = session.get(State, key)
    return None if row is None else str(row.value)


def set_state(session: Any, key: str, value: str) -> None:
    row = session.get(State, key)
    if row is None:
        session.add(State(key=key, value=value))
    else:
        row.value = value


list_keys.keep_up_to_date(Case, CaseEvent)
