"""The prisoner kiosk: one short question per screen, big buttons, nothing left behind.

A wing kiosk is shared and watched. Answers travel from screen to screen only inside a
sealed token in the page (never stored on the portal), every page is a POST answer that
the browser cannot show again from Back, every page leaves for a neutral screen after 90
idle seconds, and "Exit now" on every screen clears the browser's cookies, cache and
storage for the site. The report itself goes through the same path as every other form.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto

from . import store
from .categories import KIOSK_CATEGORIES, KIOSK_PLACES, KIOSK_STATUS, KIOSK_WHEN
from .i18n import LANGUAGES, N_, RTL
from .pages import render, sealing_scripts, small_form, with_database
from .tokens import open_token, purpose_key, seal_token
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
#: The neutral screen's words, shown in every language at once (kiosk/neutral.html).
GREETING = {"welcome": N_("Welcome"), "start": N_("Touch here to start")}
IDLE_SECONDS = 90


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
        "scripts": sealing_scripts("kiosk-app.js"),
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


def _step_page(request: Request, step: str, answers: dict[str, str], error: str = "") -> Response:
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
    return _kiosk(request, "kiosk/step.html", context, status=422 if error else 200)


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
    receipt, _ = await file_report(request, "kiosk", fields, [], lang=answers.get("lang", "en"))
    urgent = answers["urgent"] == "yes"
    lang = _language(answers.get("lang"))
    return receipt_page(request, receipt, status=201, urgent=urgent, kiosk=True, lang=lang)


def _follow_up_context(lang: str) -> dict[str, Any]:
    """The code form; with JavaScript, the page reads the answers itself (no code sent)."""
    return {
        "lang": lang,
        "scripts": sealing_scripts("kiosk-follow-up.js"),
        "statuses": KIOSK_STATUS,
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
    keys = await state.kdf_gate.run(
        crypto.derive_reporter_keys, receipt, state.settings.receipt_salt, state.settings.kdf
    )

    def load() -> dict[str, Any] | None:
        with state.sessions() as session:
            case = store.find_case(session, keys.lookup_id)
            if case is None:
                return None
            items = store.thread_items(session, case, store.utc_day(state.clock()))
            replies = []
            for item in items:
                if item.kind == "reply" and item.sealed is not None:
                    try:
                        doc = crypto.open_document(item.sealed, keys.box, expect="reply")
                    except crypto.CryptoError:
                        continue
                    replies.append({"on": item.on, "text": doc["text"]})
            return {"status": KIOSK_STATUS.get(case.status, case.status), "replies": replies}

    found = await with_database(request, load)
    if found is None:
        await asyncio.sleep(state.throttle.failure(keys.lookup_id))
        context = {**_follow_up_context(lang), "error": NOT_FOUND}
        return _kiosk(request, "kiosk/follow_up.html", context, 422)
    state.throttle.success(keys.lookup_id)
    return _kiosk(request, "kiosk/thread.html", {**found, "lang": lang})


routes = [
    Route("/kiosk", start, methods=["GET"]),
    Route("/kiosk/exit", leave, methods=["GET"]),
    Route("/kiosk/report", report_in_browser, methods=["GET"]),
    Route("/kiosk/answer", answer, methods=["POST"]),
    Route("/kiosk/follow-up", follow_up, methods=["GET", "POST"]),
]
