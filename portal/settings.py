"""Portal settings: one frozen dataclass, read once from the data directory and `LANTHORN_*`.

`lanthorn portal init` writes `DATA/portal.json` (the public keys, the oversight keys'
rollover statements and the receipt salt) and `DATA/secret.key` (the portal's own secret,
for CSRF tokens and session cookies). Tests build `PortalSettings` directly, with cheap
Argon2 parameters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from foundation.secret import Secret

from .admission import FOLLOW_UP, FOLLOW_UPS_WAITING_PER_SLOT, REPORT, REPORTS_WAITING_PER_SLOT

CONFIG_FILE = "portal.json"
SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret

MIB = 1024**2
GIB = 1024**3


class SettingsError(Exception):
    """The portal cannot start with this configuration; the message says how to fix it."""


@dataclass(frozen=True)
class Limits:
    """Size limits, as served in `/api/v1/config`."""

    document_bytes: int = crypto.MAX_SEALED_BYTES
    blob_bytes: int = crypto.stored_size(2 * GIB)
    submission_bytes: int = crypto.stored_size(2 * GIB)

    def as_json(self) -> dict[str, int]:
        return {
            "document_bytes": self.document_bytes,
            "blob_bytes": self.blob_bytes,
            "submission_bytes": self.submission_bytes,
        }


@dataclass(frozen=True)
class OversightPublicKeys:
    """The oversight body's public keys as the console writes them (`public/oversight.json`)
    and the portal serves them (docs/protocol.md §19.1): the current generation and the
    rollover statements that lead back from it, newest first."""

    box_pk: bytes
    sign_pk: bytes
    rollovers: tuple[crypto.Rollover, ...] = ()

    @property
    def fingerprint(self) -> str:
        return crypto.fingerprint(self.box_pk, self.sign_pk)

    def as_json(self) -> dict[str, object]:
        """The fields `/api/v1/config` serves, under the names it serves them."""
        return {
            "oversight_public_key": crypto.b64u_encode(self.box_pk),
            "oversight_sign_key": crypto.b64u_encode(self.sign_pk),
            "oversight_fingerprint": self.fingerprint,
            "oversight_rollovers": [r.as_json() for r in self.rollovers],
        }

    @classmethod
    def from_json(cls, data: object) -> OversightPublicKeys:
        """Read and check them: both keys, and every rollover statement verified and
        leading back from the current keys (`crypto.resolve_oversight_keys`). Raises
        `ValueError` with a sentence for anything else."""
        if not isinstance(data, dict):
            raise ValueError("the oversight keys must be a JSON object")
        try:
            box_pk = crypto.b64u_decode(data["oversight_public_key"], length=32)
            sign_pk = crypto.b64u_decode(data["oversight_sign_key"], length=32)
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]} is missing") from None
        except (TypeError, crypto.CryptoError):
            raise ValueError("an oversight key is not 32 bytes of b64u") from None
        listed = data.get("oversight_rollovers", [])
        if not isinstance(listed, list):
            raise ValueError("oversight_rollovers must be a list")
        try:
            rollovers = tuple(
                crypto.parse_rollover(
                    entry["statement"].encode("ascii"),
                    crypto.b64u_decode(entry["old_signature"], length=64),
                    crypto.b64u_decode(entry["new_signature"], length=64),
                )
                for entry in listed
            )
            crypto.resolve_oversight_keys(box_pk, sign_pk, rollovers, pinned=None)
        except (KeyError, TypeError, AttributeError, UnicodeEncodeError, crypto.CryptoError):
            raise ValueError(
                "the oversight keys' rollover statements do not verify, or do not lead back "
                "from the current keys"
            ) from None
        if "oversight_fingerprint" in data and data["oversight_fingerprint"] != crypto.fingerprint(
            box_pk, sign_pk
        ):
            raise ValueError("oversight_fingerprint is not the fingerprint of the two keys")
        return cls(box_pk, sign_pk, rollovers)


@dataclass(frozen=True)
class PortalSettings:
    data_dir: Path
    database_url: str
    oversight_key: crypto.PublicKey
    console_key: crypto.VerifyKey
    receipt_salt: bytes
    secret: Secret
    #: The oversight signing key every reply, status change and outcome notice must be
    #: signed with (docs/protocol.md §12), and the rollover statements, newest first.
    oversight_sign_key: crypto.VerifyKey
    oversight_rollovers: tuple[crypto.Rollover, ...] = ()
    #: The names (with the port, when not the scheme's default) this portal answers to: a
    #: v2 signed request must name one of them (docs/protocol.md §18.3).
    hosts: tuple[str, ...] = ()
    #: Whether v1 signed requests are still accepted (the transition of §18.4).
    accept_v1_requests: bool = True
    kdf: crypto.KdfParams = crypto.V1_KDF
    limits: Limits = field(default_factory=Limits)
    #: How many Argon2id derivations may run at once in each worker process (64 MiB each at
    #: v1 parameters): the server's ceiling is workers × this × 64 MiB. By default the
    #: workers share the CPUs between them (`default_kdf_concurrency`).
    kdf_concurrency: int = max(1, os.cpu_count() or 1)
    #: How many new reports (sent without JavaScript) and how many follow-ups (a receipt
    #: typed to come back) may wait for a derivation in each worker; one more is refused
    #: at once with a 503 and `Retry-After`. 0: 8 and 2 per slot (`kdf_waiting`).
    kdf_reports_waiting: int = 0
    kdf_follow_ups_waiting: int = 0
    #: How many requests may use the database at once in each worker process: its
    #: database threads (`foundation.database.DatabaseThreads`). More wait their turn in
    #: a queue, where waiting costs nothing, rather than in threads that would fight for
    #: the interpreter lock and pooled connections.
    db_concurrency: int = 4
    #: A reporter's follow-up session ends after this long without a request.
    session_idle_seconds: int = 15 * 60
    #: Days to keep ciphertext after the console acknowledged it / the reporter read it.
    retention_days: int = 14
    #: Unreferenced uploads are purged after this long (timed in memory, never on disk).
    unclaimed_blob_seconds: int = 4 * 3600
    #: Bounds on uploads no report has claimed yet (portal/upload_budget.py): all of them
    #: together, what one worker takes in an hour, and the free disk space kept back for
    #: reports and messages.
    unclaimed_bytes: int = 4 * crypto.stored_size(2 * GIB)
    unclaimed_bytes_per_hour: int = 8 * crypto.stored_size(2 * GIB)
    disk_reserve_bytes: int = GIB
    #: How slowly a request body may arrive (foundation/bodies.py): nothing for
    #: `body_idle_seconds`, or under `body_min_rate` bytes a second over a window of
    #: `body_rate_window` seconds spent waiting for it, and it is cut off (408). nginx's
    #: `client_body_timeout` (30 s) acts first; these are the portal's own backstop.
    body_idle_seconds: float = 60
    body_min_rate: int = 1024
    body_rate_window: float = 60
    #: Uploads (HTML forms, which are multipart, and `POST /api/v1/blobs`) each worker
    #: process takes at once; more are refused with 503. Each holds at most one open file.
    upload_concurrency: int = 64
    #: Bytes of request bodies that all requests of a worker may hold in memory at once:
    #: form text and JSON bodies (files stream through). Past it, 503. At least 2 MiB,
    #: so that one form's text (1.5 MiB at most) or one JSON body (1.4 MiB) fits.
    body_buffer_bytes: int = 32 * MIB
    #: Connections each worker serves at once (uvicorn's `limit_concurrency`): past it,
    #: uvicorn answers 503, and a few more past that are closed unanswered
    #: (portal/cli.py). LimitNOFILE in the systemd unit is sized for it.
    connections_per_worker: int = 512
    #: Mark cookies Secure even on plain HTTP: set when TLS ends at a reverse proxy.
    secure_cookies: bool = False
    #: The prison the wing kiosks stand in (kiosk reports do not ask for it).
    kiosk_facility: str = ""
    #: The oversight keys' fingerprint as the posters print it, set by the operator outside
    #: the data directory (`LANTHORN_OVERSIGHT_FINGERPRINT`): the pages without JavaScript
    #: then refuse keys in portal.json that do not lead back to it (docs/protocol.md §12.4).
    oversight_pin: str = ""

    def kdf_waiting(self) -> dict[str, int]:
        """The most requests of each class that may wait for a slot in each worker."""
        return {
            REPORT: self.kdf_reports_waiting or REPORTS_WAITING_PER_SLOT * self.kdf_concurrency,
            FOLLOW_UP: (
                self.kdf_follow_ups_waiting or FOLLOW_UPS_WAITING_PER_SLOT * self.kdf_concurrency
            ),
        }

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def oversight_keys(self) -> OversightPublicKeys:
        return OversightPublicKeys(
            bytes(self.oversight_key), bytes(self.oversight_sign_key), self.oversight_rollovers
        )

    @classmethod
    def load(cls, data_dir: Path, environ: Mapping[str, str] = os.environ) -> PortalSettings:
        """Read `DATA/portal.json`, `DATA/secret.key` and `LANTHORN_*` overrides."""
        config_path = data_dir / CONFIG_FILE
        if not config_path.is_file():
            raise SettingsError(
                f"{data_dir} is not an initialised portal data directory (no {CONFIG_FILE}). "
                "Run: lanthorn portal init --data DIR --oversight-key FILE --console-key FILE"
            )
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            if "oversight_sign_key" not in config:
                raise SettingsError(
                    f"{config_path} has no oversight signing key (it was made before protocol "
                    "v2). Copy the console's public/oversight.json here and run: lanthorn "
                    "portal set-oversight-key --data DIR --oversight-key oversight.json"
                )
            oversight_keys = OversightPublicKeys.from_json(config)
            console = crypto.b64u_decode(config["console_key"], length=32)
            salt = crypto.b64u_decode(config["receipt_salt"], length=crypto.RECEIPT_SALT_BYTES)
            secret = (data_dir / SECRET_FILE).read_bytes()
        except (OSError, ValueError, KeyError, crypto.CryptoError) as exc:
            raise SettingsError(
                f"cannot read the portal configuration in {data_dir}: {exc}"
            ) from None
        if len(secret) != 32:
            raise SettingsError(f"{data_dir / SECRET_FILE} must hold 32 bytes")
        limits = Limits(
            blob_bytes=_int(environ, "LANTHORN_BLOB_BYTES", Limits.blob_bytes),
            submission_bytes=_int(environ, "LANTHORN_SUBMISSION_BYTES", Limits.submission_bytes),
        )
        return cls(
            data_dir=data_dir,
            database_url=environ.get("LANTHORN_DATABASE_URL") or sqlite_url(data_dir),
            oversight_key=crypto.PublicKey(oversight_keys.box_pk),
            console_key=crypto.VerifyKey(console),
            oversight_sign_key=crypto.VerifyKey(oversight_keys.sign_pk),
            oversight_rollovers=oversight_keys.rollovers,
            hosts=hosts_from(environ.get(HOSTS_VARIABLE, "")),
            receipt_salt=salt,
            secret=Secret(secret),
            limits=limits,
            kdf_concurrency=_int(
                environ, "LANTHORN_KDF_CONCURRENCY", default_kdf_concurrency(environ)
            ),
            kdf_reports_waiting=_int(environ, "LANTHORN_KDF_REPORTS_WAITING", 0),
            kdf_follow_ups_waiting=_int(environ, "LANTHORN_KDF_FOLLOW_UPS_WAITING", 0),
            db_concurrency=_int(environ, "LANTHORN_DB_CONCURRENCY", cls.db_concurrency),
            secure_cookies=environ.get("LANTHORN_SECURE_COOKIES", "") in ("1", "true", "yes"),
            kiosk_facility=environ.get("LANTHORN_KIOSK_FACILITY", "")[:200],
            oversight_pin=_fingerprint(environ.get(PIN_VARIABLE, "")),
            unclaimed_bytes=_int(environ, "LANTHORN_UNCLAIMED_BYTES", cls.unclaimed_bytes),
            unclaimed_bytes_per_hour=_int(
                environ, "LANTHORN_UNCLAIMED_BYTES_PER_HOUR", cls.unclaimed_bytes_per_hour
            ),
            disk_reserve_bytes=_int(environ, "LANTHORN_DISK_RESERVE_BYTES", cls.disk_reserve_bytes),
            body_idle_seconds=_int(
                environ, "LANTHORN_BODY_IDLE_SECONDS", int(cls.body_idle_seconds)
            ),
            body_min_rate=_int(environ, "LANTHORN_BODY_MIN_RATE", cls.body_min_rate),
            body_rate_window=_int(
                environ, "LANTHORN_BODY_RATE_WINDOW_SECONDS", int(cls.body_rate_window)
            ),
            upload_concurrency=_int(environ, "LANTHORN_UPLOAD_CONCURRENCY", cls.upload_concurrency),
            body_buffer_bytes=_at_least(
                environ, "LANTHORN_BODY_BUFFER_BYTES", cls.body_buffer_bytes, 2 * MIB
            ),
            connections_per_worker=_int(
                environ, "LANTHORN_CONNECTIONS_PER_WORKER", cls.connections_per_worker
            ),
        )


#: The oversight keys' fingerprint the operator pins (`PortalSettings.oversight_pin`).
PIN_VARIABLE = "LANTHORN_OVERSIGHT_FINGERPRINT"


def _fingerprint(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return crypto.normalize_fingerprint(value)
    except ValueError:
        raise SettingsError(
            f"{PIN_VARIABLE}: {value!r} is not a fingerprint: 20 letters and digits, as "
            "`lanthorn triage init` and the posters print it (e.g. 7Q2M 0XKD 4HPA RT3N W8CE)"
        ) from None


#: The names this portal answers to, comma-separated (`PortalSettings.hosts`).
HOSTS_VARIABLE = "LANTHORN_HOSTS"


def hosts_from(value: str) -> tuple[str, ...]:
    """`LANTHORN_HOSTS` as a tuple of names in the form v2 requests sign them."""
    hosts = []
    for name in (part.strip() for part in value.split(",")):
        if not name:
            continue
        try:
            hosts.append(crypto.canonical_host(name))
        except ValueError:
            raise SettingsError(
                f"{HOSTS_VARIABLE}: {name!r} is not a host name as a browser sends it "
                "(e.g. report.example.org, or 127.0.0.1:8000 with a port)"
            ) from None
    return tuple(hosts)


#: Set by `lanthorn portal serve` for its workers: how many of them there are.
WORKERS_VARIABLE = "LANTHORN_SERVE_WORKERS"


def default_kdf_concurrency(environ: Mapping[str, str] = os.environ) -> int:
    """The CPUs ÷ the workers `serve` started, at least 1: one derivation per core.

    More at once only slow each other down (they share the cores and the memory
    bandwidth), and a worker's queue is first come, first served, so a report's wait is
    predictable. Fewer would leave cores idle while reports wait.
    """
    workers = environ.get(WORKERS_VARIABLE, "1")
    count = int(workers) if workers.isdigit() and int(workers) > 0 else 1
    return max(1, (os.cpu_count() or 1) // count)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+pysqlite:///{(data_dir / 'portal.db').resolve()}"


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise SettingsError(f"{name} must be at least 1")
    return number


def _at_least(environ: Mapping[str, str], name: str, default: int, low: int) -> int:
    number = _int(environ, name, default)
    if number < low:
        raise SettingsError(f"{name} must be at least {low}")
    return number
