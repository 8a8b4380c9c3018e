"""Small urlencoded forms (a few fields: a button, a short text) for both apps' pages.

Read into memory through `foundation.bodies` (size and pace limits), refused when
malformed, and never read without their CSRF token checked (`foundation.csrf`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from .bodies import read_body
from .errors import BadRequest

SMALL_FORM_BYTES = 16 * 1024


async def small_form(
    request: Request, purpose: str, limit: int = SMALL_FORM_BYTES, max_fields: int = 20
) -> dict[str, str]:
    """An application/x-www-form-urlencoded form of a few fields, read into memory, whose
    CSRF token must be the one issued for `purpose` (403 otherwise): no form is read
    without that check."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise BadRequest("This form must be sent as a normal web form.")
    body = await read_body(request, limit, "This form")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=max_fields,
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form could not be read. Please send it again.") from None
    # No browser sends a NUL from a form, and PostgreSQL refuses one in text (an error,
    # so a 500, wherever a field reaches a query): refuse it here, for every form.
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise BadRequest("The form could not be read. Please send it again.")
    form = dict(pairs)
    request.app.state.csrf.check(request, purpose, form.get("csrf"))
    return form
