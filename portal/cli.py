"""`lanthorn portal init` and `lanthorn portal serve`."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path

import crypto

from .settings import CONFIG_FILE, SECRET_FILE, PortalSettings, SettingsError


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


def initialise(data_dir: Path, oversight_key: bytes, console_key: bytes) -> Path:
    """Create the data directory: public configuration, the portal secret, the database."""
    from .app import create_app  # runs the migrations

    if (data_dir / CONFIG_FILE).exists():
        raise SettingsError(
            f"{data_dir} already holds a portal. Its receipt salt must never change (every "
            "receipt depends on it), so `init` will not overwrite it."
        )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = {
        "oversight_public_key": crypto.b64u_encode(oversight_key),
        "console_key": crypto.b64u_encode(console_key),
        "receipt_salt": crypto.b64u_encode(secrets.token_bytes(crypto.RECEIPT_SALT_BYTES)),
    }
    secret_path = data_dir / SECRET_FILE
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    (data_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    create_app(PortalSettings.load(data_dir))
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
        initialise(
            data_dir,
            read_public_key(Path(oversight_key), "oversight public key"),
            read_public_key(Path(console_key), "console verify key"),
        )
    except SettingsError as exc:
        print(f"lanthorn portal init: {exc}", file=sys.stderr)
        return 1
    print(f"Portal initialised in {data_dir}.")
    print(f"Start it with: lanthorn portal serve --data {data_dir}")
    return 0


def uvicorn_log_config() -> dict[str, object]:
    """Server logs without addresses, user agents or request lines: access log off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "lanthorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


#: How uvicorn runs the portal: no access log (it would record addresses and times), and
#: no Server or Date header. Tests serve the portal with the same options.
UVICORN_OPTIONS: dict[str, object] = {
    "access_log": False,
    "server_header": False,
    "date_header": False,
    "proxy_headers": False,
}


def serve_command(data: str | None, host: str, port: int, workers: int) -> int:
    import uvicorn

    os.umask(0o077)
    try:
        data_dir = data_dir_from(data)
        PortalSettings.load(data_dir)  # fail here, clearly, rather than in every worker
    except SettingsError as exc:
        print(f"lanthorn portal serve: {exc}", file=sys.stderr)
        return 1
    os.environ["LANTHORN_DATA"] = str(data_dir)
    print(f"Lanthorn portal on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(
        "portal.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(),
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )
    logging.shutdown()
    return 0
