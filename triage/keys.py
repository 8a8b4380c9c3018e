"""The key ceremony and unsealing: the console's secrets exist in clear only in memory.

`init` makes the oversight keys (docs/protocol.md §12: the X25519 box key reports are
sealed to, and the Ed25519 signing key every reply, status change and outcome notice is
signed with), the console's Ed25519 key (it signs sync requests) and a random vault key.
The private keys are stored sealed under the vault key in `DATA/keys.sealed`; the vault
key is wrapped k-of-n under the officers' passphrases in `DATA/vault.json` (see
triage/vault.py and crypto.vault). Nothing on the disk opens without k passphrases. The
public halves go to `public/`: `oversight.json` (both oversight keys, their fingerprint
and the rollover statements, for the portal), `oversight.pub` (the box key alone) and
`console.pub`.

`rotate_oversight_key` replaces both oversight keys (a new generation), signs a rollover
statement with the old and the new signing key, and keeps every earlier box key in
`keys.sealed`: a kiosk page loaded before the rotation, or an API client that read the
old key from `/api/v1/config`, may still seal a report to it, and it must still open.
An old signing key is not kept: nothing may be signed with it after its retirement.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.secret import SecretBox

import crypto

from .settings import ConsoleError, TriageSettings
from .vault import VAULT_FILE, check_new_officers, unwrap, wrapped_vault_key

KEYS_FILE = "keys.sealed"
#: The oversight public keys, fingerprint and rollovers the portal serves (§19.1).
OVERSIGHT_FILE = "oversight.json"


@dataclass(frozen=True, repr=False)
class Unsealed:
    """The console's secrets, in memory only, after k officers unsealed the vault."""

    vault_key: bytes
    oversight: crypto.PrivateKey
    console: crypto.SigningKey
    #: Earlier oversight box keys, newest first (`rotate_oversight_key`).
    previous: tuple[crypto.PrivateKey, ...] = ()
    #: The oversight signing key (protocol v2). None only in a `keys.sealed` written
    #: before v2, until `unseal` adds one.
    oversight_sign: crypto.SigningKey | None = None
    #: The rollover statements from the current generation back, newest first.
    rollovers: tuple[crypto.Rollover, ...] = ()
    #: `unseal` made the signing key just now (a console set up before v2).
    made_signing_key: bool = False

    @property
    def oversight_keys(self) -> tuple[crypto.PrivateKey, ...]:
        """The current oversight key, then each earlier one, newest first."""
        return (self.oversight, *self.previous)

    @property
    def signing_key(self) -> crypto.SigningKey:
        if self.oversight_sign is None:  # unseal adds one; only a bare open_keys lacks it
            raise ConsoleError("this console has no oversight signing key yet: unseal it")
        return self.oversight_sign

    @property
    def generations(self) -> crypto.OversightKeys:
        """The oversight public keys a thread is checked against: the current generation,
        then each one a rollover retired (§12.4)."""
        current = crypto.OversightKey(
            bytes(self.oversight.public_key), bytes(self.signing_key.verify_key)
        )
        return crypto.OversightKeys((current, *(r.old for r in self.rollovers)))

    @property
    def fingerprint(self) -> str:
        """The current oversight keys' fingerprint (§12.2), as people compare it."""
        return crypto.fingerprint(
            bytes(self.oversight.public_key), bytes(self.signing_key.verify_key)
        )

    def public_keys(self) -> dict[str, Any]:
        """What `public/oversight.json` holds, under the names `/api/v1/config` uses."""
        return {
            "oversight_public_key": crypto.b64u_encode(bytes(self.oversight.public_key)),
            "oversight_sign_key": crypto.b64u_encode(bytes(self.signing_key.verify_key)),
            "oversight_fingerprint": self.fingerprint,
            "oversight_rollovers": [r.as_json() for r in self.rollovers],
        }

    def open_document(self, sealed: bytes) -> dict[str, Any]:
        """Open a report or message (v1 or v2) sealed to any oversight key this console
        has held.

        The current key is tried first; every key costs one failed X25519 open, so the
        list stays short (one entry per rotation).
        """
        for key in self.oversight_keys:
            try:
                return crypto.open_document(sealed, key, versions=(1, 2))
            except crypto.CryptoError:
                continue
        raise crypto.CryptoError("sealed document")

    def box(self, purpose: str) -> SecretBox:
        """A SecretBox under a key derived from the vault key for one purpose."""
        return SecretBox(self.subkey(purpose))

    def subkey(self, purpose: str) -> bytes:
        return hashlib.blake2b(purpose.encode(), key=self.vault_key, digest_size=32).digest()

    def seal(self, purpose: str, data: bytes) -> bytes:
        return bytes(self.box(purpose).encrypt(data))

    def open(self, purpose: str, data: bytes) -> bytes:
        try:
            return bytes(self.box(purpose).decrypt(data))
        except NaclCryptoError:
            raise crypto.CryptoError("sealed console data") from None

    def __repr__(self) -> str:
        return "Unsealed(secrets hidden)"


def key_ceremony(settings: TriageSettings, passphrases: Sequence[str], threshold: int) -> Unsealed:
    """Create the console's keys, seal them, and write the two public keys."""
    data = settings.data_dir
    if (data / VAULT_FILE).exists():
        raise ConsoleError(
            f"{data} already holds a console. A new ceremony would make every report sealed "
            "to the old oversight key unreadable, so `init` will not overwrite it."
        )
    check_new_officers(passphrases, threshold)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.public_dir.mkdir(mode=0o755, exist_ok=True)
    vault_key = crypto.new_vault_key()
    unsealed = Unsealed(
        vault_key,
        crypto.PrivateKey.generate(),
        crypto.SigningKey.generate(),
        oversight_sign=crypto.SigningKey.generate(),
    )
    wrapped = crypto.wrap_vault_key(vault_key, passphrases, threshold, settings.vault_kdf)
    _write_private(data / KEYS_FILE, seal_keys(unsealed))
    write_public_files(settings, unsealed)
    _write_private(data / VAULT_FILE, wrapped.to_json().encode())  # last: marks "initialised"
    return unsealed


def write_public_files(settings: TriageSettings, unsealed: Unsealed) -> None:
    """Write `public/`: the oversight keys for the portal (`oversight.json`, with the
    fingerprint and the rollovers), the box key alone (`oversight.pub`, as before v2)
    and the console's verify key (`console.pub`)."""
    public = settings.public_dir
    public.mkdir(mode=0o755, exist_ok=True)
    write_public_key(public / "oversight.pub", bytes(unsealed.oversight.public_key))
    write_public_key(public / "console.pub", bytes(unsealed.console.verify_key))
    if unsealed.oversight_sign is not None:
        text = json.dumps(unsealed.public_keys(), indent=1) + "\n"
        _write_public(public / OVERSIGHT_FILE, text)


def seal_keys(unsealed: Unsealed) -> bytes:
    """The contents of `keys.sealed`: the private keys as JSON, sealed under the vault key."""
    keys: dict[str, Any] = {
        "oversight": crypto.b64u_encode(bytes(unsealed.oversight)),
        "console": crypto.b64u_encode(bytes(unsealed.console)),
    }
    if unsealed.oversight_sign is not None:
        keys["oversight_sign"] = crypto.b64u_encode(bytes(unsealed.oversight_sign))
    if unsealed.rollovers:
        keys["rollovers"] = [r.as_json() for r in unsealed.rollovers]
    if unsealed.previous:  # absent until the first rotation: older consoles read the file
        keys["previous_oversight"] = [crypto.b64u_encode(bytes(k)) for k in unsealed.previous]
    return unsealed.seal("keys", json.dumps(keys).encode())


def open_keys(vault_key: bytes, sealed: bytes) -> Unsealed:
    """The console's secrets from a `keys.sealed` file and the vault key that sealed it.

    Raises `crypto.CryptoError` if the file is damaged or was sealed under another key.
    """
    holder = Unsealed(vault_key, crypto.PrivateKey.generate(), crypto.SigningKey.generate())
    try:
        keys = json.loads(holder.open("keys", sealed))
        sign = keys.get("oversight_sign")
        return Unsealed(
            vault_key,
            crypto.PrivateKey(crypto.b64u_decode(keys["oversight"], length=32)),
            crypto.SigningKey(crypto.b64u_decode(keys["console"], length=32)),
            tuple(
                crypto.PrivateKey(crypto.b64u_decode(k, length=32))
                for k in keys.get("previous_oversight", [])
            ),
            oversight_sign=None
            if sign is None
            else crypto.SigningKey(crypto.b64u_decode(sign, length=32)),
            rollovers=tuple(
                crypto.parse_rollover(
                    r["statement"].encode("ascii"),
                    crypto.b64u_decode(r["old_signature"], length=64),
                    crypto.b64u_decode(r["new_signature"], length=64),
                )
                for r in keys.get("rollovers", [])
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise crypto.CryptoError("sealed keys") from None


def write_public_key(path: Path, key: bytes) -> None:
    """Write a key file (one b64u public key as text) atomically: a portal operator may
    copy it at any moment, and must never get half a key."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(crypto.b64u_encode(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _write_public(path: Path, text: str) -> None:
    """Write a public file atomically (as `write_public_key`)."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_private(path: Path, data: bytes) -> None:
    """Write `path` as a whole or not at all: a temporary file, fsynced, then renamed."""
    temporary = path.with_name(path.name + ".new")
    _write_private(temporary, data)
    os.replace(temporary, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrap(
    settings: TriageSettings, unsealed: Unsealed, passphrases: Sequence[str], threshold: int
) -> None:
    """Wrap the same vault key for a new set of officers, replacing vault.json atomically.

    Adding or removing an officer, changing the threshold, or replacing a lost
    passphrase: k current officers unseal, then every officer of the new set chooses a
    passphrase. The old file stops working the moment the new one is in place.
    """
    check_new_officers(passphrases, threshold)
    wrapped = crypto.wrap_vault_key(unsealed.vault_key, passphrases, threshold, settings.vault_kdf)
    _replace_private(settings.data_dir / VAULT_FILE, wrapped.to_json().encode())


def rotate_oversight_key(
    settings: TriageSettings, unsealed: Unsealed, today: datetime.date | None = None
) -> Unsealed:
    """Make a new generation of oversight keys (box and signing key) and the rollover
    statement that both generations' signing keys sign, dated `today` (the day the old
    generation is retired, §12.3); keep every earlier box key as a previous key.

    `keys.sealed` is replaced first, atomically, then `public/`: whatever stops this
    halfway, every key that any report may be sealed to is still in `keys.sealed`, and
    the public files hold whole keys the console can open.
    """
    day = (today or datetime.datetime.fromtimestamp(time.time(), datetime.UTC).date()).isoformat()
    old_sign = unsealed.signing_key
    new_box, new_sign = crypto.PrivateKey.generate(), crypto.SigningKey.generate()
    rollover = crypto.make_rollover(
        old_sign=old_sign,
        old_box_pk=bytes(unsealed.oversight.public_key),
        new_sign=new_sign,
        new_box_pk=bytes(new_box.public_key),
        on=day,
    )
    rotated = Unsealed(
        unsealed.vault_key,
        new_box,
        unsealed.console,
        (unsealed.oversight, *unsealed.previous),
        oversight_sign=new_sign,
        rollovers=(rollover, *unsealed.rollovers),
    )
    _replace_private(settings.data_dir / KEYS_FILE, seal_keys(rotated))
    write_public_files(settings, rotated)
    return rotated


def add_signing_key(settings: TriageSettings, unsealed: Unsealed) -> Unsealed:
    """Give a console set up before protocol v2 its oversight signing key: the current box
    key and the new signing key are its first generation (nobody can have pinned a
    fingerprint before there was one). `keys.sealed` is replaced atomically, then
    `public/oversight.json` is written for the portal."""
    upgraded = replace(unsealed, oversight_sign=crypto.SigningKey.generate(), made_signing_key=True)
    _replace_private(settings.data_dir / KEYS_FILE, seal_keys(upgraded))
    write_public_files(settings, upgraded)
    return upgraded


def reload_keys(settings: TriageSettings, unsealed: Unsealed) -> Unsealed | None:
    """The keys in `keys.sealed` now, if they hold an oversight key `unsealed` lacks.

    A console that stays unsealed for days (`triage serve`) learns this way of a
    `rotate-key` run by another process, with the vault key it already holds.
    """
    try:
        current = open_keys(unsealed.vault_key, (settings.data_dir / KEYS_FILE).read_bytes())
    except (OSError, crypto.CryptoError):
        return None
    known = {bytes(key) for key in unsealed.oversight_keys}
    if all(bytes(key) in known for key in current.oversight_keys):
        return None
    return current


def unseal(settings: TriageSettings, passphrases: Sequence[str]) -> Unsealed:
    """Open the vault with k passphrases; a clear error if they do not open it."""
    vault_key = unwrap(wrapped_vault_key(settings), passphrases, "the console")
    try:
        unsealed = open_keys(vault_key, (settings.data_dir / KEYS_FILE).read_bytes())
    except (OSError, crypto.CryptoError):
        raise ConsoleError(
            f"{settings.data_dir / KEYS_FILE} is missing or damaged: restore it from a backup."
        ) from None
    if unsealed.oversight_sign is None:  # the first unseal after the upgrade to v2
        unsealed = add_signing_key(settings, unsealed)
    return unsealed
