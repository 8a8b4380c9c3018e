"""Subresource Integrity for the portal's own static files.

Pages that run the browser implementation of protocol v1 load libsodium.js and
`lanthorn-protocol.js` with `<script src=... integrity="{{ sri(path) }}">`, so a file
changed on the server (or in a cache between) is refused by the browser instead of run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

__all__ = ["STATIC", "sri"]

STATIC = Path(__file__).parent / "static"


@functools.cache
def sri(path: str) -> str:
    """`sha384-…` of the file at `path`, relative to portal/static (computed once)."""
    root = STATIC.resolve()
    file = (root / path).resolve()
    if Path(path).is_absolute() or not file.is_relative_to(root) or not file.is_file():
        raise ValueError(f"no static file {path!r} to compute an integrity hash for")
    digest = hashlib.sha384(file.read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")
