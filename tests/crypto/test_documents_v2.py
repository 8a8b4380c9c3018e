"""Version 2 documents: sealed and padded as in v1, with what the signed conversation needs
inside the sealed text. A v1 reader refuses them; a v2 reader chooses which versions it
accepts; every schema error names its field."""

from __future__ import annotations

from typing import Any

import pytest

import crypto

OVERSIGHT = crypto.PrivateKey(bytes(range(32)))
REPORTER = crypto.PrivateKey(bytes(range(1, 33)))
REPORTER_SIGN = crypto.SigningKey(bytes(range(2, 34)))
CASE_KEY = crypto.b64u_encode(bytes(REPORTER.public_key))


def report(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 2,
        "type": "report",
        "channel": "kiosk",
        "lang": "pl",
        "category": "use_of_force",
        "facility": "HMP Example",
        "location": "B wing",
        "occurred": "last night",
        "description": "Vector ✓",
        "subjects": "",
        "witnesses": "",
        "urgent": True,
        "identity": None,
        "attachments": [],
        "reply_box_pk": CASE_KEY,
        "reply_sign_pk": crypto.b64u_encode(bytes(REPORTER_SIGN.verify_key)),
        "sent_on": "2026-03-02",
    }
    doc.update(changes)
    return doc


def later(kind: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 2,
        "type": kind,
        "case_key": CASE_KEY,
        "text": "text",
        "sent_on": "2026-03-03",
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        report(),
        later("message"),
        later("message", attachments=[]),
        later("reply"),
        later("status", text=""),
        later("outcome"),
        later("reply", history={"replies": ["ab" * 32], "received": ["AAAAAAAAAAAAAAAA"]}),
        later(
            "message",
            reply_sign_pk=crypto.b64u_encode(bytes(32)),
            key_proof=crypto.b64u_encode(bytes(32)),
        ),
    ],
    ids=lambda d: d["type"] + ("+" + "+".join(sorted(set(d) - {"v", "type"})) if d else ""),
)
def test_v2_documents_seal_and_open_when_v2_is_accepted(doc: dict[str, Any]) -> None:
    crypto.check_document_v2(doc)
    sealed = crypto.seal_document_v2(doc, OVERSIGHT.public_key)
    assert len(sealed) == 1072  # the v1 buckets, unchanged
    assert crypto.open_document(sealed, OVERSIGHT, versions=(2,)) == doc
    assert crypto.open_document(sealed, OVERSIGHT, versions=(1, 2), expect=doc["type"]) == doc
    with pytest.raises(crypto.CryptoError):  # a v1 reader (the default) refuses it
        crypto.open_document(sealed, OVERSIGHT)


def test_a_v1_document_is_refused_where_only_v2_is_accepted() -> None:
    v1 = {"v": 1, "type": "message", "text": "hi", "sent_on": "2026-03-03"}
    sealed = crypto.seal_document(v1, OVERSIGHT.public_key)
    assert crypto.open_document(sealed, OVERSIGHT, versions=(1, 2)) == v1
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed, OVERSIGHT, versions=(2,))


def test_neither_sealer_takes_the_other_versions_documents() -> None:
    with pytest.raises(crypto.InvalidDocument, match='"v": 1'):
        crypto.seal_document(later("message"), OVERSIGHT.public_key)
    with pytest.raises(crypto.InvalidDocument, match='"v": 2'):
        crypto.seal_document_v2(
            {"v": 1, "type": "message", "text": "", "sent_on": "2026-03-03"},
            OVERSIGHT.public_key,
        )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (report(v=1), '"v": 2'),
        (report(v=2.0), '"v": 2'),
        (report(type="memo"), '"type"'),
        (report(reply_sign_pk=None), '"reply_sign_pk"'),
        (report(reply_sign_pk=crypto.b64u_encode(bytes(31))), '"reply_sign_pk"'),
        (report(urgent="yes"), '"urgent"'),  # every v1 report rule still holds
        (report(reply_box_pk="AAAA"), '"reply_box_pk"'),
        (later("message", case_key=None), '"case_key"'),
        (later("reply", case_key=crypto.b64u_encode(bytes(33))), '"case_key"'),
        (later("status", text=None), '"text"'),
        (later("outcome", sent_on="2026-02-30"), "sent_on"),
        (later("message", key_proof=crypto.b64u_encode(bytes(32))), "together"),
        (later("message", reply_sign_pk=crypto.b64u_encode(bytes(32))), "together"),
        (
            later("message", reply_sign_pk="x", key_proof=crypto.b64u_encode(bytes(32))),
            '"reply_sign_pk"',
        ),
        (later("reply", history=[]), '"history"'),
        (later("reply", history={"replies": ["AB" * 32], "received": []}), "history.replies"),
        (later("reply", history={"replies": []}), "history.received"),
        (later("reply", history={"replies": [], "received": [1]}), "history.received"),
    ],
)
def test_schema_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(crypto.InvalidDocument, match=message):
        crypto.check_document_v2(doc)


def test_expect_pins_the_type() -> None:
    with pytest.raises(crypto.InvalidDocument, match='expected a "reply"'):
        crypto.check_document_v2(later("status"), expect="reply")
    sealed = crypto.seal_document_v2(later("status"), REPORTER.public_key)
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed, REPORTER, versions=(2,), expect="reply")


def test_a_message_may_not_carry_history_meaning_and_it_is_ignored() -> None:
    """`history` means something only from the oversight body; elsewhere it is an unknown
    field, allowed and ignored like any other."""
    crypto.check_document_v2(later("message", history="anything"))
