"""The portal's application factory. Nothing is created at import time."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .settings import PortalSettings


async def not_open_yet(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        "The Lanthorn portal is not open yet: reporting arrives with issue 3.", status_code=503
    )


def create_app(settings: PortalSettings) -> Starlette:
    """Build the portal for `settings`; everything it needs hangs off `app.state`."""
    app = Starlette(routes=[Route("/", not_open_yet)])
    app.state.settings = settings
    return app
