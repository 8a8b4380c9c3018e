"""What a console took in from the portal, checked against what the reporters sent.

Opens every stored item with the console's keys, matches it to its report by canary,
and decrypts every attachment file the console kept, comparing it with the file that
was sent. Shared by tests/reliability/ and scripts/soak (bench/soak.py).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

import crypto
from triage.console import Console
from triage.db import Item, SetAside

from .reporters import Sent


@dataclass
class Intake:
    reports: int = 0
    messages: int = 0
    files_verified: int = 0
    set_aside: int = 0
    #: Reports the console holds whose answer never reached the reporter (a crash
    #: between the commit and the response): stored, but no receipt was shown.
    unanswered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _verify_file(console: Console, descriptor: dict[str, Any]) -> str | None:
    path = console.blobs.path(descriptor["blob_id"])
    if not path.is_file():
        return "its file is missing"
    try:
        with path.open("rb") as src:
            summary = crypto.decrypt_file(
                src, io.BytesIO(), crypto.b64u_decode(descriptor["key"], length=32)
            )
    except crypto.CryptoError:
        return "its file does not decrypt"
    if (summary.size, summary.sha256) != (descriptor["size"], descriptor["sha256"]):
        return "its file is not the one described"
    return None


def check_intake(console: Console, sent: Sequence[Sent]) -> Intake:
    """Every accepted report exactly once, with its messages and verified files."""
    intake = Intake()
    by_canary = {s.canary: s for s in sent}
    reports: Counter[str] = Counter()
    messages: dict[str, list[str]] = {}
    with console.sessions() as session:
        rows = session.scalars(select(Item).where(Item.kind != "reply").order_by(Item.seq))
        stored = [(row.kind, row.case_id, row.content) for row in rows]
        intake.set_aside = int(session.scalar(select(func.count()).select_from(SetAside)) or 0)
    for kind, case_id, content in stored:
        opened = json.loads(console.keys.open("content", content))
        document, states = opened["document"], opened.get("files", {})
        text = document.get("description") if kind == "report" else document.get("text")
        canary = str(text or "").split(" ", 1)[0].rstrip(":")
        origin = by_canary.get(canary)
        if origin is None:
            intake.problems.append(f"a {kind} in case {case_id} that nobody here sent")
            continue
        if kind == "report":
            intake.reports += 1
            reports[canary] += 1
            if origin.accepted and origin.case and origin.case != case_id:
                intake.problems.append(f"{canary}: in case {case_id}, not {origin.case}")
            sent_files = sorted((a.name, a.size, a.sha256) for a in origin.attachments)
            got = sorted((d["name"], d["size"], d["sha256"]) for d in document["attachments"])
            if origin.accepted and got != sent_files:
                intake.problems.append(f"{canary}: attachments {got} differ from {sent_files}")
        else:
            intake.messages += 1
            messages.setdefault(canary, []).append(str(text))
        for descriptor in document.get("attachments", []):
            state = states.get(descriptor["blob_id"])
            problem = (
                f"the console says {state!r}" if state != "stored" else None
            ) or _verify_file(console, descriptor)
            if problem:
                intake.problems.append(f"{canary}: {descriptor['name']}: {problem}")
            else:
                intake.files_verified += 1
    for canary, origin in by_canary.items():
        found = reports.get(canary, 0)
        if origin.accepted and found != 1:
            intake.problems.append(f"{canary}: receipt issued, report stored {found} times")
        elif not origin.accepted and found:
            intake.unanswered.append(canary)
        missing = set(origin.messages) - set(messages.get(canary, []))
        if missing:
            intake.problems.append(f"{canary}: accepted messages missing: {sorted(missing)}")
        if len(messages.get(canary, [])) != len(set(messages.get(canary, []))):
            intake.problems.append(f"{canary}: a message stored twice")
    return intake


def stray_console_files(console: Console) -> list[str]:
    """Files in the console's blob directory that no stored item names, and temporaries."""
    named: set[str] = set()
    with console.sessions() as session:
        for content in session.scalars(select(Item.content).where(Item.kind != "reply")):
            document = json.loads(console.keys.open("content", content))["document"]
            named.update(d["blob_id"] for d in document.get("attachments", []))
    return sorted(p.name for p in console.blobs.root.iterdir() if p.name not in named)
