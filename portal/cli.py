"""`lanthorn portal init`, `lanthorn portal serve` and `lanthorn portal set-oversight-key`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import resource
import secrets
import sys
from pathlib import Path

import crypto
from foundation.blobstore import BlobStore
from foundation.database import DatabaseUnavailable, migrate_or_explain
from foundation.serving import OVER_LIMIT_CONNECTIONS, UVICORN_OPTIONS, uvicorn_log_config

from .kdf_queue import QUEUE_VARIABLE, shared_queue
from .migrations import upgrade
from .settings import (
    CONFIG_FILE,
    HOSTS_VARIABLE,
    SECRET_FILE,
    WORKERS_VARIABLE,
    OversightPublicKeys,
    PortalSettings,
    SettingsError,
    sqlite_url,
)

#: The fields of portal.json that the console's public/oversight.json sets.
_OVERSIGHT_FIELDS = ("oversight_public_key", "oversight_sign_key", "oversight_rollovers")


def read_public_key(path: Path, what: str) -> bytes:
    """A key file holds one b64u public key as text; surrounding whitespace is ignored."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the {what} from {path}: {exc}") from None
    try:
        return crypto.b64u_decode(text, length=32)
    except crypto.CryptoError:
        raise SettingsError(
            f"{path} does not hold the {what}: expected one URL-safe base64 key of 32 bytes "
            "(43 characters), as written by `lanthorn triage init`."
        ) from None


def read_oversight_keys(path: Path) -> OversightPublicKeys:
    """The oversight keys from the console's `public/oversight.json` (`lanthorn triage
    init` and `rotate-key` write it): both public keys and the rollover statements."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read the oversight keys from {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SettingsError(
            f"{path} does not hold the oversight keys: give the console's "
            "public/oversight.json, as written by `lanthorn triage init` or `rotate-key` "
            "(a single key, as in the oversight.pub of earlier versions, is not enough: "
            "protocol v2 needs the signing key too)."
        )
    try:
        return OversightPublicKeys.from_json(data)
    except ValueError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def migrate(database_url: str) -> None:
    """Bring the portal database to the newest schema, or explain why it cannot be."""
    try:
        migrate_or_explain(database_url, upgrade)
    except DatabaseUnavailable as exc:
        raise SettingsError(str(exc)) from None


def initialise(data_dir: Path, oversight: OversightPublicKeys, console_key: bytes) -> Path:
    """Create the data directory: the portal secret, the database, then the configuration.

    `portal.json` is written last, so a directory without it is an unfinished init that
    can simply be run again.
    """
    if (data_dir / CONFIG_FILE).exists():
        raise SettingsError(
            f"{data_dir} already holds a portal. Its receipt salt must never change (every "
            "receipt depends on it), so `init` will not overwrite it."
        )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if console_key in (oversight.box_pk, oversight.sign_pk):
        raise SettingsError("the console key must be the console's public/console.pub")
    keys = oversight.as_json()
    config = {
        **{name: keys[name] for name in _OVERSIGHT_FIELDS},
        "console_key": crypto.b64u_encode(console_key),
        "receipt_salt": crypto.b64u_encode(secrets.token_bytes(crypto.RECEIPT_SALT_BYTES)),
    }
    secret_path = data_dir / SECRET_FILE
    secret_path.unlink(missing_ok=True)  # left by an unfinished init: nothing used it yet
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    migrate(os.environ.get("LANTHORN_DATABASE_URL") or sqlite_url(data_dir))
    (data_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return data_dir


def data_dir_from(args_data: str | None) -> Path:
    value = args_data or os.environ.get("LANTHORN_DATA")
    if not value:
        raise SettingsError("say where the portal's data lives: --data DIR or LANTHORN_DATA")
    return Path(value)


def init_command(data: str | None, oversight_key: str, console_key: str) -> int:
    os.umask(0o077)  # the database and blobs are for the portal's user alone
    try:
        data_dir = data_dir_from(data)
        oversight = read_oversight_keys(Path(oversight_key))
        initialise(data_dir, oversight, read_public_key(Path(console_key), "console verify key"))
    except SettingsError as exc:
        print(f"lanthorn portal init: {exc}", file=sys.stderr)
        return 1
    print(f"Portal initialised in {data_dir}.")
    print(f"Oversight keys' fingerprint: {oversight.fingerprint}")
    print("It must be the one `lanthorn triage init` printed on the console.")
    print(f"Start it with: lanthorn portal serve --data {data_dir}")
    return 0


def key_fingerprint(key: bytes) -> str:
    """A public key's fingerprint, computed alike on both hosts for officers to compare:
    the first 16 bytes of its SHA-256, in groups of four hex digits."""
    digest = hashlib.sha256(key).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def set_oversight_key(data_dir: Path, keys: OversightPublicKeys) -> str | None:
    """Replace the oversight keys in portal.json (both public keys and the rollover
    statements), and nothing else; returns the fingerprint of the keys it held, or None
    when they had no signing key (a portal set up before protocol v2).

    The file is rewritten whole or not at all (a temporary file, fsynced, renamed): the
    receipt salt beside the keys must never be lost or changed.
    """
    path = data_dir / CONFIG_FILE
    if not path.is_file():
        raise SettingsError(
            f"{data_dir} is not an initialised portal data directory (no {CONFIG_FILE})"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        old_box = crypto.b64u_decode(config["oversight_public_key"], length=32)
        old_sign = config.get("oversight_sign_key")
        console = crypto.b64u_decode(config["console_key"], length=32)
        crypto.b64u_decode(config["receipt_salt"], length=crypto.RECEIPT_SALT_BYTES)
    except (OSError, ValueError, KeyError, TypeError, crypto.CryptoError) as exc:
        raise SettingsError(f"cannot read the portal configuration {path}: {exc}") from None
    if console in (keys.box_pk, keys.sign_pk):
        raise SettingsError(
            "that is the console's verify key, not the oversight keys: use the console's "
            "public/oversight.json"
        )
    old = None
    if isinstance(old_sign, str):
        try:
            old = crypto.fingerprint(old_box, crypto.b64u_decode(old_sign, length=32))
        except crypto.CryptoError:
            old = None
    wanted = keys.as_json()
    if all(config.get(name) == wanted[name] for name in _OVERSIGHT_FIELDS):
        return old
    config |= {name: wanted[name] for name in _OVERSIGHT_FIELDS}
    before = path.stat()
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if os.geteuid() == 0:  # run as root: the portal's own user must still read it
        os.fchown(fd, before.st_uid, before.st_gid)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(config, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return old


def set_oversight_key_command(data: str | None, oversight_key: str) -> int:
    os.umask(0o077)
    try:
        data_dir = data_dir_from(data)
        keys = read_oversight_keys(Path(oversight_key))
        old = set_oversight_key(data_dir, keys)
    except SettingsError as exc:
        print(f"lanthorn portal set-oversight-key: {exc}", file=sys.stderr)
        return 1
    if old == keys.fingerprint:
        print(f"The portal already uses these oversight keys ({keys.fingerprint}).")
        return 0
    print(f"Oversight keys replaced in {data_dir / CONFIG_FILE} (nothing else changed):")
    print(f"  old fingerprint: {old or 'none (no signing key yet)'}")
    print(f"  new fingerprint: {keys.fingerprint}")
    print("The new fingerprint must be the one `lanthorn triage rotate-key` printed.")
    print(
        "Restart the portal now (e.g. systemctl restart lanthorn-portal): until it "
        "restarts, it goes on serving the old keys."
    )
    return 0


#: What a worker holds whatever its load: standard streams, the event loop, the listening
#: socket, the Argon2id queue's connection, libraries' files (about 10 at rest), with room.
BASE_DESCRIPTORS = 64
#: Per pooled database connection: SQLite's database, -wal and -shm files (PostgreSQL: 1).
DB_DESCRIPTORS = 3


def descriptors_needed(*, connections: int, db_concurrency: int) -> int:
    """The most file descriptors one worker process can hold with every bound reached.

    Each connection holds its socket and at most one file: an upload's (a form holds
    one open at a time, `portal.multipart`), or one being sent (a static file, an
    attachment to the console). Over-limit connections hold only their socket, and the
    database pool holds at most `db_concurrency + 4` connections (`create_app`). The
    limit applies to each process: LimitNOFILE in the systemd unit must be at least this.
    """
    pool = db_concurrency + 4
    return 2 * connections + OVER_LIMIT_CONNECTIONS + DB_DESCRIPTORS * pool + BASE_DESCRIPTORS


def raise_descriptor_limit(settings: PortalSettings) -> str:
    """Let this process (and the workers it starts) open the files `descriptors_needed`
    says; a warning for the operator if it may not."""
    needed = descriptors_needed(
        connections=settings.connections_per_worker, db_concurrency=settings.db_concurrency
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return ""
    if hard == resource.RLIM_INFINITY or hard >= needed:
        with contextlib.suppress(OSError, ValueError):  # a sandbox may refuse setrlimit
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
            return ""
    return (
        f"each worker may need {needed} file descriptors with "
        f"LANTHORN_CONNECTIONS_PER_WORKER={settings.connections_per_worker}, but may open "
        f"only {soft}. Raise the limit (LimitNOFILE= in the systemd unit, or ulimit -n), or "
        "lower LANTHORN_CONNECTIONS_PER_WORKER; until then, a crowd of connections can make "
        "the portal fail."
    )


def uvicorn_options(settings: PortalSettings) -> dict[str, object]:
    """`UVICORN_OPTIONS` with this portal's connection cap for each worker."""
    return {**UVICORN_OPTIONS, "limit_concurrency": settings.connections_per_worker}


def default_hosts(host: str, port: int) -> list[str]:
    """The names a portal served on `host`:`port` answers to when LANTHORN_HOSTS is not
    set: that address (and `localhost` for a loopback one), as a client writes its Host."""
    names = [f"[{host}]" if ":" in host else host]
    if host in ("127.0.0.1", "::1"):
        names.append("localhost")
    return [f"{name}:{port}" if port != 80 else name for name in names]


def serve_command(data: str | None, host: str, port: int, workers: int) -> int:
    import uvicorn

    os.umask(0o077)
    try:
        data_dir = data_dir_from(data)
        settings = PortalSettings.load(data_dir)  # fail here, clearly, not in every worker
        migrate(settings.database_url)  # once, before the workers start
    except SettingsError as exc:
        print(f"lanthorn portal serve: {exc}", file=sys.stderr)
        return 1
    warning = raise_descriptor_limit(settings)
    if warning:
        print(f"lanthorn portal serve: warning: {warning}", file=sys.stderr, flush=True)
    # No worker runs yet, so every temporary upload file is one a crash left behind.
    cleared = BlobStore(settings.blob_dir).clear_temporary()
    if cleared:
        print(f"Deleted {cleared} unfinished upload(s) left by an earlier stop.", flush=True)
    os.environ["LANTHORN_DATA"] = str(data_dir)
    if not settings.hosts:  # v2 signed requests name the host: answer to the one served
        os.environ[HOSTS_VARIABLE] = ",".join(default_hosts(host, port))
        print(
            f"{HOSTS_VARIABLE} is not set: signed requests are accepted for "
            f"{os.environ[HOSTS_VARIABLE]} only.",
            flush=True,
        )
    os.environ[WORKERS_VARIABLE] = str(workers)  # the workers share the CPUs' Argon2id
    with contextlib.ExitStack() as stack:
        if workers > 1:  # one queue for all of them, by the rules of portal/admission.py
            per_worker = PortalSettings.load(data_dir)  # now for N workers
            waiting = {k: workers * n for k, n in per_worker.kdf_waiting().items()}
            slots = workers * per_worker.kdf_concurrency
            address = stack.enter_context(shared_queue(slots, waiting))
            os.environ[QUEUE_VARIABLE] = address
        print(f"Lanthorn portal on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
        uvicorn.run(
            "portal.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=uvicorn_log_config(),
            **uvicorn_options(settings),  # type: ignore[arg-type]
        )
    logging.shutdown()
    return 0
