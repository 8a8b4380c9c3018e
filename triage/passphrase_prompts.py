"""How a `lanthorn triage` command gets officers' passphrases: typed unseen at the
terminal, or, for automation, from `LANTHORN_UNSEAL_PASSPHRASES` (to unseal the vault)
and `LANTHORN_NEW_PASSPHRASES` (a new set of officers, for `rekey`), comma-separated.
"""

from __future__ import annotations

import getpass
import os
import sys

from .vault import passphrase_problem

ENV_PASSPHRASES = "LANTHORN_UNSEAL_PASSPHRASES"
ENV_NEW_PASSPHRASES = "LANTHORN_NEW_PASSPHRASES"


def env_passphrases() -> list[str] | None:
    """The passphrases in LANTHORN_UNSEAL_PASSPHRASES, or None if it is not set."""
    value = os.environ.get(ENV_PASSPHRASES)
    return None if value is None else [p.strip() for p in value.split(",") if p.strip()]


def ask_new_passphrases(officers: int) -> list[str]:
    """A new passphrase from each officer, typed twice, unseen; a weak one is refused."""
    chosen: list[str] = []
    print(f"Key ceremony: {officers} officers each choose a passphrase, typed unseen.")
    while len(chosen) < officers:
        n = len(chosen) + 1
        first = getpass.getpass(f"Officer {n} of {officers}, choose a passphrase: ")
        problem = passphrase_problem(first, chosen)
        if problem:
            print(f"  Not accepted: {problem}.")
            continue
        if getpass.getpass(f"Officer {n}, type it again: ") != first:
            print("  The two did not match; try again.")
            continue
        chosen.append(first)
    return chosen


def unseal_passphrases(k: int) -> list[str]:
    """k officers' passphrases: prompted, or from LANTHORN_UNSEAL_PASSPHRASES."""
    passphrases = env_passphrases()
    if passphrases is None:
        print(f"Unsealing needs {k} officers' passphrases.", file=sys.stderr)
        passphrases = [getpass.getpass(f"Passphrase {i + 1} of {k}: ") for i in range(k)]
    # Automation may hold more than k (all n officers'); the first k are used.
    return passphrases[:k]
