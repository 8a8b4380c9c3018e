"""Fictional cases for `lanthorn demo`, so its dashboard looks like a working week.

Forty reports about four fictional prisons go to the demo portal through its JSON API,
sealed here as an API client would seal them, and the console syncs them. Then their
arrival days are spread over the last five months and officers' steps are recorded on
the days they would have happened: most acknowledged in time, some late, some not at all;
some assessed, routed and closed with an outcome. Five reports name the same officer at
one prison — one allegation each, a pattern together. Every name is invented.
"""

from __future__ import annotations

import datetime
import random
import secrets
import time
from collections.abc import Callable

import httpx
from sqlalchemy import select

import crypto

from . import workflow
from .console import Console
from .db import Case, Item
from .units import routing

PRISONS = ("HMP Ashfield Vale", "HMP Brackenmoor", "HMP Carrow Quay", "HMYOI Dunmere")
PLACES = ("B wing", "C wing landing", "healthcare", "visits hall", "segregation unit", "kitchens")
CHANNELS = ("staff", "kiosk", "third_party")
STORIES = {
    "trafficking": "An officer brings in phones and spice in a lunch box on night shifts.",
    "corruption": "A supervisor is paid to move prisoners to better jobs.",
    "use_of_force": "A prisoner was restrained face down for a long time after he had stopped.",
    "bullying": "Two officers keep threatening a young prisoner and taking his canteen.",
    "discrimination": "Muslim prisoners are refused their Friday prayers again and again.",
    "healthcare": "A diabetic prisoner has had no insulin for two days.",
    "self_harm_risk": "My cellmate has said he will end it tonight and has hidden razors.",
    "retaliation": "Since I complained, my visits keep being cancelled.",
    "staff_sexual_misconduct": "An officer takes a woman prisoner to the laundry at night.",
    "other": "Letters from my solicitor are opened before I get them.",
}
#: The pattern: five reports about the same (invented) officer at one prison.
PATTERN = "Officer R. Hale (nights, C wing)"
PATTERN_PRISON = "HMP Brackenmoor"
COUNT = 40


def _report(rng: random.Random, number: int, oversight: crypto.PublicKey) -> dict[str, object]:
    in_pattern = number % 8 == 3  # cases 3, 11, 19, 27, 35
    category = "trafficking" if in_pattern else rng.choice(sorted(STORIES))
    box = crypto.PrivateKey.generate()
    document = {
        "v": 1,
        "type": "report",
        "channel": rng.choice(CHANNELS),
        "lang": rng.choice(("en", "en", "en", "pl", "ar", "ro")),
        "category": category,
        "facility": PATTERN_PRISON if in_pattern else rng.choice(PRISONS),
        "location": rng.choice(PLACES),
        "occurred": rng.choice(("last week", "most nights since June", "yesterday", "")),
        "description": STORIES[category] + " (Fictional demo case.)",
        "subjects": PATTERN if in_pattern else rng.choice(("", "an officer on nights", "SO Marsh")),
        "witnesses": "",
        "urgent": category == "self_harm_risk" or rng.random() < 0.08,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(box.public_key)),
        "sent_on": datetime.date.today().isoformat(),
    }
    return {
        "sealed": crypto.b64u_encode(crypto.seal_report(document, oversight)),
        "lookup_id": crypto.b64u_encode(secrets.token_bytes(32)),
        "box_pk": document["reply_box_pk"],
        "sign_pk": crypto.b64u_encode(bytes(crypto.SigningKey.generate().verify_key)),
        "blob_ids": [],
    }


def seed_demo(console: Console, portal_url: str, progress: Callable[[str], None] = print) -> int:
    """Send the fictional reports, sync them, and record a plausible history; the count."""
    rng = random.Random(2026)  # noqa: S311 - invented cases, not secrets
    oversight = console.keys.oversight.public_key
    with httpx.Client(base_url=portal_url, timeout=30) as client:
        for number in range(COUNT):
            client.post("/api/v1/reports", json=_report(rng, number, oversight)).raise_for_status()
    progress(f"Sent {COUNT} fictional reports to the demo portal; syncing…")
    console.sync(portal_url)
    real_clock = console.clock
    try:
        _history(console, rng)
    finally:
        console.clock = real_clock
    _link_the_pattern(console)
    console.push()
    return COUNT


def _link_the_pattern(console: Console) -> None:
    """An officer has linked the five reports about one officer: their case pages show the
    pattern. The place is recorded on one only, for the console to suggest the rest."""
    from .links import add_concern  # links builds on the console

    with console.sessions() as session:
        named = [
            item.case_id
            for item in session.scalars(select(Item).where(Item.kind == "report"))
            if console._open(item.content)["document"].get("subjects") == PATTERN
        ]
    for case_id in sorted(named):
        add_concern(console, case_id, "person", PATTERN)
    if named:
        add_concern(console, sorted(named)[0], "place", "C wing night office")


def _history(console: Console, rng: random.Random) -> None:
    now = time.time()
    today = datetime.datetime.now(datetime.UTC).date()
    with console.sessions() as session:
        cases = session.query(Case).order_by(Case.id).all()
        ages = {case.id: rng.randint(0, 150) for case in cases}
        for case in cases:
            case.received_on = today - datetime.timedelta(days=ages[case.id])
        session.commit()
        plan = [(case.id, case.category, case.urgent) for case in cases]

    def on(day_offset: int) -> None:
        console.clock = lambda: now - day_offset * 86400.0

    table = routing(console)
    for case_id, category, urgent in plan:
        age = ages[case_id]
        if age < 2 or rng.random() < 0.12:  # new, or left unacknowledged: overdue if old
            continue
        acknowledged_after = rng.choice((1, 2, 3, 5, 6, 9))
        if acknowledged_after > age:
            continue
        on(age - acknowledged_after)
        console.acknowledge(case_id)
        if urgent:
            console.record(case_id, "escalated")
        if category == "staff_sexual_misconduct" and age > 1:
            on(age - min(age, rng.choice((1, 1, 3))))
            console.record(case_id, "police_contacted")
        if age < 10:
            continue
        on(age - acknowledged_after - 2)
        console.assess(
            case_id,
            category=category,
            severity=rng.choice(workflow.SEVERITIES),
            urgent=urgent,
            reason="Demo assessment",
        )
        units = table.get(category, ())
        if units:
            with console.sessions() as session:
                case = session.get(Case, case_id)
                assert case is not None  # noqa: S101 - just synced
                case.unit, case.workflow = units[0], "routed"
                console.audit(session, "route", case_id, unit=units[0], reason="demo")
                session.commit()
        if age > 60 and rng.random() < 0.6:
            on(age - rng.randint(30, min(age - 5, 120)))
            console.close_case(
                case_id,
                outcome=rng.choice(sorted(workflow.OUTCOMES)),
                summary="Demo outcome summary.",
                feedback="Thank you for your report. We have finished looking into it.",
            )
