"""docs/protocol.md quotes vector values byte for byte: every value it quotes is the
vector files' own, and the values a client needs to check itself against are all quoted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROOT, VECTORS, load_vectors

DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
V2_DOC = DOC[DOC.index("# Protocol v2") :]
V1 = load_vectors()
V2: dict[str, Any] = json.loads((VECTORS / "protocol-v2.json").read_text(encoding="utf-8"))

_EDGE = r"(?<![A-Za-z0-9_-]){}(?![A-Za-z0-9_-])"
#: What a quoted value looks like: b64u of 32 or 64 bytes, hex SHA-256, a fingerprint.
QUOTED = [
    re.compile(_EDGE.format(r"[A-Za-z0-9_-]{43}")),
    re.compile(_EDGE.format(r"[A-Za-z0-9_-]{86}")),
    re.compile(_EDGE.format(r"[0-9a-f]{64}")),
    re.compile(r"\b[0-9A-Z]{4}(?: [0-9A-Z]{4}){4}\b"),
]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        yield from value.split()
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_every_value_the_v2_sections_quote_is_in_the_vectors() -> None:
    known = set(strings(V2))
    quoted = {m for pattern in QUOTED for m in pattern.findall(V2_DOC)}
    assert quoted, "the v2 sections quote vector values"
    assert sorted(quoted - known) == []


def compact(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def v2_values() -> Iterator[tuple[str, str]]:
    fp = V2["fingerprint"]
    for field in ("box_pk", "sign_pk", "digest", "fingerprint", "new_fingerprint"):
        yield f"fingerprint.{field}", fp[field]
    for field in ("statement", "old_signature", "new_signature"):
        yield f"rollover.{field}", V2["rollover"][field]
    for field in ("shared_key", "proof"):
        yield f"key_proof.{field}", V2["key_proof"][field]
    for name, party in V2["keys"].items():
        for field in ("box_pk", "sign_pk"):
            if field in party:
                yield f"keys.{name}.{field}", party[field]
    items = V2["items"]
    for name in ("report", "reply", "message"):
        for field in ("signature", "hash"):
            yield f"items.{name}.{field}", items[name][field]
        yield f"items.{name}.sealed", items[name]["sealed"][:16] + "…"
    for name in ("report", "reply", "message", "legacy_status", "legacy_message"):
        yield f"items.{name}.signed", items[name]["signed"]
        yield f"items.{name}.document", compact(items[name]["document"])
    yield "items.legacy_reply.sealed_sha256", items["legacy_reply"]["sealed_sha256"]
    yield "items.legacy_report.id", items["legacy_report"]["id"]
    for i, request in enumerate(V2["request_v2"]):
        yield f"request_v2[{i}].canonical", request["canonical"]
        signature = request["headers"]["Lanthorn-Signature"]
        yield f"request_v2[{i}].signature", f"Lanthorn-Signature: {signature}"
    for thread in V2["threads"]:
        yield f"threads[{thread['name']}]", f"\n| {thread['name']} |"


@pytest.mark.parametrize(("where", "value"), list(v2_values()), ids=lambda x: x)
def test_the_v2_sections_quote_the_vectors(where: str, value: str) -> None:
    assert value in V2_DOC, where


def v1_values() -> Iterator[tuple[str, str]]:
    kdf = V1["kdf"][0]
    for field in ("salt", "master", "lookup_id", "box_sk", "box_pk", "sign_pk"):
        yield f"kdf[0].{field}", kdf[field]
    sealed = V1["sealed"]
    yield "sealed.recipient_sk", sealed["recipient_sk"]
    yield "sealed.recipient_pk", sealed["recipient_pk"]
    yield "sealed.sealed", sealed["sealed"][:16] + "…"
    for field in ("key", "plaintext_sha256", "stored_sha256"):
        yield f"blob.{field}", V1["blob"][field]
    request = V1["request_signature"]
    for field in ("signing_seed", "verify_key", "canonical", "signature", "nonce"):
        yield f"request_signature.{field}", request[field]
    for case in V1["damm"]:
        if case["digits19"] != "5724000000000000000":  # in the file, not in the table
            yield f"damm.{case['digits19']}", f"| `{case['digits19']}` | {case['check']} |"


@pytest.mark.parametrize(("where", "value"), list(v1_values()), ids=lambda x: x)
def test_the_v1_sections_quote_the_vectors(where: str, value: str) -> None:
    assert value in DOC[: DOC.index("# Protocol v2")], where
