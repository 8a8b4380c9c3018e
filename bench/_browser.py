"""The staff report form as a reporter's browser fills it in, and the receipt page it gets."""

from __future__ import annotations

import html
import os
import re

import httpx

import crypto

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')
RECEIPT_LABEL = re.compile(r'aria-label="Your receipt code: ([0-9 ]+)"')

FORM_FIELDS = {
    "category": "corruption",
    "urgent": "no",
    "facility": "HMP Example",
    "location": "",
    "occurred": "",
    "subjects": "",
    "witnesses": "",
    "description": (
        "An officer on C wing sells phones to prisoners and collects payment through "
        "visitors. It has gone on for months; several people on the wing know about it."
    ),
    "identity": "",
}


def form_token(client: httpx.Client) -> str:
    """GET the staff form; return its CSRF token (the client keeps the cookie)."""
    response = client.get("/report/staff")
    if response.status_code != 200:
        raise RuntimeError(f"GET /report/staff: {response.status_code}")
    found = CSRF_INPUT.search(response.text)
    if found is None:
        raise RuntimeError("GET /report/staff: no csrf input in the page")
    return html.unescape(found.group(1))


def browser_form(csrf: str) -> tuple[bytes, str]:
    """The form's body and content type as a browser sends it with no file chosen."""
    boundary = "----LanthornBench" + os.urandom(8).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
        for name, value in [("csrf", csrf), *FORM_FIELDS.items()]
    ]
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        'name="attachments"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n".encode()
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def receipt_in(page: str) -> str | None:
    """The valid receipt shown on a report's answer page, if there is one."""
    found = RECEIPT_LABEL.search(page)
    if found is None:
        return None
    try:
        receipt: str = crypto.validate_receipt(found.group(1))
    except crypto.InvalidReceipt:
        return None
    return receipt
