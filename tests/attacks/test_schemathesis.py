"""Schemathesis against the portal's own OpenAPI document, on a real portal over HTTP.

Every operation, schema-valid and schema-violating data, and the document taken at its
word: no 5xx, every status and content type the document declares, every body its
schema, and every answer in time. Signed operations are signed (console or reporter key)
so the fuzzing reaches past the signature check into body and query parsing; unsigned
and wrongly signed requests are attacked in test_sealed_and_signed.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import crypto
from portal.openapi import openapi_document
from tests.portal.conftest import Portal
from tests.portal.forms import receipt_of, submit_report

#: Seconds one request may take before it counts as a hang.
TIMEOUT = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


#: uvicorn's answer to a request that is not valid HTTP (say, `Content-Length: Infinity` or
#: a header name with a `;`), which never reaches the API; info.description says so.
SERVER_REFUSAL = "Invalid HTTP request received."
SIGNATURE_HEADERS = {"lanthorn-key", "lanthorn-timestamp", "lanthorn-nonce", "lanthorn-signature"}


class SignRequests(requests.auth.AuthBase):
    """Signs a prepared request (final body and target) as protocol v1 §2.5 says."""

    def __init__(self, key: crypto.SigningKey, clock: Callable[[], float], key_id: bytes | None):
        self.key, self.clock, self.key_id = key, clock, key_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        request.headers.update(
            crypto.sign_request(
                self.key,
                str(request.method),
                str(request.path_url),
                body,
                timestamp=int(self.clock()),
                key_id=self.key_id,
            )
        )
        return request


#: The document the portal serves (test_the_served_document_is_the_one_fuzzed checks it);
#: loaded at import, because schemathesis parametrizes tests at collection.
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": 15},
            "request-timeout": TIMEOUT,
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_the_api_keeps_its_published_contract(case: Any, portal: Portal) -> None:
    tags = set(case.operation.definition.raw.get("tags", []))
    session = requests.Session()
    sent = {name.lower() for name in case.headers or {}}
    # A case whose negative mutation dropped a Lanthorn-* header goes unsigned, as
    # generated: it must be the 401 the document declares. The rest are signed.
    if not SIGNATURE_HEADERS <= sent:
        pass
    elif "console" in tags:
        session.auth = SignRequests(portal.console_key, portal.clock, None)
    elif "reporter" in tags:
        keys = reporter_keys(portal)
        session.auth = SignRequests(keys.sign, portal.clock, keys.lookup_id)
    response = case.call(base_url=portal.url, session=session, timeout=TIMEOUT)
    session.close()
    if response.text == SERVER_REFUSAL:  # not valid HTTP: the server answered, as documented
        assert response.status_code == 400
        return
    case.validate_response(response, checks=CHECKS)


def test_the_served_document_is_the_one_fuzzed(portal: Portal) -> None:
    served = portal.client().get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document()


def test_signed_fuzzing_gets_past_the_signature(portal: Portal) -> None:
    """The signing above is right, so the fuzzing reaches the handlers, not only the 401."""
    session = requests.Session()
    session.auth = SignRequests(portal.console_key, portal.clock, None)
    answer = session.get(f"{portal.url}/api/v1/console/outbox?limit=5", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    keys = reporter_keys(portal)
    session.auth = SignRequests(keys.sign, portal.clock, keys.lookup_id)
    assert session.get(f"{portal.url}/api/v1/thread", timeout=TIMEOUT).status_code == 200
    session.close()


#: One reporter (a case made through the staff form) per running portal.
_REPORTERS: dict[str, crypto.ReporterKeys] = {}


def reporter_keys(portal: Portal) -> crypto.ReporterKeys:
    if portal.url not in _REPORTERS:
        receipt = receipt_of(submit_report(portal.client()))
        _REPORTERS[portal.url] = portal.derive(crypto.validate_receipt(receipt))
    return _REPORTERS[portal.url]


@pytest.mark.parametrize(
    "range_header",
    ["bytes=0-10", "bytes=999999999-", "bytes=abc", "bytes=5-1", "bytes=0-1,3-4", "items=0-1"],
)
def test_range_requests_get_only_declared_answers(portal: Portal, range_header: str) -> None:
    """The document says `Range` is honoured: whatever range is asked, the answer is one
    the document declares for the download."""
    client = portal.client()
    files = [("a.txt", b"attached words " * 100, "text/plain")]
    submit_report(client, files=files)
    console = portal.console()
    [item] = console.outbox()["items"]
    [blob_id] = item["blob_ids"]
    answer = console.http.get(f"/api/v1/console/blobs/{blob_id}", headers={"range": range_header})
    declared = openapi_document()["paths"]["/api/v1/console/blobs/{blob_id}"]["get"]
    response = declared["responses"].get(str(answer.status_code))
    assert response is not None, (range_header, answer.status_code)
    media = answer.headers.get("content-type", "").split(";")[0]
    declared_types = response.get("content") or {media: None}  # no content: any
    assert media in declared_types, (range_header, media)


def test_a_405_names_every_method_the_address_takes(portal: Portal) -> None:
    """RFC 9110: a 405 carries `Allow`, listing every method of the resource, also where
    one path is served by a GET route and a POST route."""
    with portal.client() as client:
        for path, allowed in (
            ("/api/v1/reports", {"POST"}),
            ("/api/v1/config", {"GET", "HEAD"}),
            ("/report/staff", {"GET", "HEAD", "POST"}),
        ):
            answer = client.request("PUT", path)
            assert answer.status_code == 405, path
            assert set(answer.headers["allow"].split(", ")) == allowed, path
