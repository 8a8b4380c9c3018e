"""How uvicorn serves either app: no access log (it would record addresses and times), no
Server or Date header, httptools with Nagle's algorithm off, and a cap on connections.

`lanthorn portal serve` and `lanthorn triage serve` both run with `UVICORN_OPTIONS` and
`uvicorn_log_config()`, and so do the tests that serve an app.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def uvicorn_log_config() -> dict[str, object]:
    """Server logs without addresses, user agents or request lines: access log off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "lanthorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def _no_delay(transport: asyncio.Transport) -> None:
    """Nagle's algorithm off. With `--workers` above 1, uvicorn binds the listening socket
    itself without naming TCP, so asyncio does not set TCP_NODELAY and each reply on a
    kept-alive connection waits ~40 ms for the client's delayed acknowledgement (uvicorn
    issue #3149)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: Connections past uvicorn's `limit_concurrency` that a worker still takes, to answer
#: each with 503 (uvicorn does, once the request's headers are in). Past these, a new
#: connection is closed at once, unanswered: uvicorn alone would take every connection
#: offered and hold it, so enough of them would use up the process's file descriptors.
OVER_LIMIT_CONNECTIONS = 16


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools (llhttp, in C) with Nagle's algorithm off
    (uvicorn's pure-Python h11 parser took a tenth of the portal's CPU per API report),
    and a hard cap on connections: `limit_concurrency` + `OVER_LIMIT_CONNECTIONS`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) >= limit + OVER_LIMIT_CONNECTIONS:
            self.transport = transport  # for connection_lost, which closes it again
            transport.abort()
            return
        _no_delay(transport)
        super().connection_made(transport)


#: How uvicorn runs either app: no access log (it would record addresses and times), and
#: no Server or Date header. The event loop is asyncio's, named rather than left to
#: uvicorn's "auto", which takes uvloop wherever it happens to be installed: under uvloop
#: the workers never reached `serve`'s Argon2id queue (its abstract Unix socket), and the
#: queue was bypassed without a word. Tests serve the apps with the same options.
UVICORN_OPTIONS: dict[str, object] = {
    "access_log": False,
    "server_header": False,
    "date_header": False,
    "proxy_headers": False,
    "http": NoDelayHttpToolsProtocol,
    "loop": "asyncio",
}


#: glibc's `mallopt` parameters: M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Allocations under this come from the heap, not from a fresh mapping of their own.
MMAP_THRESHOLD = 4 * 1024 * 1024
#: Free memory at the top of the heap that is kept rather than given back at once.
TRIM_THRESHOLD = 16 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Let this process's allocator reuse the memory of large buffers it has freed.

    A streamed upload passes through buffers of 64 KiB to a few hundred KiB (uvicorn's
    body buffer, httptools' pieces, the portal's chunks), one set after another. With
    glibc's dynamic defaults, each was mapped, or the heap grown, afresh and given back
    to the kernel when freed, so every chunk faulted its pages in again: a seventh of a
    worker's CPU during a 1 GiB upload went to page faults (docs/benchmarks.md, issue
    20). Fixed thresholds keep them in the heap, at the cost of up to TRIM_THRESHOLD of
    freed memory held per arena. Nothing happens where `mallopt` does not exist (not
    glibc); returns whether both were set.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
