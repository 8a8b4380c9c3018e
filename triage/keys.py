"""The key ceremony and unsealing: the console's secrets exist in clear only in memory.

`init` makes the oversight X25519 key (reports are sealed to it), the console's Ed25519
key (it signs sync requests) and a random vault key. The two private keys are stored
sealed under the vault key in `DATA/keys.sealed`; the vault key is wrapped k-of-n under
the officers' passphrases in `DATA/vault.json` (see crypto.vault). Nothing on the disk
opens without k passphrases.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.secret import SecretBox

import crypto

from .settings import ConsoleError, TriageSettings

VAULT_FILE = "vault.json"
KEYS_FILE = "keys.sealed"
MIN_PASSPHRASE_CHARS = 16


def passphrase_problem(passphrase: str, others: Sequence[str] = ()) -> str | None:
    """Why a passphrase is too weak to guard every report, or None if it will do."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        return (
            f"it has {len(passphrase)} characters; use at least {MIN_PASSPHRASE_CHARS} "
            "(four or more unrelated words are easy to remember and hard to guess)"
        )
    if len(set(passphrase.replace(" ", ""))) < 6:
        return "it repeats too few different characters"
    if passphrase in others:
        return "another officer already chose it; every passphrase must be different"
    return None


@dataclass(frozen=True, repr=False)
class Unsealed:
    """The console's secrets, in memory only, after k officers unsealed the vault."""

    vault_key: bytes
    oversight: crypto.PrivateKey
    console: crypto.SigningKey

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
    unsealed = Unsealed(vault_key, crypto.PrivateKey.generate(), crypto.SigningKey.generate())
    wrapped = crypto.wrap_vault_key(vault_key, passphrases, threshold, settings.vault_kdf)
    secrets_json = json.dumps(
        {
            "oversight": crypto.b64u_encode(bytes(unsealed.oversight)),
            "console": crypto.b64u_encode(bytes(unsealed.console)),
        }
    ).encode()
    _write_private(data / KEYS_FILE, unsealed.seal("keys", secrets_json))
    (settings.public_dir / "oversight.pub").write_text(
        crypto.b64u_encode(bytes(unsealed.oversight.public_key)) + "\n"
    )
    (settings.public_dir / "console.pub").write_text(
        crypto.b64u_encode(bytes(unsealed.console.verify_key)) + "\n"
    )
    _write_private(data / VAULT_FILE, wrapped.to_json().encode())  # last: marks "initialised"
    return unsealed


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def check_new_officers(passphrases: Sequence[str], threshold: int) -> None:
    """Refuse a weak, repeated or impossible set of officers' passphrases, with a reason."""
    for i, passphrase in enumerate(passphrases):
        problem = passphrase_problem(passphrase, passphrases[:i])
        if problem:
            raise ConsoleError(f"passphrase {i + 1} is too weak: {problem}.")
    if not 1 <= threshold <= len(passphrases) <= crypto.MAX_OFFICERS:
        raise ConsoleError(
            f"need 1 <= threshold ({threshold}) <= officers ({len(passphrases)}) <= "
            f"{crypto.MAX_OFFICERS}"
        )


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
    path = settings.data_dir / VAULT_FILE
    temporary = path.with_suffix(".new")
    _write_private(temporary, wrapped.to_json().encode())
    os.replace(temporary, path)


def threshold(settings: TriageSettings) -> int:
    return _wrapped(settings).threshold


def _wrapped(settings: TriageSettings) -> crypto.WrappedVaultKey:
    path = settings.data_dir / VAULT_FILE
    if not path.is_file():
        raise ConsoleError(
            f"{settings.data_dir} is not an initialised console (no {VAULT_FILE}). "
            "Run: lanthorn triage init --data DIR"
        )
    try:
        return crypto.WrappedVaultKey.from_json(path.read_bytes())
    except crypto.CryptoError:
        raise ConsoleError(f"{path} is damaged: restore it from a backup.") from None


def unseal(settings: TriageSettings, passphrases: Sequence[str]) -> Unsealed:
    """Open the vault with k passphrases; a clear error if they do not open it."""
    wrapped = _wrapped(settings)
    try:
        vault_key = crypto.unwrap_vault_key(wrapped, list(passphrases))
    except ValueError as exc:
        raise ConsoleError(str(exc)) from None
    except crypto.CryptoError:
        raise ConsoleError(
            f"these {len(passphrases)} passphrases do not unseal the console. Each officer "
            "should type their own passphrase again; which one is wrong cannot be told."
        ) from None
    holder = Unsealed(vault_key, crypto.PrivateKey.generate(), crypto.SigningKey.generate())
    try:
        keys = json.loads(holder.open("keys", (settings.data_dir / KEYS_FILE).read_bytes()))
        return Unsealed(
            vault_key,
            crypto.PrivateKey(crypto.b64u_decode(keys["oversight"], length=32)),
            crypto.SigningKey(crypto.b64u_decode(keys["console"], length=32)),
        )
    except (OSError, ValueError, KeyError, crypto.CryptoError):
        raise ConsoleError(
            f"{settings.data_dir / KEYS_FILE} is missing or damaged: restore it from a backup."
        ) from None
