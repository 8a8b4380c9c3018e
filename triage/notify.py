"""Telling officers by email that there is something to read, without saying what.

An officer chooses, on their Notifications page (triage/notify_pages.py; the choices
are kept by triage/notify_choices.py), an address, an optional OpenPGP key and what to
be told of: new reports, urgent ones only, and a daily digest of deadlines due by
tomorrow and missed. What they receive is counts and the console's address
(triage/mailer.py): "2 new reports, 1 marked urgent", never a case, a category, a
prison, a name or any text.

Nothing is lost when the relay is down. A sync queues a `Notification` row per officer in
the same transaction that stores the reports it counts (`queue_reports`, one line in the
sync); `tick` sends what is queued, one message per officer and kind however many syncs
queued it, and deletes the rows only once the relay took the message. A failure is kept
on the rows in fixed words, shown on the officer's page, audited once, and tried again
at the next round. A sync never waits for the relay: the web console delivers from its
own background task (`loop`), `lanthorn triage sync` after it has synced.

The audit log records each message sent (to which officer, which counts, encrypted or
not) and each that could not be, never the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from . import mailer, notify_choices, openpgp, workflow
from .db import Case, CaseEvent, Notification, NotificationChoice, Officer, get_state, set_state

if TYPE_CHECKING:  # the console imports this module: it queues notifications as it syncs
    from .console import Console

#: Seconds between the web console's delivery rounds (and its check for the daily digest).
EVERY = 30
#: Who the audit log says sent a notification.
SENDER = "console:notify"
LOCK_FILE = "notify.lock"
_DIGEST_STATE = "deadline_digest_on"
log = logging.getLogger("lanthorn.console")


@dataclass
class Delivery:
    sent: int = 0
    waiting: int = 0
    failure: str | None = None


# -- queueing ------------------------------------------------------------------------------


def queue_reports(console: Console, session: Session, cases: list[dict[str, Any]]) -> None:
    """In the sync's own transaction: tell each officer who asked that `cases` arrived
    (counts only). Nothing is queued while no relay is configured."""
    if not cases or not console.settings.mail.enabled:
        return
    urgent = sum(1 for case in cases if case.get("urgent"))
    wanted = session.execute(
        select(NotificationChoice.username, NotificationChoice.new_reports)
        .join(Officer, Officer.username == NotificationChoice.username)
        .where(
            Officer.active,
            Officer.role.in_(notify_choices.NEW_REPORT_ROLES),
            or_(NotificationChoice.new_reports, NotificationChoice.urgent_reports),
        )
    ).all()
    for username, every in wanted:
        if every or urgent:
            session.add(notify_choices.new_row(console, username, "reports", len(cases), urgent))


def queue_deadlines(console: Console) -> int:
    """Once a day, from `daily_hour` (UTC): each officer who asked is told how many
    deadlines are due by tomorrow and how many were missed (theirs: an investigator's
    unit's). Returns how many digests were queued; none when nothing is due or missed."""
    mail = console.settings.mail
    now = datetime.datetime.fromtimestamp(console.clock(), datetime.UTC)
    if not mail.enabled or now.hour < mail.daily_hour:
        return 0
    today = now.date()
    queued = 0
    with console.sessions() as session:
        if get_state(session, _DIGEST_STATE) == today.isoformat():
            return 0
        wanted = session.execute(
            select(Officer.username, Officer.role, Officer.unit)
            .join(NotificationChoice, NotificationChoice.username == Officer.username)
            .where(
                Officer.active,
                Officer.role.in_(notify_choices.DEADLINE_ROLES),
                NotificationChoice.deadlines,
            )
        ).all()
        counts = _deadline_counts(session, today) if wanted else {}
        for username, role, unit in wanted:
            scope = [unit] if role == "investigator" else list(counts)
            due = sum(counts.get(u, (0, 0))[0] for u in scope)
            missed = sum(counts.get(u, (0, 0))[1] for u in scope)
            if due or missed:
                session.add(notify_choices.new_row(console, username, "deadlines", due, missed))
                queued += 1
        set_state(session, _DIGEST_STATE, today.isoformat())
        session.commit()
    return queued


def _deadline_counts(session: Session, today: datetime.date) -> dict[str | None, tuple[int, int]]:
    """(due by tomorrow, missed) open deadlines per unit (None: not routed), as the
    dashboard lists them, in two queries however many cases there are."""
    cases = session.execute(
        select(Case.id, Case.unit, Case.received_on, Case.category, Case.urgent, Case.workflow)
    ).all()
    events: dict[str, list[workflow.Event]] = defaultdict(list)
    for case_id, kind, on in session.execute(
        select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.on)
    ):
        events[case_id].append(workflow.Event(kind, on))
    tomorrow = today + datetime.timedelta(days=1)
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        found = workflow.deadlines(
            received_on=case.received_on,
            category=case.category,
            urgent=case.urgent,
            events=events.get(case.id, []),
            today=today,
        )
        for deadline in workflow.open_deadlines(found):
            if case.workflow == "closed" and deadline.name != "outcome_notified_by":
                continue  # a closed case still owes the outcome notice, nothing else
            if deadline.state == "overdue":
                counts[case.unit][1] += 1
            elif deadline.date <= tomorrow:
                counts[case.unit][0] += 1
    return {unit: (due, missed) for unit, (due, missed) in counts.items()}


# -- delivering ----------------------------------------------------------------------------


@contextlib.contextmanager
def _one_delivery(console: Console) -> Iterator[bool]:
    """True while this process alone delivers (the web console's task and `lanthorn
    triage sync` may both try); False if another is at it, which sends everything."""
    fd = os.open(console.settings.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def tick(console: Console) -> Delivery:
    """Queue the day's digest if it is time, then deliver: what the web console's task
    and `lanthorn triage sync` run."""
    console = console.acting_as(SENDER)
    with _one_delivery(console) as mine:
        if not mine or not console.settings.mail.enabled:
            return Delivery()
        queue_deadlines(console)
        return _deliver(console)


@dataclass
class _Message:
    username: str
    kind: str
    seqs: list[int]
    counts: tuple[int, int]
    attempts: int
    failure: str | None


def _deliver(console: Console) -> Delivery:
    mail = console.settings.mail
    outcome = Delivery()
    with console.sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.seq)).all()
        chosen = {
            row.username: notify_choices.opened(console, row)
            for row in session.scalars(select(NotificationChoice))
        }
        active = set(session.scalars(select(Officer.username).where(Officer.active)))
    grouped: dict[tuple[str, str], _Message] = {}
    gone = []
    for row in rows:
        if row.username not in chosen or row.username not in active:
            gone.append(row.seq)
            continue
        kind = row.kind
        message = grouped.setdefault(
            (row.username, kind), _Message(row.username, kind, [], (0, 0), 0, None)
        )
        message.seqs.append(row.seq)
        a, b = message.counts
        message.counts = (a + row.new_or_due, b + row.urgent_or_missed)
        message.attempts = max(message.attempts, row.attempts)
        message.failure = row.failure or message.failure
    if gone:
        with console.sessions() as session:
            session.execute(delete(Notification).where(Notification.seq.in_(gone)))
            session.commit()
    if not grouped:
        return outcome
    results: list[tuple[_Message, str | None, bool]] = []
    try:
        with mailer.Relay(mail) as relay:
            for item in grouped.values():
                choice = chosen[item.username]
                body = mailer.compose(item.kind, *item.counts, mail.console_url)
                try:
                    built, encrypted = mailer.message(mail, choice.address, body, choice.key)
                    relay.send(built)
                except openpgp.OpenPgpError:
                    results.append((item, "the officer's OpenPGP key no longer encrypts", False))
                    continue
                except mailer.NotSent as exc:
                    if exc.relay:
                        raise
                    results.append((item, exc.why, False))
                    continue
                results.append((item, None, encrypted))
    except mailer.NotSent as exc:
        done = {id(item) for item, _, _ in results}
        results += [(item, exc.why, False) for item in grouped.values() if id(item) not in done]
    _record(console, results, outcome)
    return outcome


def _record(
    console: Console, results: list[tuple[_Message, str | None, bool]], outcome: Delivery
) -> None:
    """Delete what was sent and audit it; keep what was not, with why, audited once."""
    with console.sessions() as session:
        entries: list[tuple[str, str | None, dict[str, Any]]] = []
        for item, failure, encrypted in results:
            counts = _named_counts(item.kind, item.counts)
            if failure is None:
                session.execute(delete(Notification).where(Notification.seq.in_(item.seqs)))
                entries.append(
                    (
                        "notification sent",
                        None,
                        {
                            "officer": item.username,
                            "kind": item.kind,
                            **counts,
                            "encrypted": encrypted,
                            "attempts": item.attempts + 1,
                        },
                    )
                )
                outcome.sent += 1
                continue
            for row in session.scalars(select(Notification).where(Notification.seq.in_(item.seqs))):
                row.attempts += 1
                row.failure = failure
            if failure != item.failure:  # the first failure, or a new reason: not each retry
                entries.append(
                    (
                        "notification not sent",
                        None,
                        {"officer": item.username, "kind": item.kind, **counts, "why": failure},
                    )
                )
            outcome.waiting += 1
            outcome.failure = failure
        console.audit_many(session, entries)
        session.commit()
    if outcome.failure:
        log.warning("notifications waiting: %d (%s)", outcome.waiting, outcome.failure)


def _named_counts(kind: str, counts: tuple[int, int]) -> dict[str, int]:
    if kind == "reports":
        return {"new": counts[0], "urgent": counts[1]}
    if kind == "deadlines":
        return {"due": counts[0], "missed": counts[1]}
    return {}


async def loop(app: Starlette) -> None:
    """The web console's task: every `EVERY` seconds once unsealed, the day's digest when
    it is time, and whatever is queued. A relay that cannot be reached is tried again
    next round; nothing here stops the console."""
    while True:
        await asyncio.sleep(app.state.notify_every)
        console: Console | None = app.state.console
        if console is None:
            continue
        try:
            await run_in_threadpool(tick, console)
        except Exception:  # a database outage, say: the next round tries again
            log.exception("notification round failed")
