"""Sealed documents: only the recipient opens them, their size says little, and any
tampering, truncation or malformed content is refused without saying why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl import bindings

import crypto

OVERSIGHT = crypto.PrivateKey(bytes(range(32)))
REPORTER = crypto.PrivateKey(bytes(range(1, 33)))


def report(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "type": "report",
        "channel": "staff",
        "lang": "en",
        "category": "corruption",
        "facility": "HMP Example",
        "location": "Visits hall",
        "occurred": "2026-11-20",
        "description": "An officer takes money to bring in phones.",
        "subjects": "Officer on C wing nights",
        "witnesses": "",
        "urgent": False,
        "identity": None,
        "attachments": [],
        "reply_box_pk": crypto.b64u_encode(bytes(REPORTER.public_key)),
        "sent_on": "2026-11-27",
    }
    doc.update(changes)
    return doc


def descriptor(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "blob_id": "b1",
        "name": "photo.jpg",
        "mime": "image/jpeg",
        "size": 10,
        "key": crypto.b64u_encode(bytes(32)),
        "sha256": "0" * 64,
    }
    d.update(changes)
    return d


def raw_seal(plaintext: bytes, pk: crypto.PublicKey = OVERSIGHT.public_key) -> bytes:
    """Seal arbitrary bytes, bypassing every check `seal_document` makes."""
    return bytes(bindings.crypto_box_seal(plaintext, bytes(pk)))


json_text = st.text(st.characters(codec="utf-8"), max_size=300)


@given(
    description=json_text,
    subjects=json_text,
    urgent=st.booleans(),
    identity=st.none() | json_text,
    channel=st.sampled_from(sorted(crypto.REPORT_CHANNELS)),
    extra=st.dictionaries(st.text(min_size=1, max_size=8).map(lambda k: "x-" + k), json_text),
)
def test_reports_round_trip(
    description: str,
    subjects: str,
    urgent: bool,
    identity: str | None,
    channel: str,
    extra: dict[str, str],
) -> None:
    doc = report(
        description=description,
        subjects=subjects,
        urgent=urgent,
        identity=identity,
        channel=channel,
        attachments=[descriptor()],
        **extra,
    )
    sealed = crypto.seal_report(doc, OVERSIGHT.public_key)
    assert len(sealed) - 48 in crypto.BUCKETS
    assert crypto.open_document(sealed, OVERSIGHT, expect="report") == doc


@given(text=json_text, kind=st.sampled_from(["message", "reply"]))
def test_messages_and_replies_round_trip(text: str, kind: str) -> None:
    doc = {"v": 1, "type": kind, "text": text, "attachments": [], "sent_on": "2026-11-27"}
    sealed = crypto.seal_document(doc, REPORTER.public_key)
    assert crypto.open_document(sealed, REPORTER, expect=kind) == doc


@pytest.mark.parametrize(
    ("size", "bucket"),
    [(0, 1024), (1023, 1024), (1024, 4096), (4095, 4096), (65536, 262144), (1048575, 1048576)],
)
def test_padding_picks_the_smallest_bucket_strictly_larger(size: int, bucket: int) -> None:
    assert crypto.bucket_for(size) == bucket


def test_documents_of_different_lengths_in_one_bucket_look_the_same_size() -> None:
    short = crypto.seal_report(report(description="x"), OVERSIGHT.public_key)
    longer = crypto.seal_report(report(description="x" * 500), OVERSIGHT.public_key)
    assert len(short) == len(longer) == 1024 + 48


def test_a_document_near_the_limit_seals_and_one_past_it_is_refused() -> None:
    base = len(json.dumps(report(description=""), ensure_ascii=False, separators=(",", ":")))
    fits = report(description="a" * (crypto.MAX_DOCUMENT_BYTES - base))
    sealed = crypto.seal_report(fits, OVERSIGHT.public_key)
    assert len(sealed) == crypto.MAX_SEALED_BYTES
    assert crypto.open_document(sealed, OVERSIGHT) == fits
    with pytest.raises(crypto.DocumentTooLarge, match="under 1048576 bytes"):
        crypto.seal_report(
            report(description="a" * (1 + crypto.MAX_DOCUMENT_BYTES - base)), OVERSIGHT.public_key
        )


def test_plaintext_does_not_appear_in_the_sealed_form() -> None:
    canary = "CANARY-officer-bribed-7731"
    sealed = crypto.seal_report(report(description=canary), OVERSIGHT.public_key)
    assert canary.encode() not in sealed
    assert canary.encode().hex().encode() not in sealed


def test_sealing_twice_gives_different_ciphertexts() -> None:
    doc = report()
    assert crypto.seal_report(doc, OVERSIGHT.public_key) != crypto.seal_report(
        doc, OVERSIGHT.public_key
    )


def test_wrong_key_cannot_open() -> None:
    sealed = crypto.seal_report(report(), OVERSIGHT.public_key)
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed, REPORTER)


@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(crypto.seal_report(report(), OVERSIGHT.public_key))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(bytes(sealed), OVERSIGHT)


@pytest.mark.parametrize("keep", [0, 1, 47, 48, 1024, 1071])
def test_truncated_documents_are_refused(keep: int) -> None:
    sealed = crypto.seal_report(report(), OVERSIGHT.public_key)
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed[:keep], OVERSIGHT)


def test_appended_bytes_are_refused() -> None:
    sealed = crypto.seal_report(report(), OVERSIGHT.public_key)
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed + b"\0", OVERSIGHT)


def test_oversized_sealed_input_is_refused_before_decryption() -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(bytes(crypto.MAX_SEALED_BYTES + 1), OVERSIGHT)


def padded(plain: bytes, block: int = 1024) -> bytes:
    return bytes(bindings.sodium_pad(plain, block))


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(b'{"v":1}', id="unpadded"),
        pytest.param(padded(b'{"v":1,"type":"message"}', 2048), id="length-not-a-bucket"),
        pytest.param(padded(b"")[:-1] + b"\x01", id="bad-padding"),
        pytest.param(padded(b"\xff\xfe not utf-8"), id="not-utf8"),
        pytest.param(padded(b"not json"), id="not-json"),
        pytest.param(padded(b"[1, 2]"), id="not-an-object"),
        pytest.param(padded(b"[" * 5000 + b"]" * 5000, 16384), id="deeply-nested"),
        pytest.param(padded(b'{"v":1,"v":1,"type":"message"}'), id="duplicate-keys"),
        pytest.param(padded(b'{"v":NaN,"type":"message"}'), id="nan"),
        pytest.param(
            padded(b'{"v":2,"type":"message","text":"","sent_on":"2026-11-27"}'), id="wrong-version"
        ),
        pytest.param(
            padded(b'{"v":true,"type":"message","text":"","sent_on":"2026-11-27"}'),
            id="version-true",
        ),
        pytest.param(
            padded(b'{"v":1,"type":"memo","text":"","sent_on":"2026-11-27"}'), id="unknown-type"
        ),
        pytest.param(padded(json.dumps(report(reply_box_pk="short")).encode()), id="bad-reply-key"),
    ],
)
def test_malformed_contents_are_refused_opaquely(plaintext: bytes) -> None:
    with pytest.raises(crypto.CryptoError) as caught:
        crypto.open_document(raw_seal(plaintext), OVERSIGHT)
    assert str(caught.value) == "could not open or verify sealed document"


def test_expecting_one_type_refuses_another() -> None:
    message = {"v": 1, "type": "message", "text": "hi", "sent_on": "2026-11-27"}
    sealed = crypto.seal_document(message, OVERSIGHT.public_key)
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed, OVERSIGHT, expect="report")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"v": 2}, '"v": 1'),
        ({"type": "memo"}, '"type"'),
        ({"channel": "email"}, '"channel"'),
        ({"urgent": "yes"}, '"urgent"'),
        ({"description": None}, '"description"'),
        ({"sent_on": "2026-11-27T14:03:00"}, "no time of day"),
        ({"identity": 7}, '"identity"'),
        ({"reply_box_pk": crypto.b64u_encode(bytes(31))}, '"reply_box_pk"'),
        ({"attachments": {}}, '"attachments"'),
        ({"attachments": [descriptor(size=-1)]}, "size"),
        ({"attachments": [descriptor(size=2**53)]}, "size"),
        ({"attachments": [descriptor(size=10**400)]}, "size"),
        ({"attachments": [descriptor(key="AAAA")]}, "key"),
        ({"attachments": [descriptor(sha256="XYZ")]}, "sha256"),
        ({"attachments": [descriptor(name=None)]}, "name"),
        ({"attachments": ["photo.jpg"]}, "attachments"),
    ],
)
def test_sealing_refuses_documents_outside_the_schema(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(crypto.InvalidDocument, match=message):
        crypto.seal_report(report(**changes), OVERSIGHT.public_key)


def test_a_report_must_list_its_attachments_even_when_empty() -> None:
    doc = report()
    del doc["attachments"]
    with pytest.raises(crypto.InvalidDocument, match="attachments"):
        crypto.seal_report(doc, OVERSIGHT.public_key)


def test_non_json_values_are_refused_with_a_message() -> None:
    with pytest.raises(crypto.InvalidDocument, match="not plain JSON"):
        crypto.seal_report(report(witnesses="a", extra=float("nan")), OVERSIGHT.public_key)
    with pytest.raises(crypto.InvalidDocument, match="not plain JSON"):
        crypto.seal_report(report(extra=object()), OVERSIGHT.public_key)


def test_seal_report_insists_on_a_report() -> None:
    with pytest.raises(crypto.InvalidDocument, match='expected a "report"'):
        crypto.seal_report(
            {"v": 1, "type": "message", "text": "", "sent_on": "2026-11-27"},
            OVERSIGHT.public_key,
        )


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(
            padded(json.dumps(report(), separators=(",", ":")).encode(), 4096),
            id="padded-past-the-smallest-bucket",
        ),
        pytest.param(
            padded(json.dumps(report()).encode()[:-1] + b',"x":1e400}'), id="infinite-number"
        ),
        pytest.param(
            padded(json.dumps(report()).encode()[:-1] + b',"x":"\\ud800"}'), id="lone-surrogate"
        ),
        pytest.param(padded(json.dumps(report(sent_on="2026-13-45")).encode()), id="no-such-day"),
    ],
)
def test_documents_a_v1_writer_could_not_produce_are_refused(plaintext: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(raw_seal(plaintext), OVERSIGHT)


def test_sealing_refuses_text_that_is_not_unicode() -> None:
    with pytest.raises(crypto.InvalidDocument, match="not valid Unicode"):
        crypto.seal_report(report(description="\ud800"), OVERSIGHT.public_key)
    with pytest.raises(crypto.InvalidDocument, match="sent_on"):
        crypto.seal_report(report(sent_on="2026-02-30"), OVERSIGHT.public_key)
