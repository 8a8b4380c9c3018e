"""Slow and stalled uploads cannot stop reporting (issue 14, finding 2).

An upload that sends a little and then nothing used to keep every file it had begun
open until it ended: ten of them used all 1,024 descriptors of the portal's process, an
honest report with a photo got a 500, and at eleven the portal stopped accepting
connections. Now a request holds at most one open file at a time, a worker takes a
bounded number of uploads and of buffered body bytes at once (503 with `Retry-After`
past either), a body that stalls or trickles is cut off with 408 and its files deleted,
a form opens no file before its CSRF token has been checked, and the files of the no-JS
forms count against the unclaimed-upload budget, which refuses them without losing the
reporter's text.

The stalled bodies here are raw sockets that send part of a request and stop. The test
of descriptors runs `lanthorn portal serve` as its own process, with its descriptor limit
lowered, and counts `/proc/PID/fd`: only a separate process gives a real count.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import crypto
from foundation.csrf import CSRF_COOKIE
from foundation.serving import OVER_LIMIT_CONNECTIONS
from tests.portal.clients import OCTETS, stored_blob
from tests.portal.conftest import Portal, PortalFactory
from tests.portal.forms import (
    REPORT_FIELDS,
    form_fields,
    hidden_fields,
    open_thread,
    receipt_of,
    send_message,
    submit_report,
)
from tests.portal.test_cli import oversight_json

from .forms import mint

BOUNDARY = "lanthorn-slow-upload"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
#: A body length announced and never sent in full: the portal waits for the rest.
ANNOUNCED = 8 * 1024 * 1024
LANTHORN = Path(sys.executable).with_name("lanthorn")


def field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def file_head(filename: str = "photo.jpg", name: str = "attachments") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()


def file_part(content: bytes, filename: str = "photo.jpg") -> bytes:
    return file_head(filename) + content + b"\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class RawPost:
    """A POST sent byte by byte over its own socket, which can stop sending at any point."""

    def __init__(
        self, url: str, path: str, content_type: str, length: int, cookie: str = ""
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        cookies = f"Cookie: {CSRF_COOKIE}={cookie}\r\n" if cookie else ""
        self.sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{cookies}"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n".encode()
        )

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answered(self, wait: float = 0.0) -> bool:
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def answer(self) -> Answer:
        """The response, read whole (the socket times out after 10 s of silence)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, f"the connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = self.sock.recv(65536)
            assert chunk, "the connection closed in the middle of the answer"
            body += chunk
        return Answer(int(status_line.split()[1]), headers, body)

    def close(self) -> None:
        self.sock.close()


def temporary_files(blob_dir: Path) -> list[Path]:
    return sorted(blob_dir.glob(".tmp-*"))


def wait_for(condition: object, seconds: float = 10) -> bool:
    """Poll `condition()` until it holds or `seconds` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def report_form_start(client: httpx.Client) -> tuple[str, bytes]:
    """The CSRF cookie and the report form's first fields, as a browser sends them."""
    fields = form_fields(client, "/report/staff")
    cookie = client.cookies[CSRF_COOKIE]
    start = field("csrf", fields["csrf"]) + field("once", fields["once"])
    for name, value in REPORT_FIELDS.items():
        start += field(name, value)
    return cookie, start


# -- (a) many stalled uploads, counted in the server's own descriptors -------------------------

STALLED = 12
PARTS_EACH = 20
#: The server's descriptor limit in this test: far below what the stalled uploads would
#: hold if each kept its files open (12 × 21), well above what the portal needs.
NOFILE = 160
#: What the server may hold while the stalled uploads wait: its own files (listening
#: socket, event loop, database), and for each stalled upload its socket and one file.
FD_CAP = 64 + 2 * STALLED


@dataclass
class Served:
    url: str
    pid: int
    blob_dir: Path


@contextlib.contextmanager
def served_portal(tmp_path: Path, **variables: str) -> Iterator[Served]:
    """`lanthorn portal serve --workers 1` (so uvicorn serves in that very process), on
    SQLite, with its descriptor limit set to `NOFILE`."""
    oversight, console = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    oversight_sign = crypto.SigningKey.generate()
    (tmp_path / "oversight.json").write_text(
        oversight_json(bytes(oversight.public_key), bytes(oversight_sign.verify_key))
    )
    (tmp_path / "console.pub").write_text(crypto.b64u_encode(bytes(console.verify_key)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    data = tmp_path / "portal"
    subprocess.run(
        [LANTHORN, "portal", "init", "--data", data, "--oversight-key"]
        + [tmp_path / "oversight.json", "--console-key", tmp_path / "console.pub"],
        env=env,
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def limit_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [LANTHORN, "portal", "serve", "--data", data, "--port", str(port), "--workers", "1"],
            env={**env, **variables},
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_descriptors,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                httpx.get(url + "/api/v1/config").raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.1)
        yield Served(url, server.pid, data / "blobs")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_stalled_uploads_hold_one_file_each_and_an_honest_report_still_goes_in(
    tmp_path: Path,
) -> None:
    with served_portal(
        tmp_path,
        LANTHORN_CONNECTIONS_PER_WORKER="24",
        LANTHORN_UPLOAD_CONCURRENCY="16",
    ) as portal:
        with httpx.Client(base_url=portal.url, timeout=10) as client:
            cookie, start = report_form_start(client)
            stalled = []
            try:
                for _ in range(STALLED):
                    post = RawPost(portal.url, "/report/staff", MULTIPART, ANNOUNCED, cookie)
                    stalled.append(post)
                    post.send(start)
                    for number in range(PARTS_EACH):
                        post.send(file_part(os.urandom(1024), f"page-{number}.jpg"))
                    post.send(file_head("last.jpg") + os.urandom(1024))  # and nothing more
                # Each stalled form has begun PARTS_EACH + 1 files (closed ones stay until
                # they are committed or deleted). Wait until the portal has them all, or
                # has stopped making them.
                expected = STALLED * (PARTS_EACH + 1)
                wait_for(lambda: len(temporary_files(portal.blob_dir)) >= expected)
                held = open_descriptors(portal.pid)
                assert held <= FD_CAP, f"{held} descriptors open for {STALLED} stalled uploads"

                photo = os.urandom(300_000)
                sent = submit_report(client, files=[("cell.jpg", photo, "image/jpeg")])
                assert sent.status_code == 201, sent.text
                assert receipt_of(sent)
            finally:
                for post in stalled:
                    post.close()
            # Gone clients leave nothing: their forms' files are deleted.
            assert wait_for(lambda: not temporary_files(portal.blob_dir))


# -- (b) a stalled or trickling body is cut off ------------------------------------------------


def test_a_stalled_form_is_cut_off_with_408_and_its_files_are_deleted(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(body_idle_seconds=1)
    cookie, start = report_form_start(portal.client())
    post = RawPost(portal.url, "/report/staff", MULTIPART, ANNOUNCED, cookie)
    try:
        post.send(start + file_part(os.urandom(100_000)) + file_head() + os.urandom(100_000))
        assert wait_for(lambda: temporary_files(portal.settings.blob_dir) != [])
        answer = post.answer()  # and nothing more is sent
    finally:
        post.close()
    assert answer.status == 408, answer.text
    assert "arrived too slowly" in answer.text
    assert answer.headers["connection"] == "close"
    assert list(portal.settings.blob_dir.iterdir()) == []


def test_a_stalled_api_upload_is_cut_off_with_408_and_leaves_no_file(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(body_idle_seconds=1)
    post = RawPost(portal.url, "/api/v1/blobs", "application/octet-stream", ANNOUNCED)
    try:
        post.send(os.urandom(100_000))
        assert wait_for(lambda: temporary_files(portal.settings.blob_dir) != [])
        answer = post.answer()
    finally:
        post.close()
    assert answer.status == 408, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert b'"error":"too_slow"' in answer.body
    assert list(portal.settings.blob_dir.iterdir()) == []


def test_a_trickling_upload_is_cut_off_with_408(make_portal: PortalFactory) -> None:
    """A byte now and then keeps a body from stalling, not from being too slow: over each
    window of 1 s here it must bring 100 kB, and 2 kB a second does not."""
    portal = make_portal(body_idle_seconds=30, body_min_rate=100_000, body_rate_window=1)
    post = RawPost(portal.url, "/api/v1/blobs", "application/octet-stream", ANNOUNCED)
    try:
        deadline = time.monotonic() + 10
        while not post.answered(wait=0.05) and time.monotonic() < deadline:
            post.send(b"x" * 100)
        answer = post.answer()
    finally:
        post.close()
    assert answer.status == 408, answer.text
    assert list(portal.settings.blob_dir.iterdir()) == []


# -- (c) no file is opened before the CSRF token is checked -----------------------------------


@pytest.mark.parametrize("token", ["missing", "forged", "another form's"])
@pytest.mark.parametrize("path", ["/report/staff", "/thread"])
def test_a_form_without_its_csrf_token_opens_no_file(portal: Portal, path: str, token: str) -> None:
    client = portal.client()
    client.get("/report/staff")  # a CSRF cookie, as any visitor has
    fields = {
        "missing": b"",
        "forged": field("csrf", "Im5vdCBhIHRva2VuIg.bm90LXNpZ25lZA"),
        "another form's": field("csrf", mint(portal.app, client, "follow-up")),
    }[token]
    post = RawPost(portal.url, path, MULTIPART, ANNOUNCED, client.cookies[CSRF_COOKIE])
    opened = False
    try:
        post.send(fields + field("text", "hello") + file_head() + os.urandom(200_000))
        deadline = time.monotonic() + 10
        while not post.answered(wait=0.02) and time.monotonic() < deadline:
            opened = opened or temporary_files(portal.settings.blob_dir) != []
        opened = opened or temporary_files(portal.settings.blob_dir) != []
        assert not opened, "a file was opened for a form whose CSRF token was not checked"
        answer = post.answer()
    finally:
        post.close()
    assert answer.status == 403, answer.text
    assert "was not sent from this site" in answer.text
    assert list(portal.settings.blob_dir.iterdir()) == []


# -- (d) the unclaimed-upload budget on the no-JS forms ---------------------------------------


def stored(portal: Portal) -> list[Path]:
    return sorted(portal.settings.blob_dir.iterdir())


def test_the_budget_refuses_a_no_js_reports_files_and_keeps_its_text(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(unclaimed_bytes=1)
    client = portal.client()
    words = "The night officer takes a prisoner to the laundry after lock-up."
    answer = submit_report(
        client, files=[("laundry.jpg", os.urandom(100_000), "image/jpeg")], description=words
    )
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    page = answer.text
    assert "not been sent yet" in page
    assert "laundry.jpg" in page
    assert f">{words}</textarea>" in page
    assert 'value="HMP Example"' in page
    assert stored(portal) == []
    assert portal.console().outbox()["items"] == []

    # Sent again from the page shown, without the file: it goes in.
    again = client.post(
        "/report/staff",
        data={**hidden_fields(page, "/report/staff"), **REPORT_FIELDS, "description": words},
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert again.status_code == 201, again.text
    assert receipt_of(again)
    (item,) = portal.console().outbox()["items"]
    assert portal.console().open(item)["description"] == words


def test_the_budget_refuses_a_follow_up_messages_files_and_keeps_its_text(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(unclaimed_bytes=1)
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    assert open_thread(client, receipt).status_code in (200, 303)
    words = "He came back the next night as well."
    answer = send_message(client, words, ("night.jpg", os.urandom(50_000), "image/jpeg"))
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert "not been sent yet" in answer.text
    assert "night.jpg" in answer.text
    assert f">{words}</textarea>" in answer.text
    assert stored(portal) == []
    assert len(portal.console().outbox()["items"]) == 1  # the report only

    assert send_message(client, words).status_code == 303
    assert len(portal.console().outbox()["items"]) == 2


def test_files_of_the_no_js_forms_count_against_the_hourly_budget(
    make_portal: PortalFactory,
) -> None:
    one = crypto.stored_size(1000)
    portal = make_portal(unclaimed_bytes_per_hour=2 * one)
    client = portal.client()
    for name in ("first.jpg", "second.jpg"):
        sent = submit_report(client, files=[(name, os.urandom(1000), "image/jpeg")])
        assert sent.status_code == 201, sent.text
    third = submit_report(client, files=[("third.jpg", os.urandom(1000), "image/jpeg")])
    assert third.status_code == 503, third.text
    assert "third.jpg" in third.text
    api = client.post("/api/v1/blobs", content=stored_blob(os.urandom(1000))[1], headers=OCTETS)
    assert api.status_code == 503
    assert api.json()["error"] == "uploads_paused"
    assert len(stored(portal)) == 2


# -- bounds per worker: uploads at once, and body bytes held in memory ------------------------


def test_uploads_past_the_workers_bound_are_refused_with_503(make_portal: PortalFactory) -> None:
    portal = make_portal(upload_concurrency=2)
    client = portal.client()
    stalled = [
        RawPost(portal.url, "/api/v1/blobs", "application/octet-stream", ANNOUNCED)
        for _ in range(2)
    ]
    try:
        for post in stalled:
            post.send(os.urandom(1000))
        assert wait_for(lambda: len(temporary_files(portal.settings.blob_dir)) == 2)
        refused = client.post(
            "/api/v1/blobs", content=stored_blob(os.urandom(1000))[1], headers=OCTETS
        )
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "busy"
        assert int(refused.headers["retry-after"]) > 0
        page = submit_report(client)
        assert page.status_code == 503, page.text
        assert "Nothing you sent was kept" in page.text
        assert int(page.headers["retry-after"]) > 0
    finally:
        for post in stalled:
            post.close()
    assert wait_for(lambda: not temporary_files(portal.settings.blob_dir))
    sent = client.post("/api/v1/blobs", content=stored_blob(os.urandom(1000))[1], headers=OCTETS)
    assert sent.status_code == 201, sent.text


def test_body_bytes_held_in_memory_are_bounded_across_the_worker(
    make_portal: PortalFactory,
) -> None:
    portal = make_portal(body_buffer_bytes=2 * 1024 * 1024)
    client = portal.client()
    cookie, start = report_form_start(client)
    post = RawPost(portal.url, "/report/staff", MULTIPART, ANNOUNCED, cookie)
    long_witnesses = "w" * 700_000
    try:
        # 1.4 MB of text, then a file part (whose file shows the text has been read).
        post.send(start + field("identity", "i" * 1_400_000) + file_head() + os.urandom(1000))
        assert wait_for(lambda: temporary_files(portal.settings.blob_dir) != [])
        refused = submit_report(client, witnesses=long_witnesses)
        assert refused.status_code == 503, refused.text
        assert "Nothing you sent was kept" in refused.text
    finally:
        post.close()
    assert wait_for(lambda: not temporary_files(portal.settings.blob_dir))
    sent = submit_report(client, witnesses=long_witnesses)
    assert sent.status_code == 201, sent.text


def test_connections_past_the_workers_cap_are_refused_and_closed(
    make_portal: PortalFactory,
) -> None:
    """uvicorn's `limit_concurrency` answers 503 past the cap, but would still take and
    hold every connection offered; past the cap and a few more, the portal closes a new
    connection at once, so that connections cannot use up its file descriptors."""
    portal = make_portal(connections_per_worker=2)
    parts = urlsplit(portal.url)
    opened = [
        socket.create_connection((parts.hostname, parts.port), timeout=10)
        for _ in range(2 + OVER_LIMIT_CONNECTIONS + 3)
    ]
    try:
        for late in opened[-3:]:
            with contextlib.suppress(ConnectionResetError):
                assert late.recv(1) == b"", "a connection past the cap was kept"
        first = opened[0]
        first.sendall(b"GET /api/v1/config HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.recv(65536).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in opened:
            sock.close()
    assert wait_for(lambda: httpx.get(portal.url + "/api/v1/config").status_code == 200)
