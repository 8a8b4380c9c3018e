"""The prisoner kiosk: one short question per screen, big buttons, nothing left behind.

A wing kiosk is shared and watched. Answers travel from screen to screen only inside a
sealed token in the page (never stored on the portal), every page is a POST answer that
the browser cannot show again from Back, every page leaves for a neutral screen after 90
idle seconds, and "Exit now" on every screen clears the browser's cookies, cache and
storage for the site. The report itself goes through the same path as every other form.

With a code from before, the kiosk shows the status and the answers, and lets the
prisoner write back: a screen to write, one to check, then "Sent". These are the screens
without JavaScript; kiosk-follow-up.js does the same in the page, sealing and signing there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto
from foundation.categories import KIOSK_CATEGORIES, KIOSK_PLACES, KIOSK_STATUS, KIOSK_WHEN
from foundation.errors import Unacceptable
from foundation.forms import small_form
from foundation.languages import LANGUAGES, N_, RTL
from foundation.tokens import open_token, purpose_key, seal_token

from . import once, store, thread_view
from .admission import FOLLOW_UP
from .errors import AlreadySent, Busy
from .pages import kiosk_sealing_scripts, render, today, with_database
from .security import derive, retry_later
from .web import file_report, receipt_page

STEPS = ("category", "place", "when", "urgent", "describe", "check")
CHOICES: dict[str, dict[str, str]] = {
    "category": KIOSK_CATEGORIES,
    "place": KIOSK_PLACES,
    "when": KIOSK_WHEN,
    "urgent": {"yes": N_("Yes, someone could be hurt soon"), "no": N_("No, or I do not know")},
}
#: The picture beside each answer, for people who read little or no English: the name of
#: portal/static/icons/<name>.svg. Sexual misconduct and self-harm are drawn discreetly,
#: since someone standing behind may see the screen.
ICONS: dict[str, dict[str, str]] = {
    "category": {
        "staff_sexual_misconduct": "shield-person",
        "trafficking": "phone-pill",
        "corruption": "coins",
        "use_of_force": "plaster",
        "bullying": "big-and-small",
        "discrimination": "scales",
        "healthcare": "stethoscope",
        "self_harm_risk": "heart-on-hand",
        "retaliation": "speech-lock",
        "other": "more",
    },
    "place": {
        "wing": "cell-door",
        "healthcare": "stethoscope",
        "visits": "people-at-table",
        "work": "book-and-weights",
        "reception": "van",
        "elsewhere": "map-pin",
    },
    "when": {
        "now": "alarm-clock",
        "today": "sun",
        "week": "calendar-week",
        "earlier": "clock-back",
    },
    "urgent": {"yes": "warning", "no": "calm-face"},
}
QUESTIONS = {
    "category": N_("What is it about?"),
    "place": N_("Where did it happen?"),
    "when": N_("When did it happen?"),
    "urgent": N_("Is someone in danger now?"),
    "describe": N_("Tell us more, if you want to."),
    "check": N_("Is this right?"),
}
TOUCH_AN_ANSWER = N_("Please touch one of the answers.")
ANSWER_THIS_FIRST = N_("Please answer this first.")
NOT_FOUND = N_("No report was found for this code. Check every number.")
WRITE_SOMETHING = N_("Please write something first.")
TOO_LONG = N_("This is too long. Please make it shorter.")
SCREEN_TOO_OLD = N_("This screen was open too long. Please type your code again.")
GONE = N_("This report is no longer on the portal.")
#: Too many people are using the portal's key derivations just now (`portal.admission`).
REPORT_BUSY = N_(
    "Your report was NOT sent yet. Too many people are using this just now. "
    "Wait a minute, then touch Send again."
)
FOLLOW_UP_BUSY = N_(
    "Too many people are using this just now. Nothing is wrong with your code. "
    "Please try again in a minute."
)
#: The neutral screen's words, shown in every language at once (kiosk/neutral.html).
GREETING = {"welcome": N_("Welcome"), "start": N_("Touch here to start")}
IDLE_SECONDS = 90
#: The longest message a kiosk takes (the textarea's maxlength): minutes of typing on a
#: touch screen, and well inside a sealed token and the form limit below in any script.
MESSAGE_CHARACTERS = 10_000
WRITE_BACK_FORM_BYTES = 256 * 1024


def _key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings.secret.reveal(), "kiosk-answers")


def _kiosk(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, {"idle": IDLE_SECONDS, "kiosk": True, **context}, status)


def _language(value: object) -> str:
    return value if isinstance(value, str) and value in LANGUAGES else "en"


async def start(request: Request) -> Response:
    """The first screen: choose a language, each named in its own script."""
    return _kiosk(request, "kiosk/start.html", {"languages": LANGUAGES, "rtl": RTL})


async def report_in_browser(request: Request) -> Response:
    """Every question on one page, for a kiosk running JavaScript: the page keeps the
    answers and seals the report itself (kiosk-app.js); the portal sees only ciphertext."""
    lang = _language(request.query_params.get("lang"))
    context = {
        "lang": lang,
        "steps": STEPS,
        "questions": QUESTIONS,
        "choices": CHOICES,
        "icons": ICONS,
        "facility": request.app.state.settings.kiosk_facility,
        "listen_by_script": True,  # its Listen controls' <audio> made when touched
        **kiosk_sealing_scripts("kiosk-app.js"),
    }
    return _kiosk(request, "kiosk/app.html", context)


async def leave(request: Request) -> Response:
    """Quick exit and idle end: a neutral screen, and the browser told to forget the site.

    It says nothing of the person who left, not even their language: it greets the next
    person in every language the kiosk speaks."""
    context = {"neutral": True, "lang": "en", "rtl": RTL, "greeting": GREETING}
    response = _kiosk(request, "kiosk/neutral.html", context)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


def _step_page(
    request: Request, step: str, answers: dict[str, str], error: str = "", status: int = 422
) -> Response:
    if step == "check":  # the screen that sends can be sent once (portal/once.py)
        answers = {**answers, once.FIELD: once.issue(request)}
    context = {
        "step": step,
        "number": STEPS.index(step) + 1,
        "total": len(STEPS),
        "question": QUESTIONS[step],
        "choices": CHOICES.get(step, {}),
        "icons": ICONS,
        "answers": answers,
        "labels": {name: CHOICES[name].get(answers.get(name, ""), "") for name in CHOICES},
        "token": seal_token(_key(request), answers),
        "error": error,
        "lang": _language(answers.get("lang")),
    }
    return _kiosk(request, "kiosk/step.html", context, status=status if error else 200)


async def answer(request: Request) -> Response:
    """One answer in, the next question out (or the receipt, after "Send")."""
    form = await small_form(request, "kiosk", limit=64 * 1024)
    answers = open_token(_key(request), form.get("token")) or {}
    if not isinstance(answers, dict):
        answers = {}
    if "lang" in form:
        answers = {"lang": _language(form["lang"])}
        return _step_page(request, STEPS[0], answers)
    step = form.get("step", "")
    if step not in STEPS:
        return _step_page(request, STEPS[0], answers)
    index = STEPS.index(step)
    if form.get("go") == "back":
        return _step_page(request, STEPS[max(0, index - 1)], answers)
    if step in CHOICES:
        choice = form.get("answer", "")
        if choice not in CHOICES[step]:
            return _step_page(request, step, answers, TOUCH_AN_ANSWER)
        answers[step] = choice
    elif step == "describe":
        answers["describe"] = form.get("text", "").strip()[:20_000]
    else:  # check: send it
        missing = [name for name in CHOICES if name not in answers]
        if missing:
            return _step_page(request, missing[0], answers, ANSWER_THIS_FIRST)
        return await _send(request, answers)
    return _step_page(request, STEPS[index + 1], answers)


async def _send(request: Request, answers: dict[str, str]) -> Response:
    fields = {
        "category": answers["category"],
        "facility": request.app.state.settings.kiosk_facility,
        "location": KIOSK_PLACES[answers["place"]],
        "occurred": KIOSK_WHEN[answers["when"]],
        "subjects": "",
        "witnesses": "",
        "description": answers.get("describe", ""),
        "urgent": answers["urgent"],
        "identity": "",
    }
    lang = _language(answers.get("lang"))
    try:
        receipt, _ = await file_report(
            request, "kiosk", fields, [], lang=lang, sent_from=answers.get(once.FIELD)
        )
    except once.FormTooOld:
        return _step_page(request, "check", answers)
    except Busy:  # not sent: the same screen, to touch Send again in a minute
        return retry_later(_step_page(request, "check", answers, REPORT_BUSY, status=503))
    except AlreadySent:
        return _kiosk(request, "already_sent.html", {"what": "report", "lang": lang}, 409)
    urgent = answers["urgent"] == "yes"
    return receipt_page(request, receipt, status=201, urgent=urgent, kiosk=True, lang=lang)


def _follow_up_context(lang: str) -> dict[str, Any]:
    """The code form; with JavaScript, the page reads the answers itself (no code sent)."""
    return {
        "lang": lang,
        **kiosk_sealing_scripts("kiosk-follow-up.js"),
        "statuses": KIOSK_STATUS,
        "limit": MESSAGE_CHARACTERS,
    }


async def follow_up(request: Request) -> Response:
    """Replies and status for a receipt, shown once: no session, nothing kept."""
    if request.method == "GET":
        lang = _language(request.query_params.get("lang"))
        return _kiosk(request, "kiosk/follow_up.html", _follow_up_context(lang))
    form = await small_form(request, "kiosk-follow-up")
    lang = _language(form.get("lang"))
    if "receipt" not in form:  # "I have a code from before", from a screen without script
        return _kiosk(request, "kiosk/follow_up.html", _follow_up_context(lang))
    try:
        receipt = crypto.validate_receipt(form.get("receipt", ""))
    except crypto.InvalidReceipt as exc:
        error = N_("This code has a typing mistake. Check every number.")
        if exc.reason == "length":
            error = N_("A code has 20 numbers. Check that you typed all of them.")
        context = {**_follow_up_context(lang), "error": error}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)
    state = request.app.state
    try:
        keys = await derive(
            request,
            FOLLOW_UP,
            crypto.derive_reporter_keys,
            receipt,
            state.settings.receipt_salt,
            state.settings.kdf,
        )
    except Busy:
        context = {**_follow_up_context(lang), "error": FOLLOW_UP_BUSY}
        return retry_later(_kiosk(request, "kiosk/follow_up.html", context, 503))

    def load() -> dict[str, Any] | None:
        with state.sessions() as session:
            case = store.find_case(session, keys.lookup_id)
            if case is None:
                return None
            items = store.thread_items(session, case, store.utc_day(state.clock()))
        # Checked against the keys derived from the code, never the case's row (§19.4).
        checked = thread_view.check(
            state.settings,
            items,
            case_key=bytes(keys.box_pk),
            reporter_key=bytes(keys.sign_pk),
            box=keys.box,
        )
        return {
            "status": KIOSK_STATUS.get(checked.state, checked.state),
            "replies": [
                e for e in checked.entries if e.kind == "hidden" or (e.kind == "reply" and e.text)
            ],
            "warnings": checked.warnings,
            "hidden_warning": thread_view.HIDDEN,
            "keys_refused": checked.keys_refused,
            "filed_under_v1": checked.filed_under_v1,
        }

    found = await with_database(request, load)
    if found is None:
        await asyncio.sleep(state.throttle.failure(keys.lookup_id))
        context = {**_follow_up_context(lang), "error": NOT_FOUND}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)
    state.throttle.success(keys.lookup_id)
    # The write-back screens sign the message as the reporter (§19.3): the token carries
    # the signing seed, the case key (public) and, in a case filed under v1, the key
    # proof made now, but never the code, nor the box key that opens an answer.
    held: dict[str, Any] = {
        "l": crypto.b64u_encode(keys.lookup_id),
        "lang": lang,
        "text": "",
        "s": crypto.b64u_encode(bytes(keys.sign)),
        "k": crypto.b64u_encode(bytes(keys.box_pk)),
    }
    if found.pop("filed_under_v1"):
        proof = crypto.make_key_proof(
            keys.box, bytes(keys.sign_pk), bytes(state.settings.oversight_key)
        )
        held["p"] = crypto.b64u_encode(proof)
    context = {**found, "lang": lang, "token": _write_back_token(request, held)}
    return _kiosk(request, "kiosk/thread.html", context)


def _write_back_key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings.secret.reveal(), "kiosk-write-back")


def _write_back_token(request: Request, held: dict[str, Any]) -> str:
    """What the write-back screens carry: the case's lookup id, the reporter's signing
    seed and case key, and the key proof of a case filed under v1 (never the code, nor
    any key that opens an answer), the language, the words so far, and when it was made."""
    return seal_token(_write_back_key(request), {**held, "t": int(request.app.state.clock())})


def _held(request: Request, token: object) -> tuple[dict[str, Any] | None, str]:
    """The write-back token's contents and language; None if forged or too old (a screen
    left longer than a reporter's session may be idle, far past the kiosk's own idle end)."""
    value = open_token(_write_back_key(request), token)
    if not isinstance(value, dict):
        return None, "en"
    lang = _language(value.get("lang"))
    made, text = value.get("t"), value.get("text")
    if (
        not isinstance(made, int)
        or not isinstance(text, str)
        or not all(isinstance(value.get(name), str) for name in ("l", "s", "k"))
    ):
        return None, lang
    if request.app.state.clock() - made > request.app.state.settings.session_idle_seconds:
        return None, lang
    return {**value, "lang": lang}, lang


def _write_screen(request: Request, held: dict[str, Any], screen: str, error: str = "") -> Response:
    context = {
        "screen": screen,
        "lang": held["lang"],
        "text": held["text"],
        "error": error,
        "limit": MESSAGE_CHARACTERS,
        "token": _write_back_token(request, held) if screen != "sent" else "",
    }
    return _kiosk(request, "kiosk/write_back.html", context, 422 if error else 200)


async def write_back(request: Request) -> Response:
    """Writing back after reading the answers: write, check, send; one screen each."""
    form = await small_form(request, "kiosk-write-back", limit=WRITE_BACK_FORM_BYTES)
    held, lang = _held(request, form.get("token"))
    if held is None:
        context = {**_follow_up_context(lang), "error": SCREEN_TOO_OLD}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)
    step = form.get("step")
    if step == "write":
        held = {**held, "text": form.get("text", "").strip()}
        if not held["text"]:
            return _write_screen(request, held, "write", WRITE_SOMETHING)
        if len(held["text"]) > MESSAGE_CHARACTERS:
            return _write_screen(request, held, "write", TOO_LONG)
        # The screen that sends can be sent once: a reload of "Sent" is a 409 (once.py).
        return _write_screen(request, {**held, once.FIELD: once.issue(request)}, "check")
    if step == "check" and form.get("go") == "send":
        return await _send_message(request, held)
    return _write_screen(request, held, "write")  # "Write back", or Back from the check


async def _send_message(request: Request, held: dict[str, Any]) -> Response:
    """Seal the words to the oversight body and add them to the case, as /thread does."""
    state = request.app.state
    if not held["text"]:  # "Send" on a check screen of nothing: not from our pages
        return _write_screen(request, held, "write", WRITE_SOMETHING)
    lookup_id = crypto.b64u_decode(held["l"], length=32)  # the portal's own, sealed
    ticket = once.read(request, held.get(once.FIELD))
    try:
        await once.refuse_if_sent(request, ticket)
    except AlreadySent:
        return _kiosk(request, "already_sent.html", {"what": "message", "lang": held["lang"]}, 409)
    try:
        sign = crypto.SigningKey(crypto.b64u_decode(held["s"], length=32))
        box_pk = crypto.b64u_decode(held["k"], length=32)
        proof = crypto.b64u_decode(held["p"], length=32) if "p" in held else None
    except crypto.CryptoError:  # not reached: the token is the portal's own, sealed
        context = {**_follow_up_context(held["lang"]), "error": SCREEN_TOO_OLD}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)

    def add() -> bool:
        with state.sessions() as session:
            case = store.find_case(session, lookup_id)
            if case is None:
                return False
            thread_view.add_message(  # a v2 message, after the last item that verified
                session,
                state.settings,
                case,
                box_pk=box_pk,
                sign=sign,
                proof=proof,
                text=held["text"],
                attachments=[],
                today=today(request),
                sent_form=ticket.digest if ticket else None,
            )
            return True

    try:
        added = await with_database(request, add)
    except (Unacceptable, crypto.DocumentTooLarge):  # a document limit below this message
        return _write_screen(request, held, "write", TOO_LONG)
    except (thread_view.KeysRefused, store.ThreadMovedOn) as exc:
        # Not signed after an item that did not verify, nor sealed to keys refused.
        why = (
            thread_view.KEYS_REFUSED
            if isinstance(exc, thread_view.KeysRefused)
            else thread_view.TAMPERED
        )
        return _write_screen(request, held, "write", why)
    except AlreadySent:  # the same screen, sent twice at once
        return _kiosk(request, "already_sent.html", {"what": "message", "lang": held["lang"]}, 409)
    if not added:
        context = {**_follow_up_context(held["lang"]), "error": GONE}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)
    return _write_screen(request, held, "sent")


routes = [
    Route("/kiosk", start, methods=["GET"]),
    Route("/kiosk/exit", leave, methods=["GET"]),
    Route("/kiosk/report", report_in_browser, methods=["GET"]),
    Route("/kiosk/answer", answer, methods=["POST"]),
    Route("/kiosk/follow-up", follow_up, methods=["GET", "POST"]),
    Route("/kiosk/write-back", write_back, methods=["POST"]),
]
