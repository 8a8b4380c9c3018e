"""The HTML intake: choose who you are, report, get a receipt, check you have it right.

Works with JavaScript off. The server derives the reporter's keys and seals the report
in memory through the same `store` path as the JSON API, then forgets the receipt and
keys when the request ends.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto
from foundation.categories import CATEGORIES, CHANNEL_VALUES, CHANNELS
from foundation.errors import Conflict, NotFound, Unacceptable
from foundation.forms import small_form
from foundation.languages import LANGUAGES, N_
from foundation.tokens import open_token, purpose_key, seal_token

from . import followup, once, store
from .admission import REPORT
from .errors import AlreadySent, Busy, ClientGone
from .pages import (
    CHOOSE_AGAIN,
    TEXT_CHARS,
    TOO_LONG,
    TOO_MUCH_TO_SEAL,
    choose_language,
    in_session,
    page_language,
    receipt_problem,
    render,
    sealing_scripts,
    text_limit,
    today,
    too_long,
)
from .security import derive, retry_later
from .upload_budget import UploadsPaused
from .uploads import FILES_NOT_TAKEN, commit_uploads, forget_uploads, read_form

TEXT_FIELDS = ("facility", "location", "occurred", "subjects", "witnesses", "description")
#: The report form's questions in the order the page asks them (report.html): its summary
#: lists mistakes in this order, after any about the form as a whole.
PAGE_ORDER = ("category", "urgent", *TEXT_FIELDS, "identity", "attachments")
#: Attachments up to this total are sealed in the reporter's browser; larger ones go with
#: the form to the server (Chromium fails to hold a sealed file of 512 MiB; bench/browser.py).
BROWSER_SEALING_BYTES = 256 * 1024 * 1024


async def home(request: Request) -> Response:
    return render(request, "home.html", {"channels": CHANNELS})


def _channel(request: Request) -> str:
    channel: str = request.path_params["channel"]
    if channel not in CHANNELS:
        raise NotFound(N_("There is no such reporting form."))
    return channel


def _report_context(
    request: Request,
    channel: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    lost: tuple[str, ...] = (),
) -> dict[str, Any]:
    key = purpose_key(request.app.state.settings.secret.reveal(), "pending-attachments")
    rank = {field: place for place, field in enumerate(PAGE_ORDER)}
    return {
        "channel": channel,
        "channel_label": CHANNELS[channel],
        "channel_value": CHANNEL_VALUES[channel],
        "browser_limit": BROWSER_SEALING_BYTES,
        "scripts": sealing_scripts("report.js"),
        "categories": CATEGORIES,
        "values": values or {},
        "errors": dict(sorted((errors or {}).items(), key=lambda error: rank.get(error[0], -1))),
        "attachments": attachments or [],
        "pending": seal_token(key, attachments) if attachments else "",
        "max_upload_gib": request.app.state.settings.limits.submission_bytes / 1024**3,
        "once": once.issue(request),
        "text_chars": TEXT_CHARS,
        "too_long": TOO_LONG,
        "too_much_to_seal": TOO_MUCH_TO_SEAL,
        "error_params": {"limit": text_limit(request), "names": ", ".join(lost)},
    }


async def report_form(request: Request) -> Response:
    channel = _channel(request)
    return render(request, "report.html", _report_context(request, channel))


def _validate(fields: dict[str, str]) -> dict[str, str]:
    errors = {}
    if fields.get("category") not in CATEGORIES:
        errors["category"] = N_("Choose what the report is about.")
    if not fields.get("facility", "").strip():
        errors["facility"] = N_("Say which prison this is about.")
    if not fields.get("description", "").strip():
        errors["description"] = N_("Describe what happened, in your own words.")
    elif too_long(fields["description"]):
        errors["description"] = TOO_LONG
    if fields.get("urgent") not in ("yes", "no"):
        errors["urgent"] = N_("Say whether someone is in danger right now.")
    return errors


async def earlier_uploads(
    request: Request, token: object
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Attachments accepted with an earlier, incomplete try at this form and still on the
    portal, and the names of those the purge has deleted since (to be chosen again)."""
    key = purpose_key(request.app.state.settings.secret.reveal(), "pending-attachments")
    value = open_token(key, token)
    kept = value if isinstance(value, list) else []
    if not kept:
        return [], ()
    there = await in_session(request, store.unclaimed_among, [a["blob_id"] for a in kept])
    lost = tuple(str(a["name"]) for a in kept if a["blob_id"] not in there)
    return [a for a in kept if a["blob_id"] in there], lost


async def report_submit(request: Request) -> Response:
    channel = _channel(request)

    async def sent_before(fields: dict[str, str]) -> None:  # before its files are stored
        await once.refuse_if_sent(request, once.read(request, fields.get(once.FIELD)))

    try:
        form = await read_form(request, "report", before_files=sent_before)
    except AlreadySent:
        return once.already_sent_page(request, {"what": "report", "channel": channel})
    uploaded = await commit_uploads(request, form)
    earlier, lost = await earlier_uploads(request, form.fields.get("pending"))
    attachments = earlier + uploaded
    fields = {name: form.fields.get(name, "").strip() for name in (*TEXT_FIELDS, "category")}
    fields["urgent"] = form.fields.get("urgent", "")
    fields["identity"] = form.fields.get("identity", "").strip()
    errors = _validate(fields)
    if lost:
        errors["attachments"] = CHOOSE_AGAIN
    if form.refused:  # the upload budget took none of its files: nothing is sent yet
        errors["attachments"] = FILES_NOT_TAKEN["report"]
    if errors:
        names = (*form.refused, *lost)
        context = _report_context(request, channel, fields, errors, attachments, names)
        if not form.refused:
            return render(request, "report.html", context, status=422)
        response = render(request, "report.html", context, status=UploadsPaused.status)
        response.headers["Retry-After"] = str(UploadsPaused.retry_after)
        return response
    try:
        receipt, case_id = await file_report(
            request,
            channel,
            fields,
            attachments,
            lang=page_language(request),
            sent_from=form.fields.get(once.FIELD),
        )
    except AlreadySent:
        await forget_uploads(request, uploaded)
        return once.already_sent_page(request, {"what": "report", "channel": channel})
    except once.FormTooOld:
        context = _report_context(
            request, channel, fields, {"form": once.FORM_TOO_OLD}, attachments
        )
        return render(request, "report.html", context, status=422)
    except crypto.DocumentTooLarge:
        context = _report_context(request, channel, fields, {"form": TOO_MUCH_TO_SEAL}, attachments)
        return render(request, "report.html", context, status=422)
    except Unacceptable as exc:  # a kept file claimed or purged a moment ago
        context = _report_context(request, channel, fields, {"form": exc.message}, attachments)
        return render(request, "report.html", context, status=422)
    except Busy:  # not sent: the form comes back as it was, files kept, to send again
        context = {**_report_context(request, channel, fields, {}, attachments), "busy": True}
        return retry_later(render(request, "report.html", context, status=503))
    except ClientGone:  # nobody will send this form again: its new files can go now
        await forget_uploads(request, uploaded)
        raise
    return receipt_page(request, receipt, status=201, urgent=fields["urgent"] == "yes")


async def file_report(
    request: Request,
    channel: str,
    fields: dict[str, str],
    attachments: list[dict[str, Any]],
    lang: str = "en",
    sent_from: object = None,
) -> tuple[str, str]:
    """Derive keys from a new receipt, seal the report, store it; return (receipt, case).

    The derivation waits its turn as a report (`security.derive`): `Busy` if too many
    reports wait already, and nothing is kept.

    `sent_from` is the one-time value of the page the report came from (`once.FIELD`):
    a page sent before is refused with `AlreadySent` before any key derivation, or by
    the store when two arrive together; a page too old to send raises `FormTooOld`.
    """
    state = request.app.state
    settings = state.settings
    ticket = once.read(request, sent_from)
    await once.check(request, ticket)
    for _ in range(3):  # a lookup id clash is a 1-in-2^63 event; a fresh receipt settles it
        receipt = crypto.generate_receipt()
        keys = await derive(
            request,
            REPORT,
            crypto.derive_reporter_keys,
            receipt,
            settings.receipt_salt,
            settings.kdf,
        )
        document = {
            "v": 2,
            "type": "report",
            "channel": CHANNEL_VALUES[channel],
            "lang": lang,
            "category": fields["category"],
            **{name: fields[name] for name in TEXT_FIELDS},
            "urgent": fields["urgent"] == "yes",
            "identity": fields["identity"] or None,
            "attachments": attachments,
            "reply_box_pk": crypto.b64u_encode(bytes(keys.box_pk)),
            "reply_sign_pk": crypto.b64u_encode(bytes(keys.sign_pk)),
            "sent_on": today(request).isoformat(),
        }
        # A v2 report, signed with the receipt's key as the reporter's own client would.
        sealed, item = crypto.seal_item(document, settings.oversight_key, keys.sign, after=None)

        try:
            created = await in_session(
                request,
                store.create_case,
                sealed=sealed,
                lookup_id=keys.lookup_id,
                box_pk=bytes(keys.box_pk),
                sign_pk=bytes(keys.sign_pk),
                signed=store.SignedHeader(item.signed, item.signature),
                blob_ids=[a["blob_id"] for a in attachments],
                limits=settings.limits,
                today=today(request),
                sent_form=ticket.digest if ticket else None,
            )
        except Conflict:
            continue
        return receipt, created.case_id
    raise Conflict("Please send the report again.")  # pragma: no cover - never in practice


def _receipt_key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings.secret.reveal(), "receipt-check")


def receipt_page(
    request: Request,
    receipt: str,
    *,
    status: int = 200,
    check: dict[str, Any] | None = None,
    urgent: bool = False,
    kiosk: bool = False,
    lang: str | None = None,
) -> Response:
    context = {
        "urgent": urgent,
        "kiosk": kiosk,
        "lang": lang,
        "idle": 90,
        "receipt": crypto.format_receipt(receipt),
        "groups": crypto.format_receipt(receipt).split(),
        "token": seal_token(_receipt_key(request), receipt),
        "check": check,
    }
    return render(request, "receipt.html", context, status=status)


async def receipt_check(request: Request) -> Response:
    """The "type it back" check: is what the reporter wrote down what we issued?"""
    form = await small_form(request, "receipt-check")
    receipt = open_token(_receipt_key(request), form.get("token"))
    if not isinstance(receipt, str):
        raise Unacceptable(N_("This check has expired. Your report was sent; keep your receipt."))
    kiosk = form.get("kiosk") == "1"
    lang = form.get("lang") if kiosk else None
    lang = lang if lang in LANGUAGES else None
    again = N_("That is not the same code. Look at it again.")
    written = form.get("typed", "")  # shown back in the field, to compare with the receipt
    try:
        typed = crypto.validate_receipt(written)
    except crypto.InvalidReceipt as exc:
        problem = receipt_problem(exc)
        check = {"ok": False, "message": again, "params": {}, "typed": written}
        if not kiosk:
            check.update(message=problem["error"], params=problem["error_params"])
        return receipt_page(request, receipt, status=422, check=check, kiosk=kiosk, lang=lang)
    if typed != receipt:
        check = {"ok": False, "message": again, "typed": written}
        return receipt_page(request, receipt, status=422, check=check, kiosk=kiosk, lang=lang)
    return receipt_page(request, receipt, check={"ok": True}, kiosk=kiosk, lang=lang)


async def about(request: Request) -> Response:
    return render(request, "about.html")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/about", about, methods=["GET"]),
    Route("/language/{code}", choose_language, methods=["GET"]),
    Route("/report/{channel}", report_form, methods=["GET"]),
    Route("/report/{channel}", report_submit, methods=["POST"]),
    Route("/receipt/check", receipt_check, methods=["POST"]),
    *followup.routes,
]


def all_routes() -> list[Route]:
    """The HTML pages: staff and third-party forms, follow-up, and the kiosk."""
    from . import kiosk  # kiosk builds on this module's report path

    return [*routes, *kiosk.routes]
