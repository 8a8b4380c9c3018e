"""vault.json: the vault key, wrapped k-of-n under the officers' passphrases
(crypto.vault). Here: what a set of new passphrases must be (`passphrase_problem`,
`check_new_officers`), how many of them open the vault (`threshold`), and opening it
(`unwrap`). Nothing on the disk opens without k passphrases; the key ceremony and
`rewrap` (triage/keys.py) write the file.
"""

from __future__ import annotations

from collections.abc import Sequence

import crypto

from .settings import ConsoleError, TriageSettings

VAULT_FILE = "vault.json"
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


def threshold(settings: TriageSettings) -> int:
    """How many officers' passphrases open this console's vault (k)."""
    return wrapped_vault_key(settings).threshold


def wrapped_vault_key(settings: TriageSettings) -> crypto.WrappedVaultKey:
    """vault.json, read; a clear error if there is no console here, or the file is damaged."""
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


def unwrap(
    wrapped: crypto.WrappedVaultKey, passphrases: Sequence[str], what: str, *, hint: str = ""
) -> bytes:
    """The vault key from k passphrases; a clear error, naming `what`, if they do not open it."""
    try:
        return crypto.unwrap_vault_key(wrapped, list(passphrases))
    except ValueError as exc:
        raise ConsoleError(str(exc)) from None
    except crypto.CryptoError:
        raise ConsoleError(
            f"these {len(passphrases)} passphrases do not unseal {what}. Each officer "
            "should type their own passphrase again; which one is wrong cannot be told." + hint
        ) from None
