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


def hidden_fields(page: str, action: str | None = None) -> dict[str, str]:
    """The page's hidden fields (only those of the form posting to `action`, if given)."""
    if action is not None:
        start = page.index(f'action="{action}"')
        page = page[start : page.index("</form>", start)]
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def _form_html(page: str, action: str | None) -> str:
    """The HTML of the form posting to `action` (or of the first form) on `page`."""
    if action is not None:
        page = page[page.index(f'action="{action}"') :]
    return page[: page.find("</form>")] if "</form>" in page else page


def csrf_token(client: httpx.Client, path: str, action: str | None = None) -> str:
    """The CSRF token of the form on `path` (the one posting to `action`, if given)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = _CSRF.search(_form_html(page.text, action))
    assert match, f"no CSRF token on {path}"
    return html.unescape(match.group(1))


def form_fields(client: httpx.Client, path: str, action: str | None = None) -> dict[str, str]:
    """Every hidden field of the form on `path` (the one posting to `action`, if given), as
    a browser sends them: the CSRF token, and the value that lets the form be sent once."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return hidden_fields(_form_html(page.text, action))


def submit_report(
    client: httpx.Client,
    channel: str = "staff",
    files: list[tuple[str, bytes, str]] | None = None,
    **fields: Any,
) -> httpx.Response:
    return client.send(report_request(client, channel, files, **fields))


def report_request(
    client: httpx.Client,
    channel: str = "staff",
    files: list[tuple[str, bytes, str]] | None = None,
    **fields: Any,
) -> httpx.Request:
    """The report form filled in and ready to send, read into memory: what a browser sends
    when the reporter presses "Send report", and sends again, byte for byte, on reload."""
    path = f"/report/{channel}"
    data = {**form_fields(client, path), **REPORT_FIELDS, **fields}
    upload = [("attachments", (name, content, mime)) for name, content, mime in files or []]
    if not upload:  # a browser sends an empty file part when no file is chosen
        upload = [("attachments", ("", b"", "application/octet-stream"))]
    request = client.build_request("POST", path, data=data, files=upload)
    request.read()
    return request


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
    return client.send(message_request(client, text, file))


def message_request(
    client: httpx.Client, text: str, file: tuple[str, bytes, str] = NO_FILE
) -> httpx.Request:
    """The thread page's message form filled in and read into memory, ready to send (and
    send again, as a reload or a double click does)."""
    data = {**form_fields(client, "/thread", "/thread"), "text": text}
    request = client.build_request("POST", "/thread", data=data, files=[("attachments", file)])
    request.read()
    return request


def open_thread(client: httpx.Client, receipt: str) -> httpx.Response:
    token = csrf_token(client, "/follow-up")
    return client.post("/follow-up", data={"csrf": token, "receipt": receipt})


_PAGE_ERROR = re.compile(r'<p class="field-error" role="alert">([^<]*)</p>')


def page_error(response: httpx.Response) -> str:
    """The message the server put on the page it answered with (not the ones a page's
    script keeps, escaped, to show itself), or "" if there is none."""
    match = _PAGE_ERROR.search(response.text)
    return html.unescape(match.group(1)) if match else ""
