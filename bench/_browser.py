"""The staff report form as a reporter's browser fills it in, and the receipt page it gets.

Scraping the form and reading the receipt are the tests' own helpers (tests/portal/forms.py);
what is added here is the raw multipart body, built once so the timing measures the portal.
"""

from __future__ import annotations

import os

import httpx

import crypto
from tests.portal.forms import RECEIPT_LABEL, REPORT_FIELDS, csrf_token

#: The staff form as the benchmark fills it in: the tests' report, about corruption.
FORM_FIELDS = {
    **REPORT_FIELDS,
    "category": "corruption",
    "description": (
        "An officer on C wing sells phones to prisoners and collects payment through "
        "visitors. It has gone on for months; several people on the wing know about it."
    ),
}


def form_token(client: httpx.Client) -> str:
    """GET the staff form; return its CSRF token (the client keeps the cookie)."""
    return csrf_token(client, "/report/staff")


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
