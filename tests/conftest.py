"""Fixtures shared by every test: the v1 vectors, cheap KDF settings, Hypothesis profile."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

import crypto

# No timed assertions anywhere: Hypothesis must not fail a slow example on a busy machine.
settings.register_profile(
    "lanthorn", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("LANTHORN_HYPOTHESIS_PROFILE", "lanthorn"))

ROOT = Path(__file__).resolve().parents[1]
#: The shared known-answer vectors live beside the repository, never copied into it.
VECTORS = Path(os.environ.get("LANTHORN_VECTORS", ROOT.parent / "shared" / "vectors"))

#: Argon2id at libsodium's floor: fast enough for hundreds of derivations in a test run.
CHEAP_KDF = crypto.KdfParams(t=1, m_kib=8)


def load_vectors() -> dict[str, Any]:
    """The protocol v1 vector file; tests fail (not skip) when it is missing."""
    path = VECTORS / "protocol-v1.json"
    if not path.is_file():
        raise FileNotFoundError(f"protocol v1 vectors not found at {path}; set LANTHORN_VECTORS")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()


@pytest.fixture
def cheap_kdf() -> crypto.KdfParams:
    return CHEAP_KDF


POSTGRES_URL = os.environ.get("LANTHORN_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every database test runs twice: on SQLite, and on PostgreSQL when one is configured.

    Each PostgreSQL run gets a schema of its own, dropped afterwards, so runs never see
    each other's rows.
    """
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("LANTHORN_TEST_POSTGRES_URL is not set")
    schema = f"lanthorn_test_{secrets.token_hex(6)}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
