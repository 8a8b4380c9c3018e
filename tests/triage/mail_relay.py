"""A real SMTP relay for the notification tests: aiosmtpd in a thread of its own, on a
loopback port, keeping every message it is given as the bytes it received; and what
STARTTLS and OpenPGP need for it (a private CA's certificate, a test officer's key)."""

from __future__ import annotations

import contextlib
import datetime
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gnupg
from aiosmtpd.controller import Controller

SENDER = "lanthorn@oversight.example"
CONSOLE_URL = "https://console.oversight.example"


@dataclass
class Received:
    recipients: list[str]
    raw: bytes
    tls: bool  # whether the session had STARTTLS before the message
    greeting: str  # the name the console gave in EHLO


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        self.received.append(
            Received(
                list(envelope.rcpt_tos), bytes(raw), session.ssl is not None, session.host_name
            )
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def relay(port: int, tls: ssl.SSLContext | None = None) -> Iterator[Inbox]:
    """A relay on 127.0.0.1:`port`; with `tls`, it offers STARTTLS and requires it."""
    inbox = Inbox()
    options: dict[str, Any] = {"tls_context": tls, "require_starttls": True} if tls else {}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (its own CA), made by openssl."""
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(  # noqa: S603 - Debian's openssl, fixed arguments
        [
            "/usr/bin/openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=relay",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


_KEY_INPUT = """Key-Type: EDDSA
Key-Curve: ed25519
{subkey}Name-Real: Test Officer
Name-Email: tara@oversight.example
Expire-Date: {expires}
%no-protection
%commit
"""
_ENCRYPTION_SUBKEY = "Subkey-Type: ECDH\nSubkey-Curve: cv25519\n"


@dataclass(frozen=True)
class OfficerKey:
    gpg: gnupg.GPG
    public: str

    def decrypt(self, armored: bytes) -> str:
        done = self.gpg.decrypt(armored)
        assert done.ok, done.status
        return str(done)


def make_key(
    home: Path, *, encrypts: bool = True, made_on: datetime.date | None = None, days: int = 0
) -> OfficerKey:
    """A test officer's OpenPGP key (Curve25519: made in milliseconds) in a keyring of its
    own; `made_on` and `days` make one that expired since (gpg's faked clock)."""
    home.mkdir(mode=0o700, exist_ok=True)
    options = ["--faked-system-time", made_on.strftime("%Y%m%dT080000")] if made_on else None
    gpg = gnupg.GPG(gnupghome=str(home), options=options)
    made = gpg.gen_key(
        _KEY_INPUT.format(
            subkey=_ENCRYPTION_SUBKEY if encrypts else "", expires=f"{days}d" if days else "0"
        )
    )
    assert made.fingerprint, made.stderr
    return OfficerKey(gnupg.GPG(gnupghome=str(home)), gpg.export_keys(made.fingerprint))


def stop_agent(home: Path) -> None:
    subprocess.run(  # noqa: S603 - Debian's gpgconf, fixed arguments
        ["/usr/bin/gpgconf", "--homedir", str(home), "--kill", "all"],
        check=False,
        capture_output=True,
    )


@contextlib.contextmanager
def keyring() -> Iterator[Path]:
    """A GnuPG home of its own at a short path, removed afterwards with its agent stopped.
    gpg-agent's socket lives in it, and a socket's path holds at most 107 bytes: pytest's
    folders under its workers are longer, and gpg then cannot make a key at all."""
    home = Path(tempfile.mkdtemp(prefix="gpg-"))
    try:
        yield home
    finally:
        stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)
