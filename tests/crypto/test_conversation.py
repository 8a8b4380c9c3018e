"""The signed conversation: verification accepts exactly what signing produced, and any
single change a portal can make to a thread (forge, move, reorder, drop, replay, swap a
body) is seen, on the reporter's side and on the console's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto

OVERSIGHT_BOX = crypto.PrivateKey(bytes([0x21]) * 32)
OVERSIGHT_SIGN = crypto.SigningKey(bytes([0x22]) * 32)
OVERSIGHT = crypto.OversightKeys.single(
    bytes(OVERSIGHT_BOX.public_key), bytes(OVERSIGHT_SIGN.verify_key)
)
FORGER = crypto.SigningKey(bytes([0x41]) * 32)


class Reporter:
    def __init__(self, byte: int) -> None:
        self.box = crypto.PrivateKey(bytes([byte]) * 32)
        self.sign = crypto.SigningKey(bytes([byte + 1]) * 32)
        self.case_key = bytes(self.box.public_key)
        self.sign_pk = bytes(self.sign.verify_key)

    def context(self, **more: Any) -> dict[str, Any]:
        return {
            "case_key": self.case_key,
            "reporter_key": self.sign_pk,
            "oversight": OVERSIGHT,
            **more,
        }


ALICE = Reporter(0x11)
BOB = Reporter(0x31)


def report(reporter: Reporter) -> dict[str, Any]:
    return {
        "v": 2,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "corruption",
        "facility": "HMP Example",
        "location": "",
        "occurred": "",
        "description": "d",
        "subjects": "",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(reporter.case_key),
        "reply_sign_pk": crypto.b64u_encode(reporter.sign_pk),
        "sent_on": "2026-03-02",
    }


def later(
    kind: str, reporter: Reporter, text: str = "t", sent_on: str = "2026-03-03"
) -> dict[str, Any]:
    return {
        "v": 2,
        "type": kind,
        "case_key": crypto.b64u_encode(reporter.case_key),
        "text": text,
        "sent_on": sent_on,
    }


Item = tuple[bytes, crypto.SignedItem]  # (sealed, signed item)


def entry(item: Item, *, sealed: bytes | None | str = "own") -> crypto.Entry:
    own, signed = item
    return crypto.Entry(signed.signed, signed.signature, own if sealed == "own" else sealed)  # type: ignore[arg-type]


def build_chain(reporter: Reporter, kinds: list[str]) -> list[Item]:
    """A chain whose first item is the report, then `kinds` ("message" or an oversight kind)."""
    chain = [
        crypto.seal_item(report(reporter), OVERSIGHT_BOX.public_key, reporter.sign, after=None)
    ]
    for i, kind in enumerate(kinds):
        after = chain[-1][1].head
        doc = later(kind, reporter, text=f"item {i + 1}")
        if kind == "message":
            chain.append(
                crypto.seal_item(doc, OVERSIGHT_BOX.public_key, reporter.sign, after=after)
            )
        else:
            state = {"reply": None, "status": "in_review", "outcome": "closed"}[kind]
            chain.append(
                crypto.seal_item(
                    doc, reporter.box.public_key, OVERSIGHT_SIGN, after=after, state=state
                )
            )
    return chain


def check(
    entries: list[crypto.Entry], reporter: Reporter = ALICE, **more: Any
) -> crypto.ThreadCheck:
    return crypto.check_thread(entries, **reporter.context(**more))


kinds = st.lists(st.sampled_from(["message", "reply", "status", "outcome"]), min_size=1, max_size=5)


# -- one item ----------------------------------------------------------------------------


@given(
    kind=st.sampled_from(["message", "reply", "status", "outcome"]),
    seq=st.integers(0, crypto.conversation.MAX_SEQ - 1),
    prev=st.binary(min_size=32, max_size=32).filter(any),
    sealed=st.binary(min_size=1, max_size=64),
    day=st.dates(),
)
def test_verification_accepts_exactly_what_signing_produced(
    kind: str, seq: int, prev: bytes, sealed: bytes, day: Any
) -> None:
    oversight = kind != "message"
    state = {"message": None, "reply": "in_review", "status": "acknowledged", "outcome": "closed"}[
        kind
    ]
    signed = crypto.sign_item(
        OVERSIGHT_SIGN if oversight else ALICE.sign,
        kind=kind,
        case_key=ALICE.case_key,
        after=crypto.Head(seq, prev),
        sent_on=day.isoformat(),
        sealed=sealed,
        state=state,
    )
    header = crypto.verify_item(signed.signed, signed.signature, sealed=sealed, **ALICE.context())
    assert header == signed.header == crypto.parse_item(signed.signed)
    assert (header.seq, header.prev, header.state) == (seq + 1, prev, state)
    assert header.canonical() == signed.signed


@given(data=st.data())
def test_any_change_to_a_signed_item_is_refused(data: st.DataObject) -> None:
    sealed, item = build_chain(ALICE, ["reply"])[1]
    field = data.draw(st.sampled_from(["signed", "signature", "sealed"]))
    original = {"signed": item.signed, "signature": item.signature, "sealed": sealed}[field]
    position = data.draw(st.integers(0, len(original) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(original)
    changed[position] ^= flip
    parts = {
        "signed": item.signed,
        "signature": item.signature,
        "sealed": sealed,
        field: bytes(changed),
    }
    with pytest.raises(crypto.ItemRejected) as caught:
        crypto.verify_item(
            parts["signed"], parts["signature"], sealed=parts["sealed"], **ALICE.context()
        )
    assert caught.value.kind in ("forged", "moved")  # a flipped case key is "another case"


def test_a_reply_signed_by_any_other_key_is_forged() -> None:
    sealed, genuine = build_chain(ALICE, ["reply"])[1]
    h = genuine.header
    forged = crypto.sign_item(
        FORGER,
        kind="reply",
        case_key=h.case_key,
        after=crypto.Head(0, h.prev),
        sent_on=h.sent_on,
        sealed=sealed,
    )
    with pytest.raises(crypto.ItemRejected, match="forged"):
        crypto.verify_item(forged.signed, forged.signature, **ALICE.context())
    # Nor does naming the oversight key as signer help: the signature is checked against it.
    lie = forged.signed.replace(
        crypto.b64u_encode(bytes(FORGER.verify_key)).encode(),
        crypto.b64u_encode(bytes(OVERSIGHT_SIGN.verify_key)).encode(),
    )
    with pytest.raises(crypto.ItemRejected, match="forged"):
        crypto.verify_item(lie, forged.signature, **ALICE.context())


def test_a_reporter_kind_signed_by_the_oversight_key_is_forged_and_the_other_way_round() -> None:
    sealed = b"x"
    as_message = crypto.sign_item(
        OVERSIGHT_SIGN,
        kind="message",
        case_key=ALICE.case_key,
        after=None,
        sent_on="2026-03-03",
        sealed=sealed,
    )
    as_reply = crypto.sign_item(
        ALICE.sign,
        kind="reply",
        case_key=ALICE.case_key,
        after=None,
        sent_on="2026-03-03",
        sealed=sealed,
    )
    for item in (as_message, as_reply):
        with pytest.raises(crypto.ItemRejected, match="forged"):
            crypto.verify_item(item.signed, item.signature, **ALICE.context())


def test_another_cases_reply_is_moved_not_shown() -> None:
    sealed, bobs = build_chain(BOB, ["reply"])[1]
    with pytest.raises(crypto.ItemRejected, match="moved"):
        crypto.verify_item(bobs.signed, bobs.signature, sealed=sealed, **ALICE.context())


def test_a_sealed_message_carried_into_another_case_under_a_new_header_is_moved() -> None:
    """A portal files its own case X, then takes Alice's sealed message and signs a header
    for it in case X with X's key. The header verifies for case X; the body names Alice's
    case inside, so the console sees the move when it opens it."""
    mallory = Reporter(0x71)
    alices_sealed, _ = build_chain(ALICE, ["message"])[1]
    x_report = crypto.seal_item(report(mallory), OVERSIGHT_BOX.public_key, mallory.sign, after=None)
    carried = crypto.sign_item(
        mallory.sign,
        kind="message",
        case_key=mallory.case_key,
        after=x_report[1].head,
        sent_on="2026-03-03",
        sealed=alices_sealed,
    )
    header = crypto.verify_item(
        carried.signed, carried.signature, sealed=alices_sealed, **mallory.context()
    )
    with pytest.raises(crypto.ItemRejected, match="moved"):
        crypto.open_item(alices_sealed, OVERSIGHT_BOX, header)


def test_open_item_checks_the_body_against_its_header() -> None:
    chain = build_chain(ALICE, ["reply", "message"])
    (reply_sealed, reply), (message_sealed, _) = chain[1], chain[2]
    assert crypto.open_item(reply_sealed, ALICE.box, reply.header)["text"] == "item 1"
    with pytest.raises(crypto.ItemRejected, match="forged"):  # another body
        crypto.open_item(message_sealed, [ALICE.box, OVERSIGHT_BOX], reply.header)
    with pytest.raises(crypto.CryptoError):  # not addressed to this key
        crypto.open_item(reply_sealed, OVERSIGHT_BOX, reply.header)


def test_open_item_refuses_a_body_whose_kind_or_date_differs_from_its_header() -> None:
    doc = later("reply", ALICE, sent_on="2026-03-03")
    sealed = crypto.seal_document_v2(doc, ALICE.box.public_key)
    for kind, state, sent_on in (("status", "closed", "2026-03-03"), ("reply", None, "2026-03-04")):
        item = crypto.sign_item(
            OVERSIGHT_SIGN,
            kind=kind,
            case_key=ALICE.case_key,
            after=None,
            sent_on=sent_on,
            sealed=sealed,
            state=state,
        )
        with pytest.raises(crypto.ItemRejected, match="forged"):
            crypto.open_item(sealed, ALICE.box, item.header)


def test_a_report_must_be_signed_by_the_key_it_names() -> None:
    doc = report(ALICE)
    with pytest.raises(ValueError, match="reply_sign_pk"):
        crypto.seal_item(doc, OVERSIGHT_BOX.public_key, BOB.sign, after=None)
    sealed = crypto.seal_document_v2(doc, OVERSIGHT_BOX.public_key)
    other = crypto.sign_item(
        BOB.sign,
        kind="report",
        case_key=ALICE.case_key,
        after=None,
        sent_on=doc["sent_on"],
        sealed=sealed,
    )
    with pytest.raises(crypto.ItemRejected, match="forged"):
        crypto.open_item(sealed, OVERSIGHT_BOX, other.header)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"kind": "memo"}, "kind"),
        ({"kind": "message", "state": "closed"}, "no state"),
        ({"kind": "status", "state": None}, "names the new state"),
        ({"kind": "outcome", "state": "in_review"}, "closed"),
        ({"state": "reopened"}, "state"),
        ({"seq": 0}, "GENESIS"),
        ({"prev": bytes(32)}, "GENESIS"),
        ({"kind": "report", "state": None}, "first item"),
        ({"seq": -1}, "seq"),
        ({"seq": 10**9}, "seq"),
        ({"seq": True}, "seq"),
        ({"case_key": bytes(31)}, "32 bytes"),
        ({"sent_on": "2026-02-30"}, "sent_on"),
        ({"sent_on": "2026-03-03T10:00"}, "sent_on"),
    ],
)
def test_headers_that_cannot_be_are_refused(change: dict[str, Any], why: str) -> None:
    fields: dict[str, Any] = {
        "kind": "reply",
        "state": None,
        "case_key": bytes(32),
        "seq": 1,
        "prev": bytes([1]) * 32,
        "sent_on": "2026-03-03",
        "body": bytes(32),
        "signer": bytes(32),
    }
    with pytest.raises(ValueError, match=why):
        crypto.ItemHeader(**(fields | change))


def _respell(signed: bytes, line: int, new: str) -> bytes:
    lines = signed.decode().split("\n")
    lines[line] = new
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    "respell",
    [
        lambda s: s + b"\n",
        lambda s: s.replace(b"\n", b"\r\n"),
        lambda s: b"lanthorn/v1/item" + s[len(b"lanthorn/v2/item") :],
        lambda s: _respell(s, 4, "01"),
        lambda s: _respell(s, 4, "+1"),
        lambda s: _respell(s, 5, s.decode().split("\n")[5].upper()),
        lambda s: _respell(s, 3, s.decode().split("\n")[3] + "="),
        lambda s: _respell(s, 2, ""),
        lambda s: _respell(s, 1, "Reply"),
        lambda s: s + b"\nextra",
        lambda s: s + b" " * 600,
        lambda s: s.replace(b"reply", "réply".encode()),
    ],
)
def test_every_header_field_has_one_spelling(respell: Callable[[bytes], bytes]) -> None:
    _, item = build_chain(ALICE, ["reply"])[1]
    with pytest.raises(crypto.CryptoError):
        crypto.parse_item(respell(item.signed))


# -- the chain ---------------------------------------------------------------------------


@given(kinds)
def test_an_untouched_chain_has_no_findings(kinds: list[str]) -> None:
    chain = build_chain(ALICE, kinds)
    result = check([entry(i) for i in chain])
    assert result.ok
    assert result.verdicts == ("ok",) * len(chain)
    assert result.head == chain[-1][1].head
    # The same holds for the console, which checks its own stored items the same way,
    # and once every sealed text is purged.
    assert check([entry(i, sealed=None) for i in chain], known_head=chain[-1][1].head).ok


MUTATIONS = ["drop", "swap", "replay", "move", "forge", "body", "truncate"]


@given(kinds=kinds, mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_any_single_change_to_a_chain_is_seen(
    kinds: list[str], mutation: str, data: st.DataObject
) -> None:
    """What a database-writing portal can do to one item; each leaves a finding. A client
    that remembers the last item it saw (`known_head`) also sees the end cut off."""
    chain = build_chain(ALICE, kinds)
    entries = [entry(i) for i in chain]
    n = len(entries)
    i = data.draw(st.integers(0, n - 1))
    known_head = None
    if mutation == "drop":
        i = data.draw(st.integers(0, n - 2))  # the last is "truncate"
        del entries[i]
    elif mutation == "swap":
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        entries[i], entries[j] = entries[j], entries[i]
    elif mutation == "replay":
        entries.insert(data.draw(st.integers(0, n)), entries[i])
    elif mutation == "move":
        bobs = build_chain(BOB, kinds)
        entries[i] = entry(bobs[i])
    elif mutation == "forge":
        sealed, item = chain[i]
        h = item.header
        forged = crypto.sign_item(
            FORGER,
            kind=h.kind,
            case_key=h.case_key,
            after=None if h.seq == 0 else crypto.Head(h.seq - 1, h.prev),
            sent_on=h.sent_on,
            sealed=sealed,
            state=h.state,
        )
        entries[i] = entry((sealed, forged))
    elif mutation == "body":
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        entries[i] = entry(chain[i], sealed=chain[other][0])
    else:
        known_head = chain[-1][1].head
        del entries[-1]
    assert not check(entries, known_head=known_head).ok


def test_a_thread_that_jumps_far_ahead_is_one_gap_not_a_billion() -> None:
    far = crypto.sign_item(
        OVERSIGHT_SIGN,
        kind="reply",
        case_key=ALICE.case_key,
        after=crypto.Head(crypto.conversation.MAX_SEQ - 1, bytes([1]) * 32),
        sent_on="2026-03-03",
        sealed=b"x",
    )
    result = check([entry((b"x", far))])
    assert result.findings == (crypto.Finding("gap", seq=0, until=crypto.conversation.MAX_SEQ - 1),)


def test_a_fork_at_the_item_a_client_saw_before_is_seen() -> None:
    chain = build_chain(ALICE, ["reply", "message"])
    other = build_chain(ALICE, ["reply", "reply"])  # the same first two, then another item
    entries = [entry(i) for i in other]
    result = check(entries, known_head=chain[2][1].head)
    assert crypto.Finding("fork", seq=2) in result.findings


def test_a_known_head_missing_from_the_middle_is_a_gap_not_a_fork() -> None:
    chain = build_chain(ALICE, ["reply", "message"])
    result = check([entry(chain[0]), entry(chain[2])], known_head=chain[1][1].head)
    assert result.findings == (crypto.Finding("gap", seq=1, until=1),)


def test_an_item_that_links_to_an_item_not_in_the_thread_is_a_fork() -> None:
    """The portal hid a reply from the reporter, who wrote on; then showed the console's
    next reply, which follows the hidden one."""
    chain = build_chain(ALICE, ["reply"])
    hidden = crypto.seal_item(
        later("reply", ALICE, "hidden"),
        ALICE.box.public_key,
        OVERSIGHT_SIGN,
        after=chain[1][1].head,
    )
    shown = crypto.seal_item(
        later("reply", ALICE, "shown"), ALICE.box.public_key, OVERSIGHT_SIGN, after=hidden[1].head
    )
    mine = crypto.seal_item(
        later("message", ALICE), OVERSIGHT_BOX.public_key, ALICE.sign, after=chain[1][1].head
    )
    result = check([entry(chain[0]), entry(chain[1]), entry(mine), entry(shown)])
    assert set(result.findings) == {crypto.Finding("fork", 3, 3)}


def test_the_state_is_the_latest_signed_one_never_the_portals() -> None:
    chain = build_chain(ALICE, ["status", "message", "reply", "outcome", "message"])
    assert check([entry(i) for i in chain]).state == "closed"
    assert check([entry(i) for i in chain[:3]]).state == "in_review"
    assert check([entry(chain[0])]).state is None


# -- items written under v1 --------------------------------------------------------------


def test_a_v1_reply_is_shown_only_when_a_signed_item_vouches_for_it() -> None:
    v1 = {"v": 1, "type": "reply", "text": "old", "sent_on": "2026-02-01"}
    genuine = crypto.seal_document(v1, ALICE.box.public_key)
    forged = crypto.seal_document(v1 | {"text": "your cell number?"}, ALICE.box.public_key)
    history = crypto.History(frozenset({crypto.conversation._sha256(genuine)}), frozenset({"r1"}))
    doc = later("status", ALICE) | {"history": history.as_json()}
    assert crypto.history_of([doc, later("reply", ALICE)]) == history
    entries = [
        crypto.Entry(id="r1", sender="reporter"),
        crypto.Entry(id="r2", sender="reporter"),
        crypto.Entry(sealed=genuine, id="o1", sender="oversight"),
        crypto.Entry(sealed=forged, id="o2", sender="oversight"),
        crypto.Entry(id="o3", sender="oversight"),  # purged: nothing to show
    ]
    result = check(entries, history=history)
    assert result.verdicts == ("vouched", "legacy", "vouched", "unvouched", "legacy")
    assert result.findings == (crypto.Finding("unvouched", 3),)
    # Before any signed item vouches, no v1 reply is shown as from the oversight body.
    assert check(entries).verdicts[2:4] == ("unvouched", "unvouched")


def test_key_proof_binds_the_signing_key_to_the_v1_box_key() -> None:
    rotated = crypto.PrivateKey(bytes([0x23]) * 32)
    proof = crypto.make_key_proof(ALICE.box, ALICE.sign_pk, bytes(OVERSIGHT_BOX.public_key))
    assert crypto.check_key_proof(proof, ALICE.case_key, ALICE.sign_pk, [rotated, OVERSIGHT_BOX])
    assert not crypto.check_key_proof(proof, ALICE.case_key, BOB.sign_pk, [OVERSIGHT_BOX])
    assert not crypto.check_key_proof(proof, BOB.case_key, ALICE.sign_pk, [OVERSIGHT_BOX])
    assert not crypto.check_key_proof(proof, ALICE.case_key, ALICE.sign_pk, [rotated])
    # Whoever holds only public keys (the portal) cannot make one.
    guess = crypto.make_key_proof(BOB.box, ALICE.sign_pk, bytes(OVERSIGHT_BOX.public_key))
    assert not crypto.check_key_proof(guess, ALICE.case_key, ALICE.sign_pk, [OVERSIGHT_BOX])


# -- the HTTP shape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        {"signature": "not b64u!"},
        {"signature": None},
        {"signed": None},
        {"signed": 7},
        {"signed": "lanthorn/v2/itém"},
        {"sealed": "!!"},
        {"sealed": None},
    ],
)
def test_malformed_api_items_are_reported_as_forged_never_skipped(broken: dict[str, Any]) -> None:
    chain = build_chain(ALICE, ["reply"])
    good = [
        dict(i[1].as_json(), sealed=crypto.b64u_encode(i[0]), id="x", **{"from": "oversight"})
        for i in chain
    ]
    good[1] |= broken
    result = check([crypto.Entry.from_json(i) for i in good])
    assert result.verdicts == ("ok", "forged")


# -- oversight keys ----------------------------------------------------------------------


def test_fingerprints_read_back_however_they_are_typed() -> None:
    fp = crypto.fingerprint(bytes(OVERSIGHT_BOX.public_key), bytes(OVERSIGHT_SIGN.verify_key))
    assert len(fp) == 24
    assert fp.count(" ") == 4
    typed = fp.lower().replace(" ", "-").replace("0", "o").replace("1", "l")
    assert crypto.normalize_fingerprint(typed) == fp
    for wrong in ("", fp[:-1], fp + "0", fp.replace(fp[0], "U")):
        with pytest.raises(ValueError, match="20 letters"):
            crypto.normalize_fingerprint(wrong)


def test_the_fingerprint_covers_both_keys() -> None:
    box, sign = bytes(OVERSIGHT_BOX.public_key), bytes(OVERSIGHT_SIGN.verify_key)
    fps = {
        crypto.fingerprint(box, sign),
        crypto.fingerprint(bytes(ALICE.box.public_key), sign),
        crypto.fingerprint(box, bytes(FORGER.verify_key)),
        crypto.fingerprint(sign, box),
    }
    assert len(fps) == 4


NEW_BOX = crypto.PrivateKey(bytes([0x51]) * 32)
NEW_SIGN = crypto.SigningKey(bytes([0x52]) * 32)
NEWEST_BOX = crypto.PrivateKey(bytes([0x53]) * 32)
NEWEST_SIGN = crypto.SigningKey(bytes([0x54]) * 32)


def rollovers() -> list[crypto.Rollover]:
    """Two rollovers, newest first: OVERSIGHT → NEW on 1 June → NEWEST on 1 September."""
    first = crypto.make_rollover(
        OVERSIGHT_SIGN,
        bytes(OVERSIGHT_BOX.public_key),
        NEW_SIGN,
        bytes(NEW_BOX.public_key),
        "2026-06-01",
    )
    second = crypto.make_rollover(
        NEW_SIGN, bytes(NEW_BOX.public_key), NEWEST_SIGN, bytes(NEWEST_BOX.public_key), "2026-09-01"
    )
    return [second, first]


def resolve(chain: list[crypto.Rollover], pinned: str | None) -> crypto.KeyResolution:
    return crypto.resolve_oversight_keys(
        bytes(NEWEST_BOX.public_key), bytes(NEWEST_SIGN.verify_key), chain, pinned=pinned
    )


def test_a_client_pinned_to_any_generation_reaches_the_current_keys() -> None:
    chain = rollovers()
    generations = [
        (NEWEST_BOX, NEWEST_SIGN, None),
        (NEW_BOX, NEW_SIGN, "2026-09-01"),
        (OVERSIGHT_BOX, OVERSIGHT_SIGN, "2026-06-01"),
    ]
    for box, sign, retired in generations:
        pin = crypto.fingerprint(bytes(box.public_key), bytes(sign.verify_key))
        resolved = resolve(chain, pin)
        assert resolved.pinned
        assert resolved.changed_on == retired
        assert len(resolved.keys.keys) == 3
    assert resolve(chain, None).pinned is False


def test_keys_that_do_not_lead_back_to_the_pin_are_refused() -> None:
    stranger = crypto.fingerprint(bytes(ALICE.box.public_key), bytes(FORGER.verify_key))
    with pytest.raises(crypto.UnexpectedOversightKey):
        resolve(rollovers(), stranger)


def test_a_rollover_signed_by_one_side_only_or_spliced_is_refused() -> None:
    second, first = rollovers()
    with pytest.raises(crypto.CryptoError):  # the old key did not sign it
        crypto.parse_rollover(second.statement, bytes(64), second.new_signature)
    with pytest.raises(crypto.CryptoError):  # the new key did not sign it
        crypto.parse_rollover(second.statement, second.old_signature, first.new_signature)
    with pytest.raises(crypto.CryptoError):  # not the keys reached so far
        resolve([first], None)
    late = crypto.make_rollover(
        OVERSIGHT_SIGN,
        bytes(OVERSIGHT_BOX.public_key),
        NEW_SIGN,
        bytes(NEW_BOX.public_key),
        "2026-10-01",
    )
    with pytest.raises(crypto.CryptoError):  # dates going forwards as the chain goes back
        resolve([second, late], None)


def test_an_item_signed_by_a_retired_key_after_its_retirement_is_forged() -> None:
    keys = resolve(rollovers(), None).keys
    chain = build_chain(ALICE, ["reply"])  # signed by the first generation on 2026-03-03
    assert check([entry(i) for i in chain], oversight=keys).ok
    late = crypto.seal_item(
        later("reply", ALICE, sent_on="2026-06-02"),
        ALICE.box.public_key,
        OVERSIGHT_SIGN,
        after=chain[1][1].head,
    )
    result = check([*(entry(i) for i in chain), entry(late)], oversight=keys)
    assert result.verdicts[-1] == "forged"
