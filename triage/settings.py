"""Console settings: one frozen dataclass, read from the data directory and `LANTHORN_*`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import crypto


class ConsoleError(Exception):
    """The console cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class TriageSettings:
    data_dir: Path
    database_url: str = ""
    #: Argon2id cost for officers' unseal passphrases (tests choose cheap ones).
    vault_kdf: crypto.KdfParams = crypto.VAULT_KDF
    #: Days a closed case's content is kept before `lanthorn triage purge` deletes it:
    #: five years for sexual abuse (PREA 115.71), two years for anything else.
    retention_days_sexual_abuse: int = 1826
    retention_days_other: int = 730

    def __post_init__(self) -> None:
        for name in ("retention_days_sexual_abuse", "retention_days_other"):
            days = getattr(self, name)
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise ConsoleError(f"{name} must be a whole number of days, 1 or more")
        if not self.database_url:
            url = f"sqlite+pysqlite:///{(self.data_dir / 'console.db').resolve()}"
            object.__setattr__(self, "database_url", url)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def public_dir(self) -> Path:
        return self.data_dir / "public"

    @classmethod
    def from_env(
        cls, data: str | None = None, environ: Mapping[str, str] = os.environ
    ) -> TriageSettings:
        value = data or environ.get("LANTHORN_DATA")
        if not value:
            raise ConsoleError("say where the console's data lives: --data DIR or LANTHORN_DATA")
        return cls(
            data_dir=Path(value),
            database_url=environ.get("LANTHORN_DATABASE_URL", ""),
            vault_kdf=_vault_kdf(environ.get("LANTHORN_VAULT_KDF", "")),
            retention_days_sexual_abuse=_days(
                environ, "LANTHORN_RETENTION_DAYS_SEXUAL_ABUSE", cls.retention_days_sexual_abuse
            ),
            retention_days_other=_days(
                environ, "LANTHORN_RETENTION_DAYS_OTHER", cls.retention_days_other
            ),
        )


def _days(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:  # no sign, "1e3", "2.5"
        raise ConsoleError(f"{name} must be a whole number of days, 1 or more, not {value!r}")
    return int(value)


def _vault_kdf(value: str) -> crypto.KdfParams:
    """`LANTHORN_VAULT_KDF=t,m_kib` lowers the ceremony's Argon2id cost (tests, tiny hosts).

    It only matters at `init`: the parameters are written into vault.json, and unsealing
    always uses what is written there.
    """
    if not value:
        return crypto.VAULT_KDF
    try:
        t, m_kib = (int(part) for part in value.split(","))
        return crypto.KdfParams(t=t, m_kib=m_kib)
    except ValueError:
        raise ConsoleError(
            f"LANTHORN_VAULT_KDF must be 't,m_kib', e.g. '3,262144', not {value!r}"
        ) from None
