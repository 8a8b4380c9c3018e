"""The kiosk's own error page: what a 4xx or 5xx answer to a kiosk address looks like.

The portal's error page is a web page (a site header, a footer, links to pages the kiosk
does not show), in a language the kiosk cannot know there: a kiosk's choice of language
travels inside its forms, which an error may come before. So an error at a kiosk address
says one plain thing in every language the kiosk speaks, each with its own Listen control
(issue 19), and leads back to the first screen. It says nothing of the person or of what
failed: the portal's message for the error is for the web pages and the API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from foundation.languages import LANGUAGES, N_, RTL

from .i18n import current_language
from .kiosk import IDLE_SECONDS
from .kiosk_icons import page_pictures
from .security import KIOSK_CSP

#: The words, the same for every error: nothing the kiosk sent was kept (no failing
#: request stores anything), and the way on is to start again.
HEADING = N_("Something went wrong")
TEXT = N_("It did not work. Nothing was sent. Please try again.")
START = N_("Touch here to start")


def is_kiosk(request: Request) -> bool:
    path = request.url.path
    return path == "/kiosk" or path.startswith("/kiosk/")


def error_page(request: Request, status: int) -> Response:
    """The kiosk's error page for `status`, under the kiosk's policy (its scripts, its clips)."""
    context = {
        "status": status,
        "languages": LANGUAGES,
        "rtl": RTL,
        "words": {"heading": HEADING, "text": TEXT, "start": START},
        "idle": IDLE_SECONDS,
        "kiosk": True,
    }
    language = current_language.set("en")  # the page's frame; each block has its own
    try:
        with page_pictures():
            response: Response = request.app.state.templates.TemplateResponse(
                request, "kiosk/error.html", context, status_code=status
            )
    finally:
        current_language.reset(language)
    response.headers["Content-Security-Policy"] = KIOSK_CSP
    return response
