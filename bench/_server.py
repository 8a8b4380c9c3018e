"""A throwaway portal set up as an operator would, stopped and deleted afterwards.

`lanthorn portal init`, then `lanthorn portal serve` (production Argon2id, SQLite) in a
temporary directory, with fresh oversight and console keys the benchmark holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _memory import process_tree
from _report import progress

import crypto


@dataclass
class Portal:
    """A running `lanthorn portal serve` and what the benchmark needs to talk to it."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    oversight: crypto.PrivateKey
    console: crypto.SigningKey
    config: dict[str, Any]
    #: The oversight signing key the portal names (protocol v2).
    oversight_sign: crypto.SigningKey
    #: Where the portal stores what it accepts, for reading it back (bench/_readback.py).
    database_url: str = ""

    @property
    def salt(self) -> bytes:
        return crypto.b64u_decode(self.config["receipt_salt"])

    @property
    def oversight_pk(self) -> crypto.PublicKey:
        return crypto.PublicKey(crypto.b64u_decode(self.config["oversight_public_key"]))

    def server_errors(self) -> list[str]:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.startswith(("ERROR", "CRITICAL"))]

    def signed_headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        return crypto.sign_request(self.console, method, target, body, timestamp=int(time.time()))


def lanthorn_command(given: str | None) -> str:
    """`given`, else the `lanthorn` next to this Python, else the one on PATH."""
    candidate = Path(given) if given else Path(sys.executable).parent / "lanthorn"
    if candidate.is_file():
        return str(candidate.absolute())
    found = shutil.which("lanthorn")
    if found is None:
        raise SystemExit("cannot find the `lanthorn` command: pass --lanthorn PATH")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for uvicorn (it stops its workers), then harder if it does not go."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own process group: only what we started
    process.wait(timeout=10)


@contextlib.contextmanager
def running_portal(
    lanthorn: str,
    workers: int,
    port: int | None,
    database_url: str | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Portal]:
    """Init and serve a portal in a temporary directory; stop it and delete everything.
    With `database_url`, on that (empty) database instead of SQLite; `settings` are
    `LANTHORN_*` variables for the server (nothing else of the caller's is passed on)."""
    with tempfile.TemporaryDirectory(prefix="lanthorn-bench-portal-") as tmp:
        root = Path(tmp)
        oversight = crypto.PrivateKey.generate()
        oversight_sign = crypto.SigningKey.generate()
        console = crypto.SigningKey.generate()
        oversight_file, console_file = root / "oversight.json", root / "console.pub"
        oversight_file.write_text(
            json.dumps(
                {
                    "oversight_public_key": crypto.b64u_encode(bytes(oversight.public_key)),
                    "oversight_sign_key": crypto.b64u_encode(bytes(oversight_sign.verify_key)),
                }
            )
        )
        console_file.write_text(crypto.b64u_encode(bytes(console.verify_key)) + "\n")
        data_dir = root / "portal"
        # A clean environment: no LANTHORN_* from the caller (database URL, limits).
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
        if database_url:
            env["LANTHORN_DATABASE_URL"] = database_url
        env.update(settings or {})
        progress(f"lanthorn portal init --data {data_dir}")
        init = [lanthorn, "portal", "init", "--data", str(data_dir)]
        init += ["--oversight-key", str(oversight_file), "--console-key", str(console_file)]
        result = subprocess.run(  # noqa: S603 - our own command, absolute path, no shell
            init, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(init)} failed:\n{result.stdout}{result.stderr}")

        port = port or _free_port()
        log_path = root / "server.log"
        progress(f"lanthorn portal serve --port {port} --workers {workers}")
        serve = [lanthorn, "portal", "serve", "--data", str(data_dir), "--port", str(port)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own command, absolute path
                [*serve, "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A process group of its own (to stop it and its workers together), but
                # the benchmark's session: with the kernel's autogroup scheduling, a new
                # session would get its own equal share of the cores, and a ratio of the
                # server's rate to a limit measured in this process would measure the
                # scheduler instead.
                process_group=0,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            config = _wait_until_up(url, process, log_path, workers)
            yield Portal(
                url,
                data_dir,
                process,
                log_path,
                oversight,
                console,
                config,
                oversight_sign,
                database_url or f"sqlite+pysqlite:///{(data_dir / 'portal.db').resolve()}",
            )
        finally:
            progress("stopping the server, deleting the temporary directory")
            _stop(process)


def _wait_until_up(
    url: str, process: subprocess.Popen[bytes], log_path: Path, workers: int
) -> dict[str, Any]:
    """The portal's /api/v1/config, once it answers and all its workers have started."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer GET /api/v1/config within 60 s")
            with contextlib.suppress(httpx.HTTPError):
                response = client.get("/api/v1/config")
                if response.status_code == 200:
                    break
            time.sleep(0.1)
    # Memory baselines must include every worker (uvicorn spawns them as children).
    while workers > 1 and len(process_tree(process.pid)) < workers + 1:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    config: dict[str, Any] = response.json()
    kdf = config["kdf"]
    assert (kdf["t"], kdf["m_kib"]) == (crypto.V1_KDF.t, crypto.V1_KDF.m_kib), kdf
    return config
