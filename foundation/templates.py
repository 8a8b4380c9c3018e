"""The Jinja2 environment both apps render their own `templates/` with."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates


def make_templates(directory: Path) -> Jinja2Templates:
    """Templates with autoescaping always on: reporter text is attacker input."""
    return Jinja2Templates(
        env=Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )
