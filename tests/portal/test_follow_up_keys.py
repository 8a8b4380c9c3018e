"""Signing in at /follow-up with the keys the page derived (follow-up.js), over real HTTP:
the portal derives nothing, and keys that do not open the case are answered exactly as an
unknown receipt is."""

from __future__ import annotations

import secrets

import httpx
import pytest

import crypto
from portal.followup import NOT_FOUND

from .conftest import Portal
from .forms import csrf_token, open_thread, page_error, receipt_of, submit_report


def count_failures(portal: Portal) -> list[bytes]:
    """The lookup ids of every failed attempt the receipt throttle is told of."""
    failed: list[bytes] = []
    throttle = portal.app.state.throttle
    original = throttle.failure

    def counting(lookup_id: bytes) -> float:
        failed.append(lookup_id)
        return float(original(lookup_id))

    throttle.failure = counting
    return failed


def sign_in_with(client: httpx.Client, **fields: str) -> httpx.Response:
    token = csrf_token(client, "/follow-up")
    return client.post("/follow-up", data={"csrf": token, **fields})


def keys_of(lookup_id: bytes, box: crypto.PrivateKey, sign: crypto.SigningKey) -> dict[str, str]:
    return {
        "lookup_id": crypto.b64u_encode(lookup_id),
        "box_sk": crypto.b64u_encode(bytes(box)),
        "sign_sk": crypto.b64u_encode(bytes(sign)),  # the 32-byte seed
    }


def filed_case(portal: Portal) -> crypto.ReporterKeys:
    """A report filed through the form, and the keys its receipt gives."""
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    return portal.derive(receipt)


def test_the_keys_from_the_page_open_the_thread_without_a_derivation(portal: Portal) -> None:
    keys = filed_case(portal)
    console = portal.console()
    [item] = console.outbox()["items"]
    console.reply(item["case"], console.open(item), "We have this. Are you safe to talk?")
    derivations = portal.count_key_derivations()
    browser = portal.client()
    login = sign_in_with(browser, **keys_of(keys.lookup_id, keys.box, keys.sign))
    assert login.status_code == 303
    assert login.headers["location"] == "/thread"
    assert browser.cookies.get("lanthorn_session")
    thread = browser.get("/thread")
    assert thread.status_code == 200
    assert "We have this. Are you safe to talk?" in thread.text  # opened with that box key
    assert derivations == []


def test_keys_that_do_not_open_the_case_are_an_unknown_receipt(portal: Portal) -> None:
    keys = filed_case(portal)
    unknown = open_thread(portal.client(), crypto.generate_receipt())
    assert unknown.status_code == 422
    assert page_error(unknown) == NOT_FOUND
    failures = count_failures(portal)
    derivations = portal.count_key_derivations()
    nobody = secrets.token_bytes(32)
    tries = (
        (keys.lookup_id, crypto.PrivateKey.generate(), keys.sign),
        (nobody, keys.box, keys.sign),
        (keys.lookup_id, keys.box, crypto.SigningKey.generate()),
    )
    for lookup_id, box, sign in tries:
        browser = portal.client()
        answer = sign_in_with(browser, **keys_of(lookup_id, box, sign))
        assert answer.status_code == 422
        assert page_error(answer) == page_error(unknown)
        assert "lanthorn_session" not in browser.cookies
        assert browser.get("/thread").headers.get("location") == "/follow-up?ended=1"
    assert failures == [keys.lookup_id, nobody, keys.lookup_id]  # each slowed, as a wrong code
    assert derivations == []
    # The right keys still open it at once: a wrong key locks nobody out.
    assert (
        sign_in_with(portal.client(), **keys_of(keys.lookup_id, keys.box, keys.sign)).status_code
        == 303
    )


#: Keys no script of the portal sends: each is refused before any lookup.
MALFORMED = {
    "alphabet": {"lookup_id": "not base64!", "box_sk": "A" * 43, "sign_sk": "A" * 43},
    "short": {"lookup_id": "A" * 42, "box_sk": "A" * 43, "sign_sk": "A" * 43},  # 31 bytes
    "long": {"lookup_id": "A" * 43, "box_sk": "A" * 44, "sign_sk": "A" * 43},  # 33 bytes
    "padded": {"lookup_id": "A" * 43 + "=", "box_sk": "A" * 43, "sign_sk": "A" * 43},
    "non-canonical": {"lookup_id": "A" * 42 + "B", "box_sk": "A" * 43, "sign_sk": "A" * 43},
    "short-sign": {"lookup_id": "A" * 43, "box_sk": "A" * 43, "sign_sk": "A" * 42},
    "no-box": {"lookup_id": "A" * 43, "sign_sk": "A" * 43},
    "no-sign": {"lookup_id": "A" * 43, "box_sk": "A" * 43},
    "no-lookup": {"box_sk": "A" * 43, "sign_sk": "A" * 43},
    "empty": {"lookup_id": "", "box_sk": "", "sign_sk": ""},
    "not-ascii": {"receipt": "", "lookup_id": "A" * 43, "box_sk": "Ω" * 43, "sign_sk": "A" * 43},
}


@pytest.mark.parametrize("fields", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_keys_are_refused_with_a_sentence(portal: Portal, fields: dict[str, str]) -> None:
    failures = count_failures(portal)
    answer = sign_in_with(portal.client(), **fields)
    assert answer.status_code == 400
    assert "The keys this page sent could not be read" in answer.text
    assert failures == []  # refused before any lookup


def test_the_keys_need_the_form_csrf_token(portal: Portal) -> None:
    keys = filed_case(portal)
    client = portal.client()
    client.get("/follow-up")
    answer = client.post("/follow-up", data=keys_of(keys.lookup_id, keys.box, keys.sign))
    assert answer.status_code == 403


def test_a_typed_receipt_still_goes_the_server_way(portal: Portal) -> None:
    """Without JavaScript the form sends the code, and the server derives the keys."""
    receipt = receipt_of(submit_report(portal.client()))
    derivations = portal.count_key_derivations()
    assert open_thread(portal.client(), receipt).status_code == 303
    assert len(derivations) == 1
    # A receipt typed in the field is what counts, even next to keys a page added.
    other = crypto.PrivateKey.generate()
    with_keys = sign_in_with(
        portal.client(),
        receipt=receipt,
        **keys_of(secrets.token_bytes(32), other, crypto.SigningKey.generate()),
    )
    assert with_keys.status_code == 303
    assert len(derivations) == 2
