"""No input is worth a 500: random bodies, content types, queries and headers against
every endpoint get a clear 4xx (or success), never an internal error."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Portal

ENDPOINTS = [
    ("POST", "/api/v1/blobs"),
    ("POST", "/api/v1/reports"),
    ("GET", "/api/v1/thread"),
    ("POST", "/api/v1/thread/messages"),
    ("GET", "/api/v1/console/outbox"),
    ("POST", "/api/v1/console/ack"),
    ("POST", "/report/staff"),
    ("POST", "/report/third-party"),
    ("POST", "/receipt/check"),
    ("POST", "/follow-up"),
    ("POST", "/thread"),
    ("POST", "/leave"),
    ("GET", "/thread"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
report_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.text(alphabet="ABCDEFGHIJabcdefgh0123456789_-=+/", max_size=60)
        for key in ("sealed", "lookup_id", "box_pk", "sign_pk", "blob_ids", "cursor", "case")
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    report_like.map(lambda d: json.dumps(d).encode()),
    st.text(max_size=200).map(str.encode),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/octet-stream",
        "",
    ]
)
header_values = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies,
    content_type=content_types,
    query=st.text(alphabet="abcdefghijklmnopqrstuvwxyz=&%0123456789²٣", max_size=30),
    lanthorn=st.dictionaries(
        st.sampled_from(
            ["Lanthorn-Key", "Lanthorn-Timestamp", "Lanthorn-Nonce", "Lanthorn-Signature"]
        ),
        header_values,
    ),
    cookie=header_values,
)
def test_no_input_causes_a_server_error(
    portal: Portal,
    endpoint: tuple[str, str],
    body: bytes,
    content_type: str,
    query: str,
    lanthorn: dict[str, str],
    cookie: str,
) -> None:
    method, path = endpoint
    headers = {"content-type": content_type, **lanthorn, "cookie": f"lanthorn_session={cookie}"}
    client = portal.client()
    response = client.request(method, f"{path}?{query}", content=body, headers=headers)
    assert response.status_code < 500, (method, path, response.text[:300])
    if path.startswith("/api/") and response.status_code >= 400:
        assert set(response.json()) == {"error", "message"}
    client.close()
