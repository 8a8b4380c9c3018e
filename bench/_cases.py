"""Invented cases, sealed by the console itself and written straight into its database.

The portal is not involved: going through it would cost an Argon2id-free but still
HTTP-bound ~300 reports/s, about six minutes for 100,000 cases, and it would measure the
portal rather than the console. Each case is what a sync would have stored: a `cases` row
and a report item whose content is sealed with `Console._seal` (the vault's content key),
plus, for some cases, a reporter message, a reply and attachment descriptors. No audit
entries are written for generated cases, and no attachment files exist (their state says
so). Text is drawn from a fixed vocabulary with a Zipf distribution, as real text is, with
a few words planted at known rates so that searches have known answers:

- `PLANTED`: each report holds the word with the given probability;
- `RARE` is in exactly `RARE_CASES` cases, whatever the size (the first generated);
- `ABSENT` is in none.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select

from foundation.categories import CATEGORIES
from triage.console import Console
from triage.db import Case, Item
from triage.units import DEFAULT_ROUTING, DEFAULT_UNITS

PRISONS = (
    "HMP Ashfield Vale", "HMP Brackenmoor", "HMP Carrow Quay", "HMYOI Dunmere",
    "HMP Eastholme", "HMP Fenwick Marsh", "HMP Greyfriars", "HMP Hollin Bank",
    "HMP Ironbridge", "HMP Juniper Hill", "HMP Kestrel Point", "HMP Longmoor",
)  # fmt: skip
PLACES = (
    "B wing", "C wing landing", "healthcare", "visits hall", "segregation unit", "kitchens",
    "laundry room", "gym", "chapel", "education block", "reception", "exercise yard",
)  # fmt: skip
NAMES = (
    "Łukasz Nowak", "Ionuț Popescu", "José Álvarez", "Ahmed Hassan", "Siobhán Ó Briain",
    "Ewa Wójcik", "Dževad Hodžić", "Ngozi Okafor", "Gëzim Krasniqi", "Tomás Ferreira",
    "Officer R. Hale", "SO Marsh", "Nurse Patel", "Mr Brennan", "Governor Aske",
)  # fmt: skip
FILES = ("photo", "letter", "rota", "scan")
#: Word → probability that a report holds it.
PLANTED = {"laundry": 0.30, "night": 0.40, "officer": 0.35, "office": 0.05, "official": 0.02}
RARE, RARE_CASES = "quennell", 5
ABSENT = "zyxwvut"
STAGES = {
    "new": ("received", 0.15),
    "acknowledged": ("acknowledged", 0.20),
    "assessed": ("in_review", 0.15),
    "routed": ("in_review", 0.25),
    "investigating": ("in_review", 0.05),
    "closed": ("closed", 0.20),
}
_SYLLABLES = (
    "ka", "ro", "mi", "sta", "len", "dor", "vi", "tal", "ber", "nes", "qua", "pri", "son",
    "war", "den", "cel", "lo", "fen", "gar", "ith", "ul", "bre", "mon", "sk", "ty", "ash",
)  # fmt: skip
_COMMON = (
    "the", "a", "to", "and", "of", "in", "he", "she", "they", "was", "is", "on", "at", "my",
    "me", "it", "that", "with", "for", "had", "have", "not", "prisoner", "prisoners", "wing",
    "cell", "staff", "told", "said", "again", "after", "when", "every", "week", "day",
    "morning", "evening", "shift", "landing", "door", "locked", "search", "phone", "drugs",
    "money", "canteen", "visit", "letter", "complaint", "threat", "hurt", "hit", "pushed",
    "shouted", "refused", "medication", "doctor", "nurse", "governor", "manager", "camera",
    "cctv", "afraid", "scared", "safe", "help", "please", "nobody", "everyone", "because",
)  # fmt: skip


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    made: set[str] = set()
    while len(made) < size - len(_COMMON):
        made.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    words = list(_COMMON) + sorted(made - set(_COMMON) - set(PLANTED) - {RARE, ABSENT})
    rng.shuffle(words[len(_COMMON) :])  # a fixed order; the common words stay first
    return words


@dataclass
class Generator:
    """Makes cases on demand; the same seed always makes the same cases."""

    seed: int = 2026
    today: datetime.date = datetime.date(2026, 11, 27)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - invented text, not secrets
        self.words = _vocabulary(self.rng)
        weights = [1 / (rank + 1) for rank in range(len(self.words))]
        self.cumulative = list(itertools.accumulate(weights))
        self.made = 0

    def text(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=count))

    def report(self) -> dict[str, Any]:
        rng = self.rng
        description = self.text(40, 120)
        planted = [word for word, p in PLANTED.items() if rng.random() < p]
        if self.made < RARE_CASES:
            planted.append(RARE)
        for word in planted:
            at = rng.randint(0, description.count(" "))
            parts = description.split(" ")
            parts.insert(at, word)
            description = " ".join(parts)
        category = rng.choice(sorted(CATEGORIES))
        return {
            "v": 1,
            "type": "report",
            "channel": rng.choice(("staff", "kiosk", "third_party")),
            "lang": "en",
            "category": category,
            "facility": rng.choice(PRISONS),
            "location": rng.choice(PLACES),
            "occurred": rng.choice(("last week", "most nights since June", "yesterday", "")),
            "description": description,
            "subjects": rng.choice(NAMES),
            "witnesses": rng.choice(("", "", rng.choice(NAMES))),
            "urgent": category == "self_harm_risk" or rng.random() < 0.04,
            "identity": None,
            "attachments": [],
            "reply_box_pk": "",
            "sent_on": self.today.isoformat(),
        }

    def case(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One `cases` row and its items' documents (report first), as plain values."""
        rng = self.rng
        report = self.report()
        self.made += 1
        received = self.today - datetime.timedelta(days=rng.randint(0, 3 * 365))
        stage = rng.choices(list(STAGES), weights=[w for _, w in STAGES.values()])[0]
        chain = DEFAULT_ROUTING.get(report["category"], ())
        routed = stage in ("routed", "investigating", "closed")
        key = rng.randbytes(32)
        row = {
            "id": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10)),
            "workflow": stage,
            "public_status": STAGES[stage][0],
            "category": report["category"],
            "facility": report["facility"],
            "urgent": report["urgent"],
            "unit": (chain[0] if chain else rng.choice(sorted(DEFAULT_UNITS))) if routed else None,
            "received_on": received,
            "portal_box_pk": key,
            "reply_box_pk": key,
            "severity": rng.choice(("low", "medium", "high")) if stage != "new" else None,
            "outcome": rng.choice(("substantiated", "unsubstantiated"))
            if stage == "closed"
            else None,
            "closed_on": received + datetime.timedelta(days=60) if stage == "closed" else None,
        }
        items = [report]
        if rng.random() < 0.3:
            message = {"v": 1, "type": "message", "text": self.text(10, 40), "attachments": []}
            if rng.random() < 0.3:
                message["attachments"] = [
                    {
                        "blob_id": f"gen{self.made:08d}",
                        "name": f"{rng.choice(FILES)}_{rng.randint(1, 9999)}.jpg",
                        "mime": "image/jpeg",
                        "size": rng.randint(10_000, 2_000_000),
                        "key": "",
                        "sha256": "",
                    }
                ]
            items.append(message)
        if rng.random() < 0.2:
            items.append({"v": 1, "type": "reply", "text": self.text(10, 30)})
        return row, items


def existing_cases(console: Console) -> int:
    with console.sessions() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


def generate(
    console: Console,
    generator: Generator,
    count: int,
    progress: Callable[[str], None],
    batch: int = 2000,
) -> None:
    """Write `count` more invented cases into the console's database, sealed."""
    done = 0
    for chunk in _chunks(count, batch):
        cases, items = [], []
        for _ in range(chunk):
            row, documents = generator.case()
            cases.append(row)
            for number, document in enumerate(documents):
                files = {
                    d["blob_id"]: "not kept: generated for the benchmark, no file exists"
                    for d in document.get("attachments", [])
                }
                content: dict[str, Any] = {"document": document}
                if document["type"] != "reply":
                    content |= {"files": files, "portal_on": row["received_on"].isoformat()}
                items.append(
                    {
                        "id": f"gen-{row['id']}-{number}",
                        "case_id": row["id"],
                        "kind": "report" if number == 0 else document["type"],
                        "content": console._seal(content),
                        "on": row["received_on"] + datetime.timedelta(days=number),
                    }
                )
        with console.sessions() as session:
            session.execute(insert(Case), cases)
            session.execute(insert(Item), items)
            session.commit()
        done += chunk
        progress(f"generated {done:,} of {count:,} cases")


def _chunks(total: int, size: int) -> Iterator[int]:
    while total > 0:
        yield min(size, total)
        total -= size
