"""The OpenAPI 3.1 document served at `/api/v1/openapi.json` (filled in below)."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lanthorn portal API", "version": "1"},
        "paths": {},
    }
