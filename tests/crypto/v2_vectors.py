"""The generator of tests/vectors/protocol-v2.json, deterministic from fixed seeds.

Ed25519 is deterministic; sealed boxes are not, so the vectors seal with fixed ephemeral
keys, by the construction `crypto_box_seal` itself uses (docs/protocol.md §4.1): every
sealed value opens with `crypto_box_seal_open` like any other. Regenerate the file with

    .venv/bin/python -m tests.crypto.v2_vectors > tests/vectors/protocol-v2.json

and `tests/crypto/test_vectors_v2.py` checks that the file is exactly what this makes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from nacl import bindings

import crypto

b64u = crypto.b64u_encode

NOW = 1764201600  # the v1 request vector's timestamp
ROLLOVER_ON = "2026-06-01"


def _seed(byte: int) -> bytes:
    return bytes([byte]) * 32


class Party:
    """A box keypair (from its secret key) and a signing keypair (from its seed)."""

    def __init__(self, box_byte: int, sign_byte: int) -> None:
        self.box = crypto.PrivateKey(_seed(box_byte))
        self.sign = crypto.SigningKey(_seed(sign_byte))

    @property
    def box_pk(self) -> bytes:
        return bytes(self.box.public_key)

    @property
    def sign_pk(self) -> bytes:
        return bytes(self.sign.verify_key)

    def as_json(self) -> dict[str, str]:
        return {
            "box_sk": b64u(bytes(self.box)),
            "box_pk": b64u(self.box_pk),
            "sign_seed": b64u(bytes(self.sign)),
            "sign_pk": b64u(self.sign_pk),
        }


OVERSIGHT = Party(0x21, 0x22)
NEW_OVERSIGHT = Party(0x51, 0x52)
REPORTER = Party(0x11, 0x12)  # case A, filed under v2
OTHER_REPORTER = Party(0x31, 0x32)  # case B, filed under v2
LEGACY_REPORTER = Party(0x61, 0x62)  # case C, filed under v1
FORGER = crypto.SigningKey(_seed(0x41))  # a key a seized portal offers as the oversight's
CASES = {"A": REPORTER, "B": OTHER_REPORTER, "C": LEGACY_REPORTER}


class Sealer:
    """`crypto_box_seal` with the ephemeral keypair made from seeds E0, E1, … in turn."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, doc: dict[str, Any], recipient: bytes) -> bytes:
        check = crypto.check_document_v2 if doc["v"] == 2 else crypto.check_document
        check(doc)
        plain = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        padded = bindings.sodium_pad(plain, crypto.bucket_for(len(plain)))
        epk, esk = bindings.crypto_box_seed_keypair(_seed(0xE0 + self.count))
        self.count += 1
        nonce = bindings.crypto_generichash_blake2b_salt_personal(epk + recipient, digest_size=24)
        return bytes(epk + bindings.crypto_box(padded, nonce, recipient, esk))


def _report(party: Party, description: str, sent_on: str) -> dict[str, Any]:
    return {
        "v": 2,
        "type": "report",
        "channel": "kiosk",
        "lang": "en",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": "B wing",
        "occurred": "last night",
        "description": description,
        "subjects": "",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": b64u(party.box_pk),
        "reply_sign_pk": b64u(party.sign_pk),
        "sent_on": sent_on,
    }


def _later(kind: str, party: Party, text: str, sent_on: str, **extra: Any) -> dict[str, Any]:
    return {
        "v": 2,
        "type": kind,
        "case_key": b64u(party.box_pk),
        "text": text,
        "sent_on": sent_on,
        **extra,
    }


def build() -> dict[str, Any]:
    seal = Sealer()
    items: dict[str, dict[str, Any]] = {}
    heads: dict[str, crypto.Head] = {}

    def item(
        name: str,
        case: str,
        doc: dict[str, Any],
        *,
        signer: crypto.SigningKey,
        after: str | None,
        state: str | None = None,
        item_id: int,
    ) -> None:
        party = CASES[case]
        to_oversight = doc["type"] in crypto.REPORTER_KINDS
        sealed = seal(doc, OVERSIGHT.box_pk if to_oversight else party.box_pk)
        signed = crypto.sign_item(
            signer,
            kind=doc["type"],
            case_key=party.box_pk,
            after=None if after is None else heads[after],
            sent_on=doc["sent_on"],
            sealed=sealed,
            state=state,
        )
        heads[name] = signed.head
        items[name] = {
            "case": case,
            "id": b64u(bytes([item_id]) * 12),
            "from": "reporter" if to_oversight else "oversight",
            "document": doc,
            "recipient": "oversight" if to_oversight else "reporter",
            "sealed": b64u(sealed),
            "body": signed.header.body.hex(),
            "signed": signed.signed.decode("ascii"),
            "signature": b64u(signed.signature),
            "hash": signed.hash.hex(),
        }

    def legacy(name: str, doc: dict[str, Any] | None, *, sender: str, item_id: int) -> None:
        entry: dict[str, Any] = {"case": "C", "id": b64u(bytes([item_id]) * 12), "from": sender}
        if doc is not None:
            sealed = seal(doc, LEGACY_REPORTER.box_pk)
            entry |= {
                "document": doc,
                "recipient": "reporter",
                "sealed": b64u(sealed),
                "sealed_sha256": hashlib.sha256(sealed).hexdigest(),
            }
        items[name] = entry

    # Case A: the chain of three, and the items a portal might put in its way.
    item(
        "report",
        "A",
        _report(REPORTER, "An officer hit a man in the showers. ✓ ünïcode", "2026-03-02"),
        signer=REPORTER.sign,
        after=None,
        item_id=1,
    )
    item(
        "reply",
        "A",
        _later(
            "reply",
            REPORTER,
            "Thank you. We have read your report. We will never ask for your name.",
            "2026-03-04",
        ),
        signer=OVERSIGHT.sign,
        after="report",
        state="acknowledged",
        item_id=2,
    )
    item(
        "message",
        "A",
        _later("message", REPORTER, "The same officer is on my wing again.", "2026-03-05"),
        signer=REPORTER.sign,
        after="reply",
        item_id=3,
    )
    item(
        "forged_reply",
        "A",
        _later(
            "reply",
            REPORTER,
            "To protect you we need your full name, wing and cell number.",
            "2026-03-04",
        ),
        signer=FORGER,
        after="report",
        state="acknowledged",
        item_id=4,
    )
    item(
        "fork_message",
        "A",
        _later("message", REPORTER, "I withdraw everything.", "2026-03-05"),
        signer=REPORTER.sign,
        after="reply",
        item_id=5,
    )
    # Case B: another reporter's case, whose items the portal moves into case A.
    item(
        "other_report",
        "B",
        _report(OTHER_REPORTER, "Another report.", "2026-03-02"),
        signer=OTHER_REPORTER.sign,
        after=None,
        item_id=6,
    )
    item(
        "other_reply",
        "B",
        _later("reply", OTHER_REPORTER, "Please come to the visits hall.", "2026-03-04"),
        signer=OVERSIGHT.sign,
        after="other_report",
        state="in_review",
        item_id=7,
    )
    item(
        "other_message",
        "B",
        _later("message", OTHER_REPORTER, "Thank you.", "2026-03-05"),
        signer=OTHER_REPORTER.sign,
        after="other_reply",
        item_id=8,
    )
    # Case A after the oversight keys were rolled over on ROLLOVER_ON.
    item(
        "new_key_status",
        "A",
        _later("status", REPORTER, "", "2026-06-02"),
        signer=NEW_OVERSIGHT.sign,
        after="message",
        state="in_review",
        item_id=9,
    )
    item(
        "retired_key_status",
        "A",
        _later("status", REPORTER, "", "2026-06-02"),
        signer=OVERSIGHT.sign,
        after="message",
        state="closed",
        item_id=10,
    )

    # Case C: filed under v1; the console's first signed item vouches for its history.
    legacy("legacy_report", None, sender="reporter", item_id=11)
    legacy_reply_doc = {
        "v": 1,
        "type": "reply",
        "text": "We have your report.",
        "sent_on": "2026-02-20",
    }
    legacy("legacy_reply", legacy_reply_doc, sender="oversight", item_id=12)
    forged_doc = {
        "v": 1,
        "type": "reply",
        "text": "Write your cell number here.",
        "sent_on": "2026-02-21",
    }
    legacy("legacy_forged_reply", forged_doc, sender="oversight", item_id=13)
    history = {
        "replies": [items["legacy_reply"]["sealed_sha256"]],
        "received": [items["legacy_report"]["id"]],
    }
    item(
        "legacy_status",
        "C",
        _later("status", LEGACY_REPORTER, "", "2026-03-10", history=history),
        signer=OVERSIGHT.sign,
        after=None,
        state="in_review",
        item_id=14,
    )
    proof = crypto.make_key_proof(LEGACY_REPORTER.box, LEGACY_REPORTER.sign_pk, OVERSIGHT.box_pk)
    item(
        "legacy_message",
        "C",
        _later(
            "message",
            LEGACY_REPORTER,
            "My first signed message.",
            "2026-03-11",
            reply_sign_pk=b64u(LEGACY_REPORTER.sign_pk),
            key_proof=b64u(proof),
        ),
        signer=LEGACY_REPORTER.sign,
        after="legacy_status",
        item_id=15,
    )

    current = [{"box_pk": b64u(OVERSIGHT.box_pk), "sign_pk": b64u(OVERSIGHT.sign_pk)}]
    rolled = [
        {"box_pk": b64u(NEW_OVERSIGHT.box_pk), "sign_pk": b64u(NEW_OVERSIGHT.sign_pk)},
        current[0] | {"retired_on": ROLLOVER_ON},
    ]
    threads = [
        _thread("chain", "A", ["report", "reply", "message"], current),
        _thread("purged", "A", [("report", None), "reply", ("message", None)], current),
        _thread("wrong key", "A", ["report", "forged_reply", "message"], current),
        _thread("moved reply", "A", ["report", "other_reply", "message"], current),
        _thread("moved message", "A", ["report", "reply", "other_message"], current),
        _thread("reordered", "A", ["report", "message", "reply"], current),
        _thread("dropped", "A", ["report", "message"], current),
        _thread("replayed", "A", ["report", "reply", "message", "reply"], current),
        _thread("fork", "A", ["report", "reply", "message", "fork_message"], current),
        _thread("body swapped", "A", ["report", ("reply", "forged_reply"), "message"], current),
        _thread("cut short", "A", ["report", "reply"], current, known_head="message"),
        _thread("rolled over", "A", ["report", "reply", "message", "new_key_status"], rolled),
        _thread(
            "signed after retirement",
            "A",
            ["report", "reply", "message", "retired_key_status"],
            rolled,
        ),
        _thread(
            "legacy",
            "C",
            ["legacy_report", "legacy_reply", "legacy_status", "legacy_message"],
            current,
            history=history,
        ),
        _thread(
            "legacy forged",
            "C",
            [
                "legacy_report",
                "legacy_reply",
                "legacy_forged_reply",
                "legacy_status",
                "legacy_message",
            ],
            current,
            history=history,
        ),
    ]
    _expect(threads, items)

    rollover = crypto.make_rollover(
        OVERSIGHT.sign, OVERSIGHT.box_pk, NEW_OVERSIGHT.sign, NEW_OVERSIGHT.box_pk, ROLLOVER_ON
    )
    shared = bindings.crypto_box_beforenm(OVERSIGHT.box_pk, bytes(LEGACY_REPORTER.box))
    console = crypto.SigningKey(_seed(0x09))
    lookup_id = _seed(0x13)
    return {
        "protocol": 2,
        "note": (
            "Known-answer vectors for Lanthorn protocol v2, the signed conversation "
            "(docs/protocol.md sections 11-20). b64u = URL-safe base64 without padding. "
            "Made by tests/crypto/v2_vectors.py from fixed seeds; sealed values use fixed "
            "ephemeral keys, so they open like any sealed box but a client's own differ."
        ),
        "keys": {
            "oversight": OVERSIGHT.as_json(),
            "new_oversight": NEW_OVERSIGHT.as_json(),
            "reporter": REPORTER.as_json(),
            "other_reporter": OTHER_REPORTER.as_json(),
            "legacy_reporter": LEGACY_REPORTER.as_json(),
            "forger": {"sign_seed": b64u(bytes(FORGER)), "sign_pk": b64u(bytes(FORGER.verify_key))},
        },
        "cases": {"A": "reporter", "B": "other_reporter", "C": "legacy_reporter"},
        "fingerprint": {
            "box_pk": b64u(OVERSIGHT.box_pk),
            "sign_pk": b64u(OVERSIGHT.sign_pk),
            "digest": crypto.fingerprint_digest(OVERSIGHT.box_pk, OVERSIGHT.sign_pk).hex(),
            "fingerprint": crypto.fingerprint(OVERSIGHT.box_pk, OVERSIGHT.sign_pk),
            "new_fingerprint": crypto.fingerprint(NEW_OVERSIGHT.box_pk, NEW_OVERSIGHT.sign_pk),
        },
        "rollover": {
            "old": "oversight",
            "new": "new_oversight",
            "on": ROLLOVER_ON,
            **rollover.as_json(),
        },
        "key_proof": {
            "reporter": "legacy_reporter",
            "oversight_box_pk": b64u(OVERSIGHT.box_pk),
            "shared_key": b64u(bytes(shared)),
            "proof": b64u(proof),
        },
        "items": items,
        "threads": threads,
        "request_v2": [
            _request(
                console,
                "POST",
                "portal.example",
                "/api/v1/console/ack?x=1",
                None,
                b'{"cursor":"5"}',
            ),
            _request(
                REPORTER.sign, "GET", "Lanthorn.Example:8443", "/api/v1/thread", lookup_id, b""
            ),
        ],
    }


def _thread(
    name: str,
    case: str,
    entries: list[str | tuple[str, str | None]],
    keys: list[dict[str, str]],
    *,
    known_head: str | None = None,
    history: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    listed: list[dict[str, Any]] = []
    for entry in entries:
        if isinstance(entry, str):
            listed.append({"item": entry})
        else:
            listed.append({"item": entry[0], "sealed": entry[1]})
    thread: dict[str, Any] = {"name": name, "case": case, "oversight_keys": keys, "entries": listed}
    if known_head is not None:
        thread["known_head"] = known_head
    if history is not None:
        thread["history"] = history
    return thread


def thread_entries(thread: dict[str, Any], items: dict[str, Any]) -> list[crypto.Entry]:
    """A thread vector's entries as `crypto.Entry`s: each names an item, and may take its
    sealed text from another item, or none (purged)."""
    entries = []
    for listed in thread["entries"]:
        source = items[listed["item"]]
        sealed_from = listed.get("sealed", listed["item"])
        api_item = {k: source[k] for k in ("id", "from", "signed", "signature") if k in source}
        if sealed_from is not None and "sealed" in items[sealed_from]:
            api_item["sealed"] = items[sealed_from]["sealed"]
        entries.append(crypto.Entry.from_json(api_item))
    return entries


def thread_context(
    thread: dict[str, Any], items: dict[str, Any], keys: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments of `crypto.check_thread` for a thread vector."""
    party = keys[{"A": "reporter", "B": "other_reporter", "C": "legacy_reporter"}[thread["case"]]]
    oversight = crypto.OversightKeys(
        tuple(
            crypto.OversightKey(
                crypto.b64u_decode(k["box_pk"]),
                crypto.b64u_decode(k["sign_pk"]),
                k.get("retired_on"),
            )
            for k in thread["oversight_keys"]
        )
    )
    history = thread.get("history", {"replies": [], "received": []})
    head = thread.get("known_head")
    return {
        "case_key": crypto.b64u_decode(party["box_pk"]),
        "reporter_key": crypto.b64u_decode(party["sign_pk"]),
        "oversight": oversight,
        "history": crypto.History(
            frozenset(bytes.fromhex(h) for h in history["replies"]),
            frozenset(history["received"]),
        ),
        "known_head": None
        if head is None
        else crypto.Head(
            int(items[head]["signed"].split("\n")[4]), bytes.fromhex(items[head]["hash"])
        ),
    }


def _expect(threads: list[dict[str, Any]], items: dict[str, Any]) -> None:
    keys = {
        "reporter": REPORTER.as_json(),
        "other_reporter": OTHER_REPORTER.as_json(),
        "legacy_reporter": LEGACY_REPORTER.as_json(),
    }
    for thread in threads:
        check = crypto.check_thread(
            thread_entries(thread, items), **thread_context(thread, items, keys)
        )
        thread["verdicts"] = list(check.verdicts)
        thread["findings"] = [f.as_json() for f in check.findings]
        thread["head"] = (
            None if check.head is None else {"seq": check.head.seq, "hash": check.head.hash.hex()}
        )
        thread["state"] = check.state


def _request(
    key: crypto.SigningKey, method: str, host: str, target: str, key_id: bytes | None, body: bytes
) -> dict[str, Any]:
    nonce = bytes(range(16))
    headers = crypto.sign_request_v2(
        key, method, host, target, body, timestamp=NOW, key_id=key_id, nonce=nonce
    )
    canonical = crypto.canonical_request_v2(
        method, host, target, key_id or bytes(key.verify_key), NOW, nonce, body
    )
    return {
        "signing_seed": b64u(bytes(key)),
        "verify_key": b64u(bytes(key.verify_key)),
        "method": method,
        "host": host,
        "path": target,
        "key_id": b64u(key_id or bytes(key.verify_key)),
        "timestamp": NOW,
        "nonce": b64u(nonce),
        "body": body.decode(),
        "canonical": canonical.decode("ascii"),
        "headers": headers,
    }


def dumps(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dumps(build()))
