"""OpenPGP for notifications: check an officer's public key, and encrypt a message to it.

An officer may give the console their OpenPGP public key; their notifications are then
sent encrypted (PGP/MIME, RFC 3156), so that the mail relay and their mailbox provider see
that a message was sent and when, not what it says. This drives Debian's `gpg` through
python-gnupg, as GlobaLeaks does. Every call works in a keyring of its own, made for that
call in a temporary directory (in memory, /dev/shm, where there is one) and deleted after
it: the console never reads or writes anyone's own keyring, and keeps no keyring between
messages. The key itself is kept sealed in the console's database (triage/notify.py).
"""

from __future__ import annotations

import contextlib
import datetime
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gnupg

from .settings import ConsoleError

#: The longest armored public key accepted: a key with a few subkeys and signatures is a
#: few kilobytes; one with a photo ID is larger than a notification is worth (and the form
#: that carries it must stay under the TLS proxy's 64 KiB body limit, deploy/console).
MAX_KEY_CHARS = 32 * 1024
#: Validity letters of `gpg --with-colons`: expired, revoked, invalid, disabled.
_UNUSABLE = {
    "e": "it has expired",
    "r": "it was revoked",
    "i": "it is invalid",
    "d": "it is disabled",
}
_SHM = Path("/dev/shm")  # noqa: S108 - a place in memory for the throwaway keyring


class OpenPgpError(ConsoleError):
    """The key cannot be used, or gpg could not encrypt; the message says why."""


@dataclass(frozen=True)
class PublicKey:
    """An officer's OpenPGP public key, checked: its armored text and its fingerprint."""

    armored: str
    fingerprint: str


def gpg_found() -> bool:
    return shutil.which("gpg") is not None


@contextlib.contextmanager
def _keyring() -> Iterator[gnupg.GPG]:
    """A GPG over an empty keyring of its own, deleted on leaving."""
    if not gpg_found():
        raise OpenPgpError(
            "this console cannot encrypt: the gpg program is not installed (apt-get install gnupg)"
        )
    where = _SHM if _SHM.is_dir() and _writable(_SHM) else None
    with tempfile.TemporaryDirectory(prefix="lanthorn-gpg-", dir=where) as home:
        yield gnupg.GPG(gnupghome=home, options=["--no-auto-key-locate", "--no-auto-key-retrieve"])


def _writable(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_key(armored: str, today: datetime.date) -> PublicKey:
    """The key in `armored`, if it is one public key that can encrypt today; otherwise
    an `OpenPgpError` that says what is wrong with it, in words its owner can act on."""
    armored = armored.strip().replace("\r\n", "\n")
    if len(armored) > MAX_KEY_CHARS:
        raise OpenPgpError(
            f"that key is longer than {MAX_KEY_CHARS // 1024} KiB: export it without photos "
            "(gpg --export --armor --export-options export-minimal YOUR-KEY)"
        )
    if "PRIVATE KEY BLOCK" in armored:
        raise OpenPgpError(
            "that is a private key: give the console your public key only "
            "(gpg --export --armor YOUR-KEY), and keep the private one to yourself"
        )
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in armored:
        raise OpenPgpError(
            "that is not an OpenPGP public key: paste the whole text that "
            "gpg --export --armor YOUR-KEY prints, from -----BEGIN to -----END"
        )
    with _keyring() as gpg:
        imported = gpg.import_keys(armored)
        keys = gpg.list_keys()
        if len(keys) != 1 or imported.sec_imported:
            raise OpenPgpError(
                "paste exactly one public key: that text holds "
                f"{len(keys) or 'no'} readable key{'s' if len(keys) != 1 else ''}"
            )
        key = keys[0]
        problem = _UNUSABLE.get(str(key.get("trust", "")))
        if problem is None and "E" not in str(key.get("cap", "")):
            expired = [
                sub
                for sub in key.get("subkey_info", {}).values()
                if "e" in str(sub.get("cap", "")) and sub.get("trust") == "e"
            ]
            problem = (
                "its encryption subkey has expired"
                if expired
                else "it cannot encrypt (it is a signing-only key)"
            )
        if problem is None:
            expires = str(key.get("expires") or "")
            if expires.isdigit() and datetime.date.fromtimestamp(int(expires)) <= today:
                problem = "it has expired"
        if problem is not None:
            raise OpenPgpError(
                f"that key cannot be used: {problem}. Give a key that can encrypt, or none"
            )
        fingerprint = str(key["fingerprint"])
        trial = gpg.encrypt("trial", fingerprint, always_trust=True, armor=True)
        if not trial.ok:
            raise OpenPgpError(f"that key cannot be used: gpg says {trial.status!r}")
    return PublicKey(armored, fingerprint)


def encrypt(key: PublicKey, data: bytes) -> bytes:
    """`data` encrypted to `key`, ASCII-armored; `OpenPgpError` if it no longer can."""
    with _keyring() as gpg:
        gpg.import_keys(key.armored)
        done = gpg.encrypt(data, key.fingerprint, always_trust=True, armor=True)
        if not done.ok:
            raise OpenPgpError(f"the key {key.fingerprint[-16:]} no longer encrypts")
        return bytes(done.data)
