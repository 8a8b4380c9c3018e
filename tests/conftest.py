"""Fixtures shared by every test: the v1 vectors, cheap KDF settings, Hypothesis profile."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
