"""`lanthorn portal init` as an administrator on a fresh server meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import crypto

LANTHORN = Path(sys.executable).with_name("lanthorn")


def run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LANTHORN, *map(str, args)], capture_output=True, text=True, env=env, check=False
    )


def init(
    data: Path, oversight: Path, console: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        "portal",
        "init",
        "--data",
        data,
        "--oversight-key",
        oversight,
        "--console-key",
        console,
        env=env,
    )


def oversight_json(box_pk: bytes, sign_pk: bytes) -> str:
    """A console's public/oversight.json (`lanthorn triage init` writes it)."""
    return json.dumps(
        {
            "oversight_public_key": crypto.b64u_encode(box_pk),
            "oversight_sign_key": crypto.b64u_encode(sign_pk),
            "oversight_fingerprint": crypto.fingerprint(box_pk, sign_pk),
            "oversight_rollovers": [],
        }
    )


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    oversight, console = tmp_path / "oversight.json", tmp_path / "console.pub"
    oversight.write_text(
        oversight_json(
            bytes(crypto.PrivateKey.generate().public_key),
            bytes(crypto.SigningKey.generate().verify_key),
        )
    )
    console.write_text(
        "\n  " + crypto.b64u_encode(bytes(crypto.SigningKey.generate().verify_key)) + "  \n"
    )
    return oversight, console


def test_init_creates_a_private_data_directory(
    tmp_path: Path, key_files: tuple[Path, Path], database_url: str
) -> None:
    data = tmp_path / "portal"
    env = {**os.environ, "LANTHORN_DATABASE_URL": database_url}
    result = init(data, key_files[0], key_files[1], env=env)
    assert result.returncode == 0, result.stderr
    assert "lanthorn portal serve --data" in result.stdout
    config = json.loads((data / "portal.json").read_text())
    given = json.loads(key_files[0].read_text())
    assert config["oversight_public_key"] == given["oversight_public_key"]
    assert config["oversight_sign_key"] == given["oversight_sign_key"]
    assert config["oversight_rollovers"] == []
    assert f"fingerprint: {given['oversight_fingerprint']}" in result.stdout
    assert len(crypto.b64u_decode(config["receipt_salt"])) == 16
    assert (data / "secret.key").stat().st_mode & 0o077 == 0
    assert data.stat().st_mode & 0o077 == 0
    again = init(data, key_files[0], key_files[1], env=env)
    assert again.returncode == 1
    assert "receipt salt must never change" in again.stderr
    assert json.loads((data / "portal.json").read_text()) == config


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "does not hold the oversight keys"),
        ("not a key", "does not hold the oversight keys"),
        (crypto.b64u_encode(bytes(32)), "does not hold the oversight keys"),  # a v1 .pub
        ('{"oversight_public_key": "' + "A" * 43 + '"}', "oversight_sign_key is missing"),
        (
            oversight_json(bytes(32), bytes(31) + b"x").replace(
                crypto.fingerprint(bytes(32), bytes(31) + b"x"), "TMFE MYFT Z6S7 VV73 5MDR"
            ),
            "is not the fingerprint of the two keys",
        ),
    ],
)
def test_init_explains_a_bad_key_file(
    tmp_path: Path, key_files: tuple[Path, Path], content: str, message: str
) -> None:
    key_files[0].write_text(content)
    result = init(tmp_path / "p", key_files[0], key_files[1])
    assert result.returncode == 1
    assert message in result.stderr
    assert "lanthorn triage init" in result.stderr or "oversight" in result.stderr
    assert not (tmp_path / "p").exists()


def test_init_explains_a_missing_key_file(tmp_path: Path, key_files: tuple[Path, Path]) -> None:
    result = init(tmp_path / "p", tmp_path / "nope.json", key_files[1])
    assert result.returncode == 1
    assert "cannot read the oversight keys" in result.stderr


def test_serve_explains_an_uninitialised_directory(tmp_path: Path) -> None:
    result = run("portal", "serve", "--data", tmp_path)
    assert result.returncode == 1
    assert "lanthorn portal init" in result.stderr
    env = {k: v for k, v in os.environ.items() if k != "LANTHORN_DATA"}
    result = run("portal", "serve", env=env)
    assert result.returncode == 1
    assert "--data DIR or LANTHORN_DATA" in result.stderr


def test_init_explains_an_unreachable_database(
    tmp_path: Path, key_files: tuple[Path, Path]
) -> None:
    env = {
        **os.environ,
        "LANTHORN_DATABASE_URL": "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none",
    }
    data = tmp_path / "p"
    result = init(data, key_files[0], key_files[1], env=env)
    assert result.returncode == 1
    assert "cannot prepare the database" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    assert not (data / "portal.json").exists()  # unfinished: running init again is safe
    again = init(data, key_files[0], key_files[1])
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    ("workers", "cpus", "expected"),
    [("1", 2, 2), ("2", 2, 1), ("2", 8, 4), ("4", 2, 1), ("0", 4, 4), ("x", 4, 4), (None, 4, 4)],
)
def test_the_workers_share_the_cores_for_argon2id_by_default(
    tmp_path: Path,
    key_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    workers: str | None,
    cpus: int,
    expected: int,
) -> None:
    """`serve --workers N` tells its workers N: together they derive one key per core,
    unless the administrator sets LANTHORN_KDF_CONCURRENCY (which always wins)."""
    from portal.settings import WORKERS_VARIABLE, PortalSettings

    assert init(tmp_path / "data", *key_files).returncode == 0
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    environ = {} if workers is None else {WORKERS_VARIABLE: workers}
    settings = PortalSettings.load(tmp_path / "data", environ)
    assert settings.kdf_concurrency == expected
    assert settings.db_concurrency == 4
    # Reports and follow-ups may wait 16 and 2 per slot, unless the administrator says.
    assert settings.kdf_waiting() == {"report": 16 * expected, "follow-up": 2 * expected}
    chosen = {**environ, "LANTHORN_KDF_CONCURRENCY": "3", "LANTHORN_DB_CONCURRENCY": "6"}
    settings = PortalSettings.load(tmp_path / "data", chosen)
    assert (settings.kdf_concurrency, settings.db_concurrency) == (3, 6)
    assert settings.kdf_waiting() == {"report": 48, "follow-up": 6}
    chosen = {"LANTHORN_KDF_REPORTS_WAITING": "40", "LANTHORN_KDF_FOLLOW_UPS_WAITING": "1"}
    settings = PortalSettings.load(tmp_path / "data", chosen)
    assert settings.kdf_waiting() == {"report": 40, "follow-up": 1}


def test_the_bounds_on_slow_clients_come_from_the_environment(
    tmp_path: Path, key_files: tuple[Path, Path]
) -> None:
    from portal.settings import PortalSettings, SettingsError

    assert init(tmp_path / "data", *key_files).returncode == 0
    settings = PortalSettings.load(tmp_path / "data", {})
    assert settings.upload_concurrency == 64
    assert settings.body_buffer_bytes == 32 * 1024 * 1024
    assert settings.connections_per_worker == 512
    assert (settings.body_idle_seconds, settings.body_min_rate, settings.body_rate_window) == (
        60,
        1024,
        60,
    )
    chosen = {
        "LANTHORN_UPLOAD_CONCURRENCY": "8",
        "LANTHORN_BODY_BUFFER_BYTES": "4194304",
        "LANTHORN_CONNECTIONS_PER_WORKER": "100",
        "LANTHORN_BODY_IDLE_SECONDS": "5",
        "LANTHORN_BODY_MIN_RATE": "10",
        "LANTHORN_BODY_RATE_WINDOW_SECONDS": "20",
    }
    settings = PortalSettings.load(tmp_path / "data", chosen)
    assert (settings.upload_concurrency, settings.body_buffer_bytes) == (8, 4194304)
    assert settings.connections_per_worker == 100
    assert (settings.body_idle_seconds, settings.body_min_rate, settings.body_rate_window) == (
        5,
        10,
        20,
    )
    # One form's text (1.5 MiB) or one JSON body must fit, or every such request is refused.
    with pytest.raises(SettingsError, match="LANTHORN_BODY_BUFFER_BYTES must be at least"):
        PortalSettings.load(tmp_path / "data", {"LANTHORN_BODY_BUFFER_BYTES": "1048576"})


def test_serve_raises_its_file_limit_to_what_a_worker_needs_or_says_why_not(
    tmp_path: Path, key_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal import cli
    from portal.settings import PortalSettings

    assert init(tmp_path / "data", *key_files).returncode == 0
    settings = PortalSettings.load(tmp_path / "data", {})
    needed = cli.descriptors_needed(connections=512, db_concurrency=4)
    assert needed > 1024  # the usual default soft limit is too low for the defaults
    limits = {"now": (1024, 1024)}
    monkeypatch.setattr(cli.resource, "getrlimit", lambda _: limits["now"])
    monkeypatch.setattr(cli.resource, "setrlimit", lambda _, value: limits.update(now=value))
    warning = cli.raise_descriptor_limit(settings)
    assert f"may need {needed} file descriptors" in warning
    assert "LimitNOFILE" in warning
    limits["now"] = (1024, 65536)  # the hard limit allows it: raised, no warning
    assert cli.raise_descriptor_limit(settings) == ""
    assert limits["now"] == (needed, 65536)
