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

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import crypto

from . import store
from .categories import KIOSK_CATEGORIES, KIOSK_PLACES, KIOSK_WHEN, STATUS_TEXT
from .pages import render, small_form
from .tokens import open_token, purpose_key, seal_token
from .web import file_report, receipt_page

STEPS = ("category", "place", "when", "urgent", "describe", "check")
CHOICES: dict[str, dict[str, str]] = {
    "category": KIOSK_CATEGORIES,
    "place": KIOSK_PLACES,
    "when": KIOSK_WHEN,
    "urgent": {"yes": "Yes, someone could be hurt soon", "no": "No, or I do not know"},
}
QUESTIONS = {
    "category": "What is it about?",
    "place": "Where did it happen?",
    "when": "When did it happen?",
    "urgent": "Is someone in danger now?",
    "describe": "Tell us more, if you want to.",
    "check": "Is this right?",
}
LANGUAGES = {"en": "English"}  # more arrive with the translations (issue 5)
IDLE_SECONDS = 90


def _key(request: Request) -> bytes:
    return purpose_key(request.app.state.settings.secret.reveal(), "kiosk-answers")


def _kiosk(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, {"idle": IDLE_SECONDS, "kiosk": True, **context}, status)


async def start(request: Request) -> Response:
    """The first screen: choose a language, each named in its own script."""
    return _kiosk(request, "kiosk/start.html", {"languages": LANGUAGES})


async def leave(request: Request) -> Response:
    """Quick exit and idle end: a neutral screen, and the browser told to forget the site."""
    response = _kiosk(request, "kiosk/neutral.html", {})
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


def _step_page(request: Request, step: str, answers: dict[str, str], error: str = "") -> Response:
    context = {
        "step": step,
        "number": STEPS.index(step) + 1,
        "total": len(STEPS),
        "question": QUESTIONS[step],
        "choices": CHOICES.get(step, {}),
        "answers": answers,
        "labels": {name: CHOICES[name].get(answers.get(name, ""), "") for name in CHOICES},
        "token": seal_token(_key(request), answers),
        "error": error,
    }
    return _kiosk(request, "kiosk/step.html", context, status=422 if error else 200)


async def answer(request: Request) -> Response:
    """One answer in, the next question out (or the receipt, after "Send")."""
    form = await small_form(request, limit=64 * 1024)
    request.app.state.csrf.check(request, "kiosk", form.get("csrf"))
    answers = open_token(_key(request), form.get("token")) or {}
    if not isinstance(answers, dict):
        answers = {}
    if "lang" in form:
        answers = {"lang": form["lang"] if form["lang"] in LANGUAGES else "en"}
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
            return _step_page(request, step, answers, "Please touch one of the answers.")
        answers[step] = choice
    elif step == "describe":
        answers["describe"] = form.get("text", "").strip()[:20_000]
    else:  # check: send it
        missing = [name for name in CHOICES if name not in answers]
        if missing:
            return _step_page(request, missing[0], answers, "Please answer this first.")
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
    return receipt_page(request, receipt, status=201, urgent=answers["urgent"] == "yes", kiosk=True)


async def follow_up(request: Request) -> Response:
    """Replies and status for a receipt, shown once: no session, nothing kept."""
    if request.method == "GET":
        return _kiosk(request, "kiosk/follow_up.html", {})
    form = await small_form(request)
    request.app.state.csrf.check(request, "kiosk-follow-up", form.get("csrf"))
    try:
        receipt = crypto.validate_receipt(form.get("receipt", ""))
    except crypto.InvalidReceipt as exc:
        return _kiosk(request, "kiosk/follow_up.html", {"error": str(exc)}, 422)
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
            return {"status": STATUS_TEXT.get(case.status, case.status), "replies": replies}

    found = await run_in_threadpool(load)
    if found is None:
        await asyncio.sleep(state.throttle.failure(keys.lookup_id))
        return _kiosk(
            request,
            "kiosk/follow_up.html",
            {"error": "No report was found for this code. Check every digit."},
            422,
        )
    state.throttle.success(keys.lookup_id)
    return _kiosk(request, "kiosk/thread.html", found)


routes = [
    Route("/kiosk", start, methods=["GET"]),
    Route("/kiosk/exit", leave, methods=["GET"]),
    Route("/kiosk/answer", answer, methods=["POST"]),
    Route("/kiosk/follow-up", follow_up, methods=["GET", "POST"]),
]
