"""Run an ASGI app under real uvicorn on a loopback port, for tests that speak real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: ASGIApp, **options: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 in a background thread; yield its base URL.

    `options` go to `uvicorn.Config`, so a test serves an app as production does.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        log_level="warning",
        lifespan="on",
        **{"access_log": False, **options},
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def host_of(url: str) -> str:
    """The Host header a client sends to `url` (what a v2 signed request names)."""
    return url.split("://", 1)[1].split("/", 1)[0]
