"""Protocol v2 in a real browser: lanthorn-protocol.js passes every vector of
tests/vectors/protocol-v2.json in Chromium, agrees with `crypto/` where the vectors leave
off, and refuses what `crypto/` refuses (docs/protocol.md §11–§20)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser

import crypto
from portal.security import BROWSER_CRYPTO_CSP
from tests.conftest import CHEAP_KDF, VECTORS, needs_chromium
from tests.triage.conftest import console_settings, pair  # noqa: F401 - fixtures used here
from triage.console import Console

from .conftest import Portal
from .test_api import report_document, submission
from .test_browser_protocol import Js, open_js, page_route, site  # noqa: F401 - a fixture

pytestmark = needs_chromium

V: dict[str, Any] = json.loads((VECTORS / "protocol-v2.json").read_text(encoding="utf-8"))
KEYS = V["keys"]
ITEMS = V["items"]
b64u = crypto.b64u_encode


@pytest.fixture(scope="module")
def js(browser: Browser, site: str) -> Iterator[Js]:  # noqa: F811
    page, context = open_js(browser, site)
    yield page
    context.close()


def generations(thread: dict[str, Any]) -> list[dict[str, Any]]:
    """A thread vector's oversight keys as the JS takes resolved keys."""
    return thread["oversight_keys"]


# The JS helpers each test uses: resolved keys from a vector's list, entries from items.
SETUP = """
const gen = (list) => ({keys: list.map(k => ({box: k.box_pk, sign: k.sign_pk,
    retiredOn: k.retired_on || null}))});
const entry = (e) => {
  const item = arg.items[e.item];
  const sealedFrom = 'sealed' in e ? (e.sealed === null ? null : arg.items[e.sealed]) : item;
  return {signed: 'signed' in item ? item.signed : null,
          signature: 'signature' in item ? P.fromB64u(item.signature) : new Uint8Array(0),
          sealed: sealedFrom && sealedFrom.sealed ? P.fromB64u(sealedFrom.sealed) : null,
          id: item.id, from: item.from};
};
"""


def test_fingerprint_vector(js: Js) -> None:
    case = V["fingerprint"]
    new = KEYS["new_oversight"]
    got = js.run(
        """const c = arg.c;
        return [P.b64u(P.fingerprintDigest(P.fromB64u(c.box_pk), P.fromB64u(c.sign_pk))),
                P.fingerprint(P.fromB64u(c.box_pk), P.fromB64u(c.sign_pk)),
                P.fingerprint(P.fromB64u(arg.n.box_pk), P.fromB64u(arg.n.sign_pk))];""",
        {"c": case, "n": new},
    )
    assert crypto.b64u_decode(got[0]).hex() == case["digest"]
    assert got[1] == case["fingerprint"]
    assert got[2] == case["new_fingerprint"]


@pytest.mark.parametrize(
    "typed",
    ["tmfe-myft-z6s7-vv73-5mdr", "TMFEMYFTZ6S7VV735MDR", " tmfe myft z6s7 vv73 5mdr "],
)
def test_a_typed_fingerprint_reads_as_python_reads_it(js: Js, typed: str) -> None:
    got = js.run("return P.normalizeFingerprint(arg);", typed)
    assert got == crypto.normalize_fingerprint(typed) == V["fingerprint"]["fingerprint"]


@pytest.mark.parametrize(
    "typed",
    ["0I1L OOOO 0000 0000 0000", "oill-oooo-0000-0000-0000"],
)
def test_o_reads_as_zero_and_i_l_as_one(js: Js, typed: str) -> None:
    assert js.run("return P.normalizeFingerprint(arg);", typed) == crypto.normalize_fingerprint(
        typed
    )


@pytest.mark.parametrize(
    "typed",
    ["TMFE MYFT Z6S7 VV73 5MD", "TMFE MYFT Z6S7 VV73 5MDRX", "UMFE MYFT Z6S7 VV73 5MDR", ""],
)
def test_what_is_not_a_fingerprint_is_refused(js: Js, typed: str) -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        crypto.normalize_fingerprint(typed)
    assert js.error("P.normalizeFingerprint(arg);", typed)["code"] == "bad_fingerprint"


def rollover_json() -> dict[str, str]:
    return {k: V["rollover"][k] for k in ("statement", "old_signature", "new_signature")}


def test_rollover_vector(js: Js) -> None:
    new, old = KEYS["new_oversight"], KEYS["oversight"]
    got = js.run(
        """const r = P.parseRollover(arg.r);
        const cur = [P.fromB64u(arg.new.box_pk), P.fromB64u(arg.new.sign_pk)];
        const pinnedOld = P.resolveOversightKeys(cur[0], cur[1], [arg.r], arg.oldFp);
        const pinnedNew = P.resolveOversightKeys(cur[0], cur[1], [arg.r], arg.newFp);
        const unpinned = P.resolveOversightKeys(cur[0], cur[1], [arg.r], null);
        return {old: [r.old.box, r.old.sign, r.old.retiredOn], new: [r.new.box, r.new.sign],
                on: r.on, changed: pinnedOld.changedOn, pinned: pinnedOld.pinned,
                retired: pinnedOld.keys.map(k => k.retiredOn), newChanged: pinnedNew.changedOn,
                unpinned: [unpinned.pinned, unpinned.current.fingerprint]};""",
        {
            "r": rollover_json(),
            "new": new,
            "oldFp": V["fingerprint"]["fingerprint"].lower().replace(" ", "-"),
            "newFp": V["fingerprint"]["new_fingerprint"],
        },
    )
    assert got["old"] == [old["box_pk"], old["sign_pk"], "2026-06-01"]
    assert got["new"] == [new["box_pk"], new["sign_pk"]]
    assert got["on"] == got["changed"] == V["rollover"]["on"]
    assert got["pinned"] is True
    assert got["retired"] == [None, "2026-06-01"]
    assert got["newChanged"] is None
    assert got["unpinned"] == [False, V["fingerprint"]["new_fingerprint"]]


def flip(text: str) -> str:
    """The same b64u value with its first character changed."""
    return ("B" if text[0] == "A" else "A") + text[1:]


@pytest.mark.parametrize(
    "change",
    ["old_signature", "new_signature", "statement_crlf", "statement_date", "swapped", "long"],
)
def test_a_rollover_that_does_not_verify_is_refused(js: Js, change: str) -> None:
    r = rollover_json()
    if change in ("old_signature", "new_signature"):
        r[change] = flip(r[change])
    elif change == "statement_crlf":
        r["statement"] = r["statement"].replace("\n", "\r\n")
    elif change == "statement_date":
        r["statement"] = r["statement"].replace("2026-06-01", "2026-06-02")
    elif change == "swapped":
        r["old_signature"], r["new_signature"] = r["new_signature"], r["old_signature"]
    else:
        r["statement"] += "\n" + "x" * 600
    assert js.error("P.parseRollover(arg);", r)["code"] == "bad_rollover"
    with pytest.raises(crypto.CryptoError):
        crypto.parse_rollover(
            r["statement"].encode(),
            crypto.b64u_decode(r["old_signature"]),
            crypto.b64u_decode(r["new_signature"]),
        )


def test_a_pin_no_generation_has_is_refused_and_a_rollover_to_other_keys_too(js: Js) -> None:
    old, new = KEYS["oversight"], KEYS["new_oversight"]
    got = js.run(
        """const k = (p) => [P.fromB64u(p.box_pk), P.fromB64u(p.sign_pk)];
        const out = {};
        const tryIt = (name, f) => { try { f(); out[name] = 'accepted'; }
                                     catch (e) { out[name] = e.code; } };
        // A seized portal offers keys of its own (the old ones, not rolled over to).
        tryIt('pin', () => P.resolveOversightKeys(...k(arg.old), [], arg.newFp));
        // A rollover served beside keys it does not lead to.
        tryIt('chain', () => P.resolveOversightKeys(...k(arg.old), [arg.r], null));
        // The same statement twice.
        tryIt('twice', () => P.resolveOversightKeys(...k(arg.new), [arg.r, arg.r], null));
        return out;""",
        {
            "old": old,
            "new": new,
            "r": rollover_json(),
            "newFp": V["fingerprint"]["new_fingerprint"],
        },
    )
    assert got == {
        "pin": "unexpected_oversight_key",
        "chain": "bad_rollover",
        "twice": "bad_rollover",
    }


def test_key_proof_vector(js: Js) -> None:
    case = V["key_proof"]
    reporter = KEYS[case["reporter"]]
    sk = crypto.b64u_decode(reporter["box_sk"])
    got = js.run(
        """return P.b64u(P.keyProof(P.fromB64u(arg.sk), P.fromB64u(arg.r.box_pk),
            P.fromB64u(arg.r.sign_pk), P.fromB64u(arg.c.oversight_box_pk)));""",
        {"sk": b64u(sk), "r": reporter, "c": case},
    )
    assert got == case["proof"]


SIGNED_ITEMS = sorted(name for name, item in ITEMS.items() if "signed" in item)


def signer_seed(signer: str) -> str:
    return next(p["sign_seed"] for p in KEYS.values() if p["sign_pk"] == signer)


@pytest.mark.parametrize("name", SIGNED_ITEMS)
def test_item_vector(js: Js, name: str) -> None:
    """Parse, re-sign (Ed25519 is deterministic), hash, verify and open each signed item."""
    item = ITEMS[name]
    case_party = KEYS[V["cases"][item["case"]]]
    recipient = KEYS["oversight"] if item["recipient"] == "oversight" else case_party
    seed = crypto.b64u_decode(signer_seed(item["signed"].split("\n")[8]))
    signing = crypto.SigningKey(seed)
    got = js.run(
        """const item = arg.item, h = P.parseItem(item.signed);
        const sk = P.fromB64u(arg.sk), sealed = P.fromB64u(item.sealed);
        const again = P.signItem(sk, {kind: h.kind, state: h.state, caseKey: h.caseKey,
            after: h.seq === 0 ? null : {seq: h.seq - 1, hash: h.prev}, sentOn: h.sentOn,
            sealed});
        const oversight = {keys: [{box: arg.ov.box_pk, sign: arg.ov.sign_pk, retiredOn: null},
                                  {box: arg.nov.box_pk, sign: arg.nov.sign_pk, retiredOn: null}]};
        let verdict;
        try {
          P.verifyItem(item.signed, P.fromB64u(item.signature), {caseKey: arg.caseKey,
              reporterKey: arg.reporterKey, oversight, sealed});
          verdict = 'ok';
        } catch (e) { verdict = e.code === 'item_rejected' ? e.kind : e.code; }
        let doc;
        try { doc = P.openItem(sealed, P.fromB64u(arg.rc.box_pk), P.fromB64u(arg.rc.box_sk), h); }
        catch (e) { doc = e.code; }
        return {h, canonical: P.itemCanonical(h), hash: P.itemHash(item.signed),
                signed: again.signed, signature: P.b64u(again.signature), verdict, doc};""",
        {
            "item": item,
            "sk": b64u(seed + bytes(signing.verify_key)),
            "ov": KEYS["oversight"],
            "nov": KEYS["new_oversight"],
            "caseKey": case_party["box_pk"],
            "reporterKey": case_party["sign_pk"],
            "rc": recipient,
        },
    )
    header = crypto.parse_item(item["signed"].encode())
    assert got["canonical"] == got["signed"] == item["signed"]
    assert got["signature"] == item["signature"]
    assert got["hash"] == item["hash"]
    assert got["h"]["seq"] == header.seq
    assert got["h"]["body"] == item["body"]
    assert got["h"]["state"] == header.state
    # Each item verifies in its own case, but for the one signed by a key no one trusts.
    assert got["verdict"] == ("forged" if name == "forged_reply" else "ok")
    assert got["doc"] == item["document"]


def header_lines() -> list[str]:
    return ITEMS["reply"]["signed"].split("\n")


def variants() -> dict[str, str]:
    lines = header_lines()

    def with_line(i: int, value: str) -> str:
        return "\n".join([*lines[:i], value, *lines[i + 1 :]])

    return {
        "final newline": ITEMS["reply"]["signed"] + "\n",
        "crlf": ITEMS["reply"]["signed"].replace("\n", "\r\n"),
        "v1 label": with_line(0, "lanthorn/v1/item"),
        "leading zero": with_line(4, "01"),
        "upper hex": with_line(5, lines[5].upper()),
        "padding": with_line(3, lines[3] + "="),
        "no state on a status": with_line(1, "status").replace("\nacknowledged\n", "\n-\n"),
        "report at seq 1": with_line(1, "report").replace("\nacknowledged\n", "\n-\n"),
        "bad date": with_line(6, "2026-02-30"),
        "eight lines": "\n".join(lines[:8]),
        "unknown kind": with_line(1, "note"),
        "non-ascii": with_line(6, "2026-03-0４"),
    }


@pytest.mark.parametrize("name", sorted(variants()))
def test_a_header_in_another_spelling_is_forged(js: Js, name: str) -> None:
    signed = variants()[name]
    with pytest.raises(crypto.CryptoError):
        crypto.parse_item(signed.encode("utf-8"))
    assert js.error("P.parseItem(arg);", signed)["code"] == "bad_item"


@pytest.mark.parametrize("thread", V["threads"], ids=[t["name"] for t in V["threads"]])
def test_thread_vector(js: Js, thread: dict[str, Any]) -> None:
    party = KEYS[V["cases"][thread["case"]]]
    known = thread.get("known_head")
    got = js.run(
        SETUP
        + """const t = arg.thread;
        return P.checkThread(t.entries.map(entry), {caseKey: arg.party.box_pk,
            reporterKey: arg.party.sign_pk, oversight: gen(t.oversight_keys),
            history: t.history, knownHead: arg.known});""",
        {
            "thread": thread,
            "items": ITEMS,
            "party": party,
            "known": {
                "seq": crypto.parse_item(ITEMS[known]["signed"].encode()).seq,
                "hash": ITEMS[known]["hash"],
            }
            if known
            else None,
        },
    )
    assert got["verdicts"] == thread["verdicts"]
    key = json.dumps
    assert sorted(map(key, got["findings"])) == sorted(map(key, thread["findings"]))
    assert got["head"] == thread["head"]
    assert got["state"] == thread["state"]
    assert got["ok"] is (not thread["findings"])


def test_a_forged_header_on_a_genuine_signature_and_a_stripped_signature_are_forged(
    js: Js,
) -> None:
    party = KEYS["reporter"]
    got = js.run(
        SETUP
        + """const ov = {keys: [{box: arg.ov.box_pk, sign: arg.ov.sign_pk, retiredOn: null}]};
        const e = ['report', 'reply', 'message'].map(n => entry({item: n}));
        e[1].signed = e[1].signed.replace('acknowledged', 'closed');   // state changed
        e[2].signature = new Uint8Array(0);                            // signature stripped
        return P.checkThread(e, {caseKey: arg.party.box_pk, reporterKey: arg.party.sign_pk,
            oversight: ov}).verdicts;""",
        {"items": ITEMS, "party": party, "ov": KEYS["oversight"]},
    )
    assert got == ["ok", "forged", "forged"]


@pytest.mark.parametrize("index", range(len(V["request_v2"])))
def test_request_v2_vector(js: Js, index: int) -> None:
    v = V["request_v2"][index]
    signing = crypto.SigningKey(crypto.b64u_decode(v["signing_seed"]))
    sk = bytes(signing) + bytes(signing.verify_key)
    got = js.run(
        """const v = arg.v, nonce = P.fromB64u(v.nonce), sk = P.fromB64u(arg.sk);
        const body = new TextEncoder().encode(v.body), id = P.fromB64u(v.key_id);
        const canonical = P.canonicalRequestV2(v.method, v.host, v.path, id, v.timestamp,
            nonce, body);
        const headers = await P.signRequestV2(v.method, v.host, v.path, body, sk, id,
            {timestamp: v.timestamp, nonce});
        return {canonical, headers};""",
        {"v": v, "sk": b64u(sk)},
    )
    assert got["canonical"] == v["canonical"]
    assert got["headers"] == v["headers"] | {"Lanthorn-Protocol": "2"}
    assert got["headers"]["Lanthorn-Signature"] == v["headers"]["Lanthorn-Signature"]


@pytest.mark.parametrize("host", ["", "portal example", "pörtal.example", "a/b", "x" * 256])
def test_a_host_that_is_not_a_host_header_is_refused(js: Js, host: str) -> None:
    got = js.error(
        """await P.signRequestV2('GET', arg, '/api/v1/thread', new Uint8Array(0),
            new Uint8Array(64), new Uint8Array(32));""",
        host,
    )
    assert got["code"] == "bad_argument"


PRODUCTION = {"alg": "argon2id13", "t": 3, "m_kib": 65536, "p": 1}


@pytest.mark.parametrize(
    "kdf",
    [
        PRODUCTION | {"t": 2},
        PRODUCTION | {"m_kib": 65535},
        PRODUCTION | {"t": 1, "m_kib": 8},
        PRODUCTION | {"alg": "argon2i13"},
        PRODUCTION | {"p": 2},
    ],
    ids=["t", "m_kib", "both", "alg", "p"],
)
def test_a_config_with_weaker_kdf_than_the_protocol_fixes_is_refused(
    browser: Browser,
    site: str,  # noqa: F811
    kdf: dict[str, Any],
) -> None:
    """In a browser as a reporter has it: no test floor, so the protocol's own (§19.5)."""
    context = browser.new_context()
    context.add_init_script("delete globalThis.LanthornTestKdfFloor;")
    js = Js(context.new_page())
    js.page.goto(site + "/_test/protocol")
    config = {"protocol": 2, "receipt_salt": b64u(bytes(16)), "kdf": kdf}
    try:
        got = js.run(
            """const out = {floor: P.KDF_FLOOR};
            try { await P.deriveKeys('12345678901234567890', arg); out.code = 'derived'; }
            catch (e) { out.code = e.code; }
            return out;""",
            config,
        )
    finally:
        context.close()
    assert got == {"floor": {"t": 3, "m_kib": 65536}, "code": "weak_kdf"}


def test_the_test_floor_is_only_what_the_test_browser_sets(js: Js) -> None:
    """The suite's browsers lower the floor to the cheap parameters it serves; nothing
    a portal serves can (it is read once, from a global set before the script runs)."""
    assert js.run("return P.KDF_FLOOR;") == {"t": CHEAP_KDF.t, "m_kib": CHEAP_KDF.m_kib}


def test_a_message_in_a_case_filed_under_v1_carries_a_key_proof_the_console_accepts(
    pair: tuple[Portal, Console],  # noqa: F811 - the fixture imported above
    browser: Browser,
) -> None:
    """A case whose report is a v1 item (§17.2): the browser sees that the thread's first
    item has no header and adds its signing key and key proof; the console checks the
    proof with its own box key and shows the message as the reporter's own words."""
    portal, console = pair
    receipt = crypto.generate_receipt()
    keys = portal.derive(receipt)
    sealed = crypto.seal_report(report_document(keys, []), portal.oversight.public_key)
    answer = portal.client().post("/api/v1/reports", json=submission(keys, sealed, []))
    assert answer.status_code == 201, answer.text
    case = answer.json()["case"]
    console.sync(portal.url)
    portal.app.router.routes.insert(0, page_route(BROWSER_CRYPTO_CSP))
    js, context = open_js(browser, portal.url)
    try:
        got = js.run(
            """const config = await P.fetchConfig();
            const thread = await P.readThread(arg, config);
            const sent = await P.sendMessage(arg, config, 'Signed at last.', []);
            return {legacy: thread.legacy, verdict: thread.items[0].verdict, sent};""",
            receipt,
        )
    finally:
        context.close()
    assert got["legacy"] is True
    assert got["verdict"] in ("legacy", "vouched")
    console.sync(portal.url)
    shown = [(m["kind"], m["text"]) for m in console.show(case)["messages"]]
    assert ("message", "Signed at last.") in shown
