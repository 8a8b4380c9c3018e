"""Console settings: one frozen dataclass, read from the data directory and `LANTHORN_*`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from foundation.secret import Secret


class ConsoleError(Exception):
    """The console cannot do what was asked; the message says why and what to do."""


#: The relay names a plain (unencrypted) SMTP connection may go to: this host only.
LOCAL_RELAYS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class MailSettings:
    """The SMTP relay officers' notifications go through (`LANTHORN_SMTP_*`). Empty
    `host`: the console sends no mail at all (the default)."""

    host: str = ""
    port: int = 587
    user: str = ""
    password: Secret | None = None
    #: The From address, e.g. lanthorn@oversight.example.
    sender: str = ""
    #: The console's address as officers open it: the one link a notification holds.
    console_url: str = ""
    #: STARTTLS before anything is sent (the default). False only for a relay on this
    #: host (`LOCAL_RELAYS`), and only when the operator says so.
    starttls: bool = True
    #: A CA certificate file to trust for the relay (a private CA); else the system's.
    ca_file: Path | None = None
    #: The hour (UTC, 0-23) from which the day's deadline digest is sent.
    daily_hour: int = 7
    #: Seconds to wait for the relay before giving up until the next attempt.
    timeout: float = 15.0

    def __post_init__(self) -> None:
        if not self.host:
            return
        for name in ("sender", "console_url"):
            if not getattr(self, name):
                variable = "LANTHORN_SMTP_FROM" if name == "sender" else "LANTHORN_CONSOLE_URL"
                raise ConsoleError(f"with LANTHORN_SMTP_HOST set, set {variable} too")
        if "@" not in self.sender or any(c in self.sender for c in "\r\n<> "):
            raise ConsoleError(f"LANTHORN_SMTP_FROM must be one address, not {self.sender!r}")
        if not self.console_url.startswith(("https://", "http://")):
            raise ConsoleError("LANTHORN_CONSOLE_URL must start with https:// (or http://)")
        if not self.starttls and self.host not in LOCAL_RELAYS:
            raise ConsoleError(
                "mail to a relay on another host goes over STARTTLS: "
                "LANTHORN_SMTP_STARTTLS=no is allowed only for a relay on localhost"
            )
        if not 0 <= self.daily_hour <= 23:
            raise ConsoleError("LANTHORN_NOTIFY_DAILY_HOUR must be an hour, 0 to 23 (UTC)")
        if self.password is not None and not self.user:
            raise ConsoleError("LANTHORN_SMTP_PASSWORD needs LANTHORN_SMTP_USER")

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MailSettings:
        host = environ.get("LANTHORN_SMTP_HOST", "").strip()
        if not host:
            return cls()
        starttls = environ.get("LANTHORN_SMTP_STARTTLS", "yes").strip().lower()
        if starttls not in ("yes", "no"):
            raise ConsoleError(f"LANTHORN_SMTP_STARTTLS must be yes or no, not {starttls!r}")
        password = environ.get("LANTHORN_SMTP_PASSWORD", "")
        ca_file = environ.get("LANTHORN_SMTP_CA_FILE", "").strip()
        return cls(
            host=host,
            port=_number(environ, "LANTHORN_SMTP_PORT", cls.port, 1, 65535),
            user=environ.get("LANTHORN_SMTP_USER", "").strip(),
            password=Secret(password.encode()) if password else None,
            sender=environ.get("LANTHORN_SMTP_FROM", "").strip(),
            console_url=environ.get("LANTHORN_CONSOLE_URL", "").strip().rstrip("/"),
            starttls=starttls == "yes",
            ca_file=Path(ca_file) if ca_file else None,
            daily_hour=_number(environ, "LANTHORN_NOTIFY_DAILY_HOUR", cls.daily_hour, 0, 23),
        )


def _number(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ConsoleError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


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
    #: Email notifications to officers (triage/notify.py): off unless a relay is set.
    mail: MailSettings = field(default_factory=MailSettings)

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
            mail=MailSettings.from_env(environ),
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
