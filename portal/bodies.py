"""Reading request bodies safely: size limits enforced before and while streaming, and
JSON fields checked with a message that says exactly what is wrong (→ 400)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

import crypto

from .errors import BadRequest, TooLarge

_DIGITS = re.compile(r"[0-9]{1,20}")


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise BadRequest("The Content-Length header is not a number.")
    return int(value)


def refuse_if_declared_over(request: Request, limit: int, what: str) -> None:
    """413 at once when the client announces more than `limit` bytes: nothing is read."""
    length = declared_length(request)
    if length is not None and length > limit:
        raise TooLarge(f"{what} is {length} bytes; this portal accepts at most {limit}.")


async def limited_stream(request: Request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The body as it arrives, refused with 413 the moment it passes `limit`."""
    refuse_if_declared_over(request, limit, what)
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what} is larger than this portal accepts ({limit} bytes).")
        yield chunk


async def read_body(request: Request, limit: int, what: str = "The request body") -> bytes:
    parts = [chunk async for chunk in limited_stream(request, limit, what)]
    return b"".join(parts)


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
