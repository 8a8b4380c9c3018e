"""The API's JSON bodies: an object, and its fields checked with a message that says
exactly what is wrong (→ 400). The body itself is read by `foundation.bodies`."""

from __future__ import annotations

import json
from typing import Any

import crypto
from foundation.errors import BadRequest


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="bad_json")
    return data


def b64u_field(data: dict[str, Any], name: str, length: int | None = None) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise BadRequest(f'"{name}" is missing or not a string.', code="bad_field")
    try:
        return crypto.b64u_decode(value, length=length)
    except crypto.CryptoError:
        size = f" of exactly {length} bytes" if length else ""
        raise BadRequest(
            f'"{name}" must be URL-safe base64 without padding{size}.', code="bad_base64"
        ) from None


def string_field(data: dict[str, Any], name: str, max_length: int = 64) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise BadRequest(f'"{name}" is missing or not a short string.', code="bad_field")
    return value


def blob_ids_field(data: dict[str, Any], max_count: int = 100) -> list[str]:
    value = data.get("blob_ids", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest('"blob_ids" must be a list of strings.', code="bad_field")
    if len(value) > max_count:
        raise BadRequest(f"At most {max_count} attachments per submission.", code="bad_field")
    return value
