"""A real `lanthorn triage serve`, sealed at start, and an officer signed in to it.

The console runs as an operator runs it, in its own process on loopback, against the
benchmark's data directory and database; the benchmark unseals it through the unseal
page and enrols officers through the enrolment pages (password and TOTP), as people do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

# Officers enrol and sign in through the pages exactly as the tests' officers do.
from tests.triage.officer_pages import action_fields, sign_in
from tests.triage.officer_pages import enrol_through_pages as enrol
from tests.triage.officer_pages import token as csrf

__all__ = [
    "ConsoleServer",
    "action_fields",
    "csrf",
    "enrol",
    "running_console",
    "sign_in",
    "unseal",
]


@dataclass
class ConsoleServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=httpx.Timeout(900, connect=10))

    def server_errors(self) -> list[str]:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.startswith(("ERROR", "CRITICAL", "Traceback"))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_console(
    lanthorn: str, data_dir: Path, database_url: str, portal_url: str
) -> Iterator[ConsoleServer]:
    """`lanthorn triage serve` on a free port, sealed; stopped (Ctrl-C) on the way out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    env["LANTHORN_DATABASE_URL"] = database_url
    port = _free_port()
    log_path = data_dir.parent / f"console-{port}.log"
    command = [lanthorn, "triage", "serve", "--data", str(data_dir), "--port", str(port)]
    command += ["--portal", portal_url]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command, absolute path
            # Its own process group, our session: see bench/_server.py (autogroup).
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    server = ConsoleServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=server.url, timeout=2) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the console exited:\n{log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the console did not answer GET /unseal within 60 s")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/unseal").status_code == 200:
                        break
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own process group: only ours
                process.wait(timeout=10)


def unseal(client: httpx.Client, passphrases: list[str]) -> None:
    page = client.get("/unseal").text
    data = {"csrf": csrf(page)} | {f"passphrase{i}": p for i, p in enumerate(passphrases)}
    response = client.post("/unseal", data=data)
    if response.status_code != 303:
        raise RuntimeError(f"unsealing failed: HTTP {response.status_code}")
