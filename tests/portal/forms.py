"""Driving the portal's HTML forms the way a browser with JavaScript off does."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RECEIPT_LABEL = re.compile(r'aria-label="Your receipt code: ([0-9 ]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')

REPORT_FIELDS = {
    "category": "staff_sexual_misconduct",
    "urgent": "no",
    "facility": "HMP Example",
    "location": "B wing",
    "occurred": "last Tuesday night",
    "subjects": "Officer on nights",
    "witnesses": "",
    "description": "An officer has been taking a prisoner to the laundry at night.",
    "identity": "",
}


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def csrf_token(client: httpx.Client, path: str, action: str | None = None) -> str:
    """The CSRF token of the form on `path` (the one posting to `action`, if given)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    text = page.text
    if action is not None:
        text = text[text.index(f'action="{action}"') :]
    match = _CSRF.search(text)
    assert match, f"no CSRF token on {path}"
    return html.unescape(match.group(1))


def submit_report(
    client: httpx.Client,
    channel: str = "staff",
    files: list[tuple[str, bytes, str]] | None = None,
    **fields: Any,
) -> httpx.Response:
    data = {"csrf": csrf_token(client, f"/report/{channel}"), **REPORT_FIELDS, **fields}
    upload = [("attachments", (name, content, mime)) for name, content, mime in files or []]
    if not upload:  # a browser sends an empty file part when no file is chosen
        upload = [("attachments", ("", b"", "application/octet-stream"))]
    return client.post(f"/report/{channel}", data=data, files=upload)


def receipt_of(response: httpx.Response) -> str:
    match = RECEIPT_LABEL.search(response.text)
    assert match, "no receipt on the page"
    return match.group(1)


#: What a browser sends for the file input when no file is chosen.
NO_FILE: tuple[str, bytes, str] = ("", b"", "application/octet-stream")


def send_message(
    client: httpx.Client, text: str, file: tuple[str, bytes, str] = NO_FILE
) -> httpx.Response:
    """Send a follow-up message from the reporter's thread page, as its form does: the
    text and its one file input (empty unless `file` is given)."""
    return client.post(
        "/thread",
        data={"csrf": csrf_token(client, "/thread"), "text": text},
        files=[("attachments", file)],
    )


def open_thread(client: httpx.Client, receipt: str) -> httpx.Response:
    token = csrf_token(client, "/follow-up")
    return client.post("/follow-up", data={"csrf": token, "receipt": receipt})
