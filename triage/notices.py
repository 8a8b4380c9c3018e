"""What an action says it did, carried across its redirect (POST/redirect/GET).

Every console action answers 303 to a page, so that reloading the page asks for nothing
again. The notice ("Reply saved and sent to the portal.", a new officer's setup code) is
kept here, in the console's memory, under a random key; the browser holds only that key,
in a short-lived cookie for the page it is sent to. No officer's words go into an
address, and the page shows the notice once: reloading it shows the page without it.
The console runs as one process, so its memory is where the next request looks.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from foundation.csrf import cookie_secure

COOKIE = "lanthorn_console_notice"
#: A notice not shown within this many seconds is dropped.
SECONDS = 120
#: At most this many notices wait at once (memory stays bounded whatever is sent).
LIMIT = 1000


@dataclass(frozen=True)
class Notice:
    text: str
    error: bool = False
    #: A new officer's one-time setup code, shown once on the officers page.
    setup: str = ""
    #: The case whose reporter's identity the page shows, this once (Reveal).
    reveal: str = ""


class Notices:
    """Notices waiting for the page they were sent to."""

    def __init__(self) -> None:
        self._waiting: OrderedDict[str, tuple[str, float, Notice]] = OrderedDict()

    def keep(self, path: str, notice: Notice) -> str:
        now = time.monotonic()
        while self._waiting and (
            len(self._waiting) >= LIMIT or next(iter(self._waiting.values()))[1] < now
        ):
            self._waiting.popitem(last=False)
        key = secrets.token_urlsafe(18)
        self._waiting[key] = (path, now + SECONDS, notice)
        return key

    def take(self, key: str, path: str) -> Notice | None:
        """The notice kept under `key` for `path`, once; None for any other page."""
        waiting = self._waiting.get(key)
        if waiting is None or waiting[0] != path:
            return None
        del self._waiting[key]
        return waiting[2] if waiting[1] >= time.monotonic() else None


def see_other(request: Request, path: str, notice: Notice | str | None = None) -> Response:
    """303 to `path` (a page of the console), which shows `notice` once."""
    response = RedirectResponse(path, status_code=303)
    if notice:
        if isinstance(notice, str):
            notice = Notice(notice)
        key = request.app.state.notices.keep(path, notice)
        response.set_cookie(
            COOKIE,
            key,
            max_age=SECONDS,
            path=path,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
    return response


def current(request: Request) -> Notice | None:
    """The notice sent to this page, if any: taken (once) on the first call in a request,
    the same on later ones."""
    if not hasattr(request.state, "notice"):
        key = request.cookies.get(COOKIE, "")
        notice = request.app.state.notices.take(key, request.url.path) if key else None
        request.state.notice = notice
    found: Notice | None = request.state.notice
    return found


def forget(request: Request, response: Response) -> None:
    """Once the page has shown its notice, the browser drops the key."""
    if getattr(request.state, "notice", None) is not None:
        response.delete_cookie(COOKIE, path=request.url.path, httponly=True, samesite="strict")
