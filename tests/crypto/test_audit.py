"""The audit chain: any change to the log — edit, removal, insertion, reordering — is found,
and the verifier says where."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto

entries = st.lists(
    st.fixed_dictionaries(
        {
            "actor": st.text(max_size=10),
            "action": st.sampled_from(["view", "route", "reply"]),
            "case": st.text(max_size=8),
            "on": st.just("2026-11-27"),
        }
    ),
    min_size=1,
    max_size=12,
)


def chain(log: list[dict[str, Any]], key: bytes = b"") -> list[tuple[dict[str, Any], bytes]]:
    previous, out = crypto.AUDIT_GENESIS, []
    for entry in log:
        previous = crypto.audit_digest(previous, entry, key)
        out.append((entry, previous))
    return out


@given(entries)
def test_an_untouched_chain_verifies(log: list[dict[str, Any]]) -> None:
    chained = chain(log)
    assert crypto.verify_audit_chain(chained) == (len(log), chained[-1][1])


@given(entries, st.data())
def test_an_edited_entry_is_found_at_its_index(
    log: list[dict[str, Any]], data: st.DataObject
) -> None:
    chained = chain(log)
    i = data.draw(st.integers(0, len(log) - 1))
    entry, digest = chained[i]
    chained[i] = ({**entry, "action": "export"} if entry["action"] != "export" else {}, digest)
    with pytest.raises(crypto.AuditChainBroken) as caught:
        crypto.verify_audit_chain(chained)
    assert caught.value.index == i


def test_removal_insertion_and_reordering_are_found() -> None:
    log = [{"n": i} for i in range(5)]
    chained = chain(log)
    removed = chained[:2] + chained[3:]
    with pytest.raises(crypto.AuditChainBroken, match="entry 2"):
        crypto.verify_audit_chain(removed)
    inserted = chained[:2] + [({"n": 99}, chained[1][1])] + chained[2:]
    with pytest.raises(crypto.AuditChainBroken, match="entry 2"):
        crypto.verify_audit_chain(inserted)
    reordered = [chained[1], chained[0], *chained[2:]]
    with pytest.raises(crypto.AuditChainBroken, match="entry 0"):
        crypto.verify_audit_chain(reordered)


def test_a_rewritten_tail_is_detected_against_a_remembered_head() -> None:
    chained = chain([{"n": i} for i in range(3)])
    count, head = crypto.verify_audit_chain(chained)
    forged = chain([{"n": 0}, {"n": 1}, {"n": "covered up"}])
    assert crypto.verify_audit_chain(forged)[1] != head


def test_a_keyed_chain_cannot_be_recomputed_without_the_key() -> None:
    key = bytes(range(32))
    log = [{"n": i} for i in range(3)]
    keyed = chain(log, key)
    assert crypto.verify_audit_chain(keyed, key)[0] == 3
    with pytest.raises(crypto.AuditChainBroken, match="entry 0"):
        crypto.verify_audit_chain(keyed)  # verified without the key
    assert chain(log) != keyed


def test_canonical_form_ignores_key_order_but_not_values() -> None:
    assert crypto.canonical_entry({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert crypto.audit_digest(crypto.AUDIT_GENESIS, {"a": 1, "b": 2}) == crypto.audit_digest(
        crypto.AUDIT_GENESIS, {"b": 2, "a": 1}
    )


def test_a_continued_chain_verifies_from_its_checkpoint() -> None:
    chained = chain([{"n": i} for i in range(6)])
    _, head = crypto.verify_audit_chain(chained[:3])
    assert crypto.verify_audit_chain(chained[3:], start=head) == (3, chained[-1][1])
