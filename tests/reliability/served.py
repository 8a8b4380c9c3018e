"""`lanthorn portal init` and `serve` as an operator runs them, in a way a test can be
rough with: kill the whole server at once (SIGKILL to every uvicorn process), start it
again on the same data directory and port, and read everything it wrote to its log.

Shared by tests/reliability/ and scripts/soak (bench/soak.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import crypto

LANTHORN = Path(sys.executable).with_name("lanthorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(**lanthorn: str) -> dict[str, str]:
    """This environment without the caller's LANTHORN_* variables, plus `lanthorn`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    return {**env, **lanthorn}


def kdf_queue_clients(group: int) -> int:
    """How many worker connections the Argon2id queue of `serve` (process group `group`)
    has: its name is in the workers' environment, its sockets in /proc/net/unix."""
    names = set()
    for pid in group_members(group):
        with contextlib.suppress(OSError):
            for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                if entry.startswith(b"LANTHORN_KDF_QUEUE="):
                    names.add(entry.partition(b"=")[2].decode())
    if len(names) != 1:
        return 0
    (name,) = names
    sockets = Path("/proc/net/unix").read_text().splitlines()
    return sum(line.endswith(f" @{name}") for line in sockets) - 1  # less the listener


def group_members(group: int) -> list[int]:
    """Processes in a process group: `serve` and every uvicorn worker it started."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class ServedPortal:
    """A portal data directory and the `lanthorn portal serve` running on it, if any."""

    def __init__(
        self, data_dir: Path, env: dict[str, str], *, workers: int = 2, port: int | None = None
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.workers = workers
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self, oversight: dict[str, Any], console: crypto.VerifyKey) -> None:
        """`lanthorn portal init` with the console's public files: `oversight` is what its
        public/oversight.json holds (`Unsealed.public_keys`)."""
        keys = self.data_dir.parent
        (keys / "oversight.json").write_text(json.dumps(oversight))
        (keys / "console.pub").write_text(crypto.b64u_encode(bytes(console)) + "\n")
        command = [str(LANTHORN), "portal", "init", "--data", str(self.data_dir)]
        command += ["--oversight-key", str(keys / "oversight.json")]
        command += ["--console-key", str(keys / "console.pub")]
        result = subprocess.run(  # noqa: S603 - our own command
            command, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"portal init failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout: float = 60) -> None:
        """`lanthorn portal serve`, in a session of its own, logging to `log_path`."""
        command = [str(LANTHORN), "portal", "serve", "--data", str(self.data_dir)]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        answered = 0
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while answered < 5:  # and every worker up (uvicorn spawns them as children)
                if self.process.poll() is not None:
                    raise RuntimeError(f"portal serve exited:\n{self.log()}")
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"the portal did not start within {timeout} s")
                try:
                    ok = client.get("/api/v1/config").status_code == 200
                except httpx.TransportError:
                    ok = False
                workers_up = len(group_members(self.process.pid)) > self.workers
                answered = answered + 1 if ok and workers_up else 0
                time.sleep(0.1)

    def kill(self) -> list[int]:
        """SIGKILL to `serve` and all its workers at once; return the pids killed."""
        if self.process is None:
            return []
        members = group_members(self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while group_members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.process = None
        return members

    def stop(self) -> None:
        """Ctrl-C, as an operator stops it; SIGKILL if it does not go within 30 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        with contextlib.suppress(ProcessLookupError):  # a worker that outlived its parent
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def temporary_files(self) -> list[Path]:
        return sorted((self.data_dir / "blobs").glob(".tmp-*"))
