"""Trying to break "nothing leaks": run the real `lanthorn portal serve`, send reports,
files, messages and bad requests full of canaries, then search everything the portal
could have written — its database, its data directory, /tmp and its logs."""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

import crypto

from .clients import ConsoleClient
from .forms import REPORT_FIELDS, csrf_token, open_thread, receipt_of, send_message

# Fresh for every run, so no other file on the machine (this test's own source in a
# checkout under /tmp, another run's leftovers) can contain them by chance.
CANARY = f"CANARY{secrets.token_hex(6)}"
AGENT = f"CanaryAgent/{secrets.token_hex(4)} (LeakTest)"
ADDRESS = f"203.0.113.{secrets.randbelow(250) + 1}"
LANTHORN = Path(sys.executable).with_name("lanthorn")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningPortal:
    def __init__(
        self,
        data_dir: Path,
        process: subprocess.Popen[bytes],
        url: str,
        log: Path,
        oversight: crypto.PrivateKey,
        console: crypto.SigningKey,
    ) -> None:
        self.data_dir, self.process, self.url, self.log = data_dir, process, url, log
        self.oversight, self.console_key = oversight, console


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[RunningPortal]:
    """`lanthorn portal init` and `serve` as an operator runs them, logs to a file."""
    oversight, console = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    (tmp_path / "oversight.json").write_text(
        json.dumps(
            {
                "oversight_public_key": crypto.b64u_encode(bytes(oversight.public_key)),
                "oversight_sign_key": crypto.b64u_encode(
                    bytes(crypto.SigningKey.generate().verify_key)
                ),
            }
        )
    )
    (tmp_path / "console.pub").write_text(
        " " + crypto.b64u_encode(bytes(console.verify_key)) + "\n"
    )
    data_dir = tmp_path / "data"
    env = {**os.environ, "LANTHORN_DATABASE_URL": database_url, "LANTHORN_KDF_CONCURRENCY": "2"}
    subprocess.run(
        [
            LANTHORN,
            "portal",
            "init",
            "--data",
            data_dir,
            "--oversight-key",
            tmp_path / "oversight.json",
            "--console-key",
            tmp_path / "console.pub",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    port = _free_port()
    log = tmp_path / "portal.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LANTHORN, "portal", "serve", "--data", data_dir, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/api/v1/config", timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    running = RunningPortal(data_dir, process, url, log, oversight, console)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def files_written_since(root: Path, since: float) -> Iterator[Path]:
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            try:
                info = path.stat()
            except OSError:
                continue
            # ctime, not mtime: blob files are stamped with midnight, their ctime is real.
            if info.st_ctime >= since and info.st_size < 256 * 1024 * 1024 and path.is_file():
                yield path


def database_rows(url: str) -> list[tuple[str, tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            # In a fixed order: PostgreSQL lists tables, and rows without ORDER BY, in
            # whatever order its catalogue and heap hold them, which can change.
            tables = sorted(inspect(conn).get_table_names())
            return [
                (table, row)
                for table in tables
                for row in sorted(
                    (tuple(r) for r in conn.execute(text(f'SELECT * FROM "{table}"'))),  # noqa: S608
                    key=repr,
                )
            ]
    finally:
        engine.dispose()


def test_nothing_a_reporter_sends_reaches_disk_database_or_logs(
    served: RunningPortal, database_url: str
) -> None:
    started = time.time() - 1
    headers = {"User-Agent": AGENT, "X-Forwarded-For": ADDRESS, "X-Real-IP": ADDRESS}
    client = httpx.Client(base_url=served.url, headers=headers, timeout=60)
    token = csrf_token(client, "/report/staff")
    file_content = (CANARY + " photo bytes ").encode() * 20_000  # ~400 KB, several chunks
    response = client.post(
        "/report/staff",
        data={
            **REPORT_FIELDS,
            "csrf": token,
            "description": f"{CANARY} description",
            "subjects": f"{CANARY} subject",
            "identity": f"{CANARY} my name",
        },
        files=[("attachments", (f"{CANARY}.jpg", file_content, "image/jpeg"))],
    )
    assert response.status_code == 201, response.text
    receipt = crypto.validate_receipt(receipt_of(response))
    grouped = crypto.format_receipt(receipt)

    login = open_thread(client, receipt)
    assert login.status_code == 303
    sent = send_message(
        client, f"{CANARY} follow-up", ("more.txt", (CANARY * 100).encode(), "text/plain")
    )
    assert sent.status_code == 303
    # Bad requests carrying canaries must not be echoed into a log either.
    client.post(
        "/api/v1/reports",
        content=f'{{"sealed": "{CANARY}"'.encode(),
        headers={"content-type": "application/json"},
    )
    client.post(
        "/report/staff",
        content=f"--x\r\n{CANARY}".encode(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    client.get(f"/{CANARY}")
    client.close()

    # The test is only meaningful if the canaries did arrive: the console can read them.
    console = ConsoleClient(
        served.url, served.console_key, time.time, served.oversight, crypto.SigningKey.generate()
    )
    items = console.outbox()["items"]
    report, message = (console.open(item) for item in items)
    assert CANARY in report["description"]
    assert CANARY.encode() in console.attachment(report["attachments"][0])
    assert CANARY in message["text"]
    console.http.close()

    served.process.send_signal(signal.SIGINT)
    served.process.wait(timeout=30)

    needles = [CANARY, AGENT, ADDRESS, receipt, grouped, receipt.replace(" ", "")]
    encoded = [n.encode() for n in needles] + [n.encode("utf-16-le") for n in needles]
    searched = 0
    # /tmp is searched on purpose: no plaintext may ever be spooled there.
    for root in (served.data_dir, Path("/tmp"), served.log.parent):  # noqa: S108
        for path in files_written_since(root, started):
            if path == served.log:
                continue
            searched += 1
            content = path.read_bytes()
            for needle in encoded:
                assert needle not in content, f"{needle!r} found in {path}"
    assert searched >= 3  # at least the database and the two blob files
    log = served.log.read_text(errors="replace")
    for needle in needles:
        assert needle not in log, f"{needle!r} in the portal's log"
    assert "GET /" not in log
    assert "POST /" not in log

    rows = database_rows(database_url)
    assert rows
    dump = repr(rows)
    for needle in needles:
        assert needle not in dump
    now = time.time()
    for table, row in rows:
        for value in row:
            # No time of day: no timestamps, no datetimes, only dates.
            assert not isinstance(value, datetime.datetime), (table, row)
            if isinstance(value, int) and not isinstance(value, bool):
                assert abs(value - now) > 3 * 86400, (table, row)
            if isinstance(value, str):
                assert not re.search(r"\d{2}:\d{2}", value), (table, row)
