"""The portal's own errors, beside the ones both apps share (`foundation.errors`).

One renderer answers every error: JSON `{"error", "message"}` under `/api/`, the
`error.html` page elsewhere. A 500 never echoes internals.
"""

from __future__ import annotations

from foundation.errors import WebError
from foundation.languages import N_


class AlreadySent(WebError):
    """This page's form was sent before: its report or message is stored (`portal/once.py`)."""

    status = 409
    code = "already_sent"


class UploadsBusy(WebError):
    """503: this worker is taking as many uploads, or holding as many body bytes, as it
    may at once (`portal.upload_gate`); `Retry-After` says when to try again."""

    status = 503
    code = "busy"
    retry_after = 30


class Unavailable(WebError):
    """The portal cannot reach its database just now; the answer says when to try again."""

    status = 503
    code = "unavailable"


SIGNATURE_REFUSED = "The request's signature was missing, wrong, stale or replayed."


BUSY = N_("Too many people are using the portal just now. Please try again in a minute.")


class Busy(WebError):
    """More people wait for a key derivation than may: refused at once, nothing kept
    (`portal/admission.py`). The pages that derive answer with their own words; this
    message is for anywhere else."""

    status = 503
    code = "busy"
    retry_after = 60

    def __init__(self, message: str = BUSY, *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class ClientGone(Exception):
    """The client closed its connection while its request waited for a key derivation:
    the derivation is not started, and nobody is there to answer."""
