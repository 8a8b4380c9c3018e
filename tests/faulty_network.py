"""A faulty network between the console and the portal: an HTTP proxy on a loopback port
that passes every request through, except that file downloads fail at random, the ways
a real network or a busy portal fails them: a 503, a connection reset in the middle of
the body, or a body cut short that otherwise looks complete (chunked, ended cleanly)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.serving import serving

FAULTS = ("503", "reset", "truncated")


@dataclass
class Faults:
    """What the proxy did: how many downloads it passed and how many it broke, by kind."""

    rate: float
    rng: random.Random
    passed: int = 0
    broken: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))


class _Reset(Exception):
    """Raised inside a response body: uvicorn drops the connection mid-body."""


@contextmanager
def faulty_proxy(
    upstream: str, *, rate: float = 0.5, seed: int = 7
) -> Iterator[tuple[str, Faults]]:
    faults = Faults(rate, random.Random(seed))  # noqa: S311 - test faults, not secrets
    client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def app(scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] == "lifespan":  # close the client on the server's own loop
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        # The Host header goes on as the client sent it (as nginx's `$http_host`): the
        # console's signed requests cover it.
        headers = [(k, v) for k, v in request.headers.items() if k != "content-length"]
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream_request = client.build_request(
            request.method, target, headers=headers, content=await request.body()
        )
        answer = await client.send(upstream_request, stream=True)
        fault = None
        if "/console/blobs/" in request.url.path and answer.status_code == 200:
            if faults.rng.random() < faults.rate:
                fault = faults.rng.choice(FAULTS)
                faults.broken[fault] += 1
            else:
                faults.passed += 1
        if fault == "503":
            await answer.aclose()
            response: Response = Response(
                b'{"error":"busy","message":"Try again."}', 503, media_type="application/json"
            )
        else:
            keep = {"content-type"}
            out_headers = {k: v for k, v in answer.headers.items() if k in keep}

            async def body() -> AsyncIterator[bytes]:
                sent = 0
                try:
                    async for chunk in answer.aiter_raw():
                        if fault is not None and sent + len(chunk) > 40_000:
                            cut = max(0, 40_000 - sent)
                            yield chunk[:cut]
                            if fault == "reset":
                                raise _Reset
                            return  # truncated: ends as if complete
                        sent += len(chunk)
                        yield chunk
                finally:
                    await answer.aclose()

            response = StreamingResponse(body(), answer.status_code, headers=out_headers)
        await response(scope, receive, send)

    with serving(app) as url:
        yield url, faults
