"""Errors that carry an HTTP status and a sentence for the person who caused them.

One renderer answers every error: JSON `{"error", "message"}` under `/api/`, the
`error.html` page elsewhere. A 500 never echoes internals.
"""

from __future__ import annotations

from .i18n import N_


class PortalError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(PortalError):
    """Malformed: bad JSON, bad base64, wrong types or key lengths."""


class Unauthorized(PortalError):
    status = 401
    code = "unauthorized"


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class NotFound(PortalError):
    status = 404
    code = "not_found"


class Conflict(PortalError):
    status = 409
    code = "conflict"


class AlreadySent(PortalError):
    """This page's form was sent before: its report or message is stored (`portal/once.py`)."""

    status = 409
    code = "already_sent"


class TooSlow(PortalError):
    """408: the body stopped arriving, or came too slowly (`portal.bodies.BodyPace`). The
    answer closes the connection: what the client may still send is not read."""

    status = 408
    code = "too_slow"
    close_connection = True


class Disconnected(PortalError):
    """The client went away before its body ended: nobody is left to answer."""

    status = 400
    code = "disconnected"


class UploadsBusy(PortalError):
    """503: this worker is taking as many uploads, or holding as many body bytes, as it
    may at once (`portal.upload_gate`); `Retry-After` says when to try again."""

    status = 503
    code = "busy"
    retry_after = 30


class TooLarge(PortalError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(PortalError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(PortalError):
    """The portal cannot reach its database just now; the answer says when to try again."""

    status = 503
    code = "unavailable"


class Unacceptable(PortalError):
    """Well-formed but not acceptable: unknown or used blob ids, sizes over a limit."""

    status = 422
    code = "unacceptable"


SIGNATURE_REFUSED = "The request's signature was missing, wrong, stale or replayed."


BUSY = N_("Too many people are using the portal just now. Please try again in a minute.")


class Busy(PortalError):
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
