"""Console settings: one frozen dataclass, read from `LANTHORN_*` once, built directly in tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TriageSettings:
    """Where the console keeps its sealed data. Grows with issue 4."""

    data_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TriageSettings:
        return cls(data_dir=Path(environ.get("LANTHORN_DATA", "data/triage")))
