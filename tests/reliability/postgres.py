"""A private PostgreSQL server in a temporary directory, to stop and start at will.

The machine's shared server is never touched: `initdb` makes a new cluster, `pg_ctl`
starts it on a free port with its socket in the same directory, and stops it with
`-m immediate` — what a crash or an abrupt restart of the database looks like to the
portal. PostgreSQL refuses to run as root; under root the cluster belongs to the
`postgres` account and its commands run through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

DATABASE = "lanthorn"
ROLE = "lanthorn"


def server_binaries() -> Path | None:
    """The newest directory holding `initdb` and `pg_ctl`, or None if there is none."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    candidates = [p.parent for p in reversed(found)]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def why_unavailable() -> str | None:
    """Why a private server cannot be made here, or None when it can."""
    if server_binaries() is None:
        return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` account to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One cluster: `start()`, `stop()` (immediate by default), `url`, its files."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.bin = server_binaries() or Path("/nonexistent")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's `lanthorn` database, over TCP."""
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(  # noqa: S603 - fixed programs, our own arguments
            command, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(self.bin / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data_dir))

    def running(self) -> bool:
        try:
            psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster with an empty `lanthorn` database; stopped and deleted afterwards.

    Its directory is directly under the temporary directory (not inside pytest's, which
    only root may enter), owned by the account PostgreSQL runs as.
    """
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="lanthorn-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PrivatePostgres(root, _free_port())
    try:
        server._run(
            str(server.bin / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            ROLE,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",  # initdb's own files only; the server still fsyncs every commit
        )
        server.start()
        admin = server.url.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{ROLE}"')
        yield server
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if server.data_dir.joinpath("postmaster.pid").exists():
                server.stop("fast")
        for _ in range(3):
            try:
                shutil.rmtree(root)
                break
            except OSError:
                time.sleep(0.5)
