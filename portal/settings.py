"""Portal settings: one frozen dataclass, read from `LANTHORN_*` once, built directly in tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PortalSettings:
    """Where the portal keeps its data. Grows with issue 3 (database URL, keys, limits)."""

    data_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PortalSettings:
        return cls(data_dir=Path(environ.get("LANTHORN_DATA", "data/portal")))
