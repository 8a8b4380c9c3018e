"""The Notifications page: an officer's own email address, OpenPGP key and choice of what
to be told (triage/notify.py). Each officer sets their own and nobody else's: the page
acts on the signed-in officer, whatever the form says. Triage officers and investigators
have one (the others read no case)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.forms import small_form

from . import notify, notify_choices, openpgp
from .console import Console
from .notices import Notice
from .pages import officer, perform, render
from .settings import ConsoleError

ROLES = notify_choices.DEADLINE_ROLES
#: The form carries an armored public key (openpgp.MAX_KEY_CHARS), URL-encoded.
FORM_BYTES = 56 * 1024


async def notifications_page(
    request: Request, *, error: str = "", kept: dict[str, str] | None = None, status: int = 200
) -> Response:
    console, me = await officer(request, *ROLES)
    chosen = await run_in_threadpool(notify_choices.choices, console, me.username)
    waiting = await run_in_threadpool(notify_choices.waiting, console, me.username)
    mail = request.app.state.settings.mail
    return render(
        request,
        "notifications.html",
        {
            "chosen": chosen,
            "waiting": waiting,
            "relay": mail.host if mail.enabled else "",
            "encrypts": openpgp.gpg_found(),
            "offers_new": me.role in notify_choices.NEW_REPORT_ROLES,
            "typed": kept,
            **({"notice": Notice(error, error=True)} if error else {}),
        },
        status=status,
    )


async def notifications_submit(request: Request) -> Response:
    """Save the choices, send a test message, or stop: `action` says which."""
    console, me = await officer(request, *ROLES)
    form = await small_form(request, "notifications", FORM_BYTES)
    action = form.get("action", "")

    async def work(acting: Console) -> str:
        if action == "save":
            chosen = await run_in_threadpool(
                lambda: notify_choices.choose(
                    acting,
                    me.username,
                    address=form.get("address", ""),
                    key=form.get("key", ""),
                    new_reports=form.get("new_reports") == "yes",
                    urgent_reports=form.get("urgent_reports") == "yes",
                    deadlines=form.get("deadlines") == "yes",
                )
            )
            how = (
                f"encrypted to the key ending {chosen.key.fingerprint[-16:]}"
                if chosen.key
                else "unencrypted: anyone who handles your mail can read the counts"
            )
            return f"Saved. Notifications go to {chosen.address}, {how}."
        if action == "test":
            await run_in_threadpool(notify_choices.queue_test, acting, me.username)
            return (
                f"A test message is queued: it leaves within {notify.EVERY} seconds. "
                "If it does not come, this page says why."
            )
        if action == "stop":
            if not await run_in_threadpool(notify_choices.stop, acting, me.username):
                raise ConsoleError("you have no notifications to stop")
            return "Stopped: the console has forgotten your address and sends you nothing."
        raise ConsoleError("that is not something this page can do")

    async def refused(text: str, status: int) -> Response:
        return await notifications_page(request, error=text, kept=form, status=status)

    return await perform(request, console, form, "notifications", "/notifications", work, refused)


routes = [
    Route("/notifications", notifications_page, methods=["GET"]),
    Route("/notifications", notifications_submit, methods=["POST"]),
]
