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
    chosen = {**environ, "LANTHORN_KDF_CONCURRENCY": "3", "LANTHORN_DB_CONCURRENCY": "6"}
    settings = PortalSettings.load(tmp_path / "data", chosen)
    assert (settings.kdf_concurrency, settings.db_concurrency) == (3, 6)
