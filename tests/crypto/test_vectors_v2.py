"""Every known-answer vector of protocol v2 (tests/vectors/protocol-v2.json), checked
against crypto/ one value at a time, and the file itself against its generator."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

import crypto
from tests.conftest import VECTORS

from . import v2_vectors

V: dict[str, Any] = json.loads((VECTORS / "protocol-v2.json").read_text(encoding="utf-8"))
KEYS = V["keys"]
ITEMS = V["items"]
SIGNED_ITEMS = sorted(name for name, item in ITEMS.items() if "signed" in item)


def key(name: str, part: str) -> bytes:
    return crypto.b64u_decode(KEYS[name][part], length=32)


def test_the_file_is_exactly_what_the_generator_makes() -> None:
    assert (VECTORS / "protocol-v2.json").read_text(encoding="utf-8") == v2_vectors.dumps(
        v2_vectors.build()
    )


@pytest.mark.parametrize("name", sorted(KEYS))
def test_keys(name: str) -> None:
    party = KEYS[name]
    sign = crypto.SigningKey(crypto.b64u_decode(party["sign_seed"], length=32))
    assert crypto.b64u_encode(bytes(sign.verify_key)) == party["sign_pk"]
    if "box_sk" in party:
        box = crypto.PrivateKey(crypto.b64u_decode(party["box_sk"], length=32))
        assert crypto.b64u_encode(bytes(box.public_key)) == party["box_pk"]


def test_fingerprint() -> None:
    case = V["fingerprint"]
    box_pk, sign_pk = (crypto.b64u_decode(case[k]) for k in ("box_pk", "sign_pk"))
    label = b"lanthorn/v2/fingerprint\n"
    assert hashlib.sha256(label + box_pk + sign_pk).hexdigest() == case["digest"]
    assert crypto.fingerprint_digest(box_pk, sign_pk).hex() == case["digest"]
    assert crypto.fingerprint(box_pk, sign_pk) == case["fingerprint"]
    # By hand: the first 100 bits of the digest, 5 bits a character, Crockford's alphabet.
    bits = bin(int(case["digest"], 16))[2:].zfill(256)[:100]
    chars = "".join(
        "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[int(bits[i : i + 5], 2)] for i in range(0, 100, 5)
    )
    assert case["fingerprint"].replace(" ", "") == chars
    new = (key("new_oversight", "box_pk"), key("new_oversight", "sign_pk"))
    assert crypto.fingerprint(*new) == case["new_fingerprint"]


def test_rollover() -> None:
    case = V["rollover"]
    statement = case["statement"].encode("ascii")
    rollover = crypto.parse_rollover(
        statement,
        crypto.b64u_decode(case["old_signature"]),
        crypto.b64u_decode(case["new_signature"]),
    )
    old, new = case["old"], case["new"]
    assert statement.decode().split("\n") == [
        "lanthorn/v2/rollover",
        KEYS[old]["box_pk"],
        KEYS[old]["sign_pk"],
        KEYS[new]["box_pk"],
        KEYS[new]["sign_pk"],
        case["on"],
    ]
    remade = crypto.make_rollover(
        crypto.SigningKey(crypto.b64u_decode(KEYS[old]["sign_seed"])),
        key(old, "box_pk"),
        crypto.SigningKey(crypto.b64u_decode(KEYS[new]["sign_seed"])),
        key(new, "box_pk"),
        case["on"],
    )
    assert remade.as_json() == {k: case[k] for k in ("statement", "old_signature", "new_signature")}
    # A client that pinned the old fingerprint reaches the new keys, and is told when.
    resolved = crypto.resolve_oversight_keys(
        key(new, "box_pk"), key(new, "sign_pk"), [rollover], pinned=V["fingerprint"]["fingerprint"]
    )
    assert resolved.changed_on == case["on"]
    assert [k.retired_on for k in resolved.keys.keys] == [None, case["on"]]


def test_key_proof() -> None:
    case = V["key_proof"]
    reporter = KEYS[case["reporter"]]
    box = crypto.PrivateKey(crypto.b64u_decode(reporter["box_sk"]))
    sign_pk = crypto.b64u_decode(reporter["sign_pk"])
    oversight_pk = crypto.b64u_decode(case["oversight_box_pk"])
    proof = crypto.make_key_proof(box, sign_pk, oversight_pk)
    assert crypto.b64u_encode(proof) == case["proof"]
    # By hand: keyed BLAKE2b-256 under the crypto_box_beforenm key.
    shared = crypto.b64u_decode(case["shared_key"])
    message = b"lanthorn/v2/key-proof\n" + bytes(box.public_key) + sign_pk + oversight_pk
    assert hashlib.blake2b(message, key=shared, digest_size=32).digest() == proof
    oversight = crypto.PrivateKey(crypto.b64u_decode(KEYS["oversight"]["box_sk"]))
    assert crypto.check_key_proof(proof, bytes(box.public_key), sign_pk, [oversight])


def _signer_key(signer: str) -> crypto.SigningKey:
    for party in KEYS.values():
        if party["sign_pk"] == signer:
            return crypto.SigningKey(crypto.b64u_decode(party["sign_seed"]))
    raise AssertionError(f"no vector key signs as {signer}")


@pytest.mark.parametrize("name", SIGNED_ITEMS)
def test_signed_item(name: str) -> None:
    item = ITEMS[name]
    signed = item["signed"].encode("ascii")
    sealed = crypto.b64u_decode(item["sealed"])
    header = crypto.parse_item(signed)
    lines = item["signed"].split("\n")
    assert len(lines) == 9
    assert lines[0] == "lanthorn/v2/item"
    assert hashlib.sha256(signed).hexdigest() == item["hash"]
    assert hashlib.sha256(sealed).hexdigest() == item["body"] == header.body.hex()
    document = item["document"]
    assert header.kind == document["type"]
    assert header.sent_on == document["sent_on"]
    case_key = KEYS[V["cases"][item["case"]]]["box_pk"]
    assert crypto.b64u_encode(header.case_key) == case_key
    # Ed25519 is deterministic: signing the same header again gives the same signature.
    signer = _signer_key(lines[8])
    resigned = crypto.sign_item(
        signer,
        kind=header.kind,
        case_key=header.case_key,
        after=None if header.seq == 0 else crypto.Head(header.seq - 1, header.prev),
        sent_on=header.sent_on,
        sealed=sealed,
        state=header.state,
    )
    assert resigned.signed == signed
    assert crypto.b64u_encode(resigned.signature) == item["signature"]
    # The sealed document opens, with its recipient's key, to exactly the vector document.
    recipient = "oversight" if item["recipient"] == "oversight" else V["cases"][item["case"]]
    box = crypto.PrivateKey(crypto.b64u_decode(KEYS[recipient]["box_sk"]))
    assert crypto.open_item(sealed, box, header) == document


def test_the_chain_of_three_links_by_hash() -> None:
    report, reply, message = (
        crypto.parse_item(ITEMS[n]["signed"].encode()) for n in ("report", "reply", "message")
    )
    assert (report.seq, report.prev) == (0, bytes(32))
    assert (reply.seq, reply.prev.hex()) == (1, ITEMS["report"]["hash"])
    assert (message.seq, message.prev.hex()) == (2, ITEMS["reply"]["hash"])
    assert (report.state, reply.state, message.state) == (None, "acknowledged", None)


@pytest.mark.parametrize("thread", V["threads"], ids=lambda t: t["name"])
def test_thread(thread: dict[str, Any]) -> None:
    check = crypto.check_thread(
        v2_vectors.thread_entries(thread, ITEMS), **v2_vectors.thread_context(thread, ITEMS, KEYS)
    )
    assert list(check.verdicts) == thread["verdicts"]
    # The order of findings is not part of the protocol: compare them as sets.
    got = {json.dumps(f.as_json(), sort_keys=True) for f in check.findings}
    assert got == {json.dumps(f, sort_keys=True) for f in thread["findings"]}
    head = None if check.head is None else {"seq": check.head.seq, "hash": check.head.hash.hex()}
    assert head == thread["head"]
    assert check.state == thread["state"]


def test_every_way_to_break_the_chain_has_a_vector() -> None:
    kinds = {f["kind"] for t in V["threads"] for f in t["findings"]}
    assert kinds == {"forged", "moved", "out_of_order", "gap", "replay", "fork", "unvouched"}
    assert [t for t in V["threads"] if t["name"] == "chain"][0]["findings"] == []


@pytest.mark.parametrize("case", V["request_v2"], ids=lambda c: c["method"])
def test_request_v2(case: dict[str, Any]) -> None:
    key = crypto.SigningKey(crypto.b64u_decode(case["signing_seed"]))
    assert crypto.b64u_encode(bytes(key.verify_key)) == case["verify_key"]
    key_id = crypto.b64u_decode(case["key_id"])
    nonce = crypto.b64u_decode(case["nonce"])
    body = case["body"].encode()
    canonical = crypto.canonical_request_v2(
        case["method"], case["host"], case["path"], key_id, case["timestamp"], nonce, body
    )
    assert canonical.decode() == case["canonical"]
    headers = crypto.sign_request_v2(
        key,
        case["method"],
        case["host"],
        case["path"],
        body,
        timestamp=case["timestamp"],
        key_id=key_id,
        nonce=nonce,
    )
    assert headers == case["headers"]
    assert (
        crypto.verify_request_v2(
            headers,
            case["method"],
            case["host"],
            case["path"],
            body,
            hosts=[case["host"].lower()],
            now=case["timestamp"],
            resolve_key=lambda k: key.verify_key if k == key_id else None,
            nonces=crypto.MemoryNonceStore(lambda: case["timestamp"]),
        )
        == key_id
    )
