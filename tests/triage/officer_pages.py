"""An officer enrolling and signing in through the console's pages, as a person does:
shared by the tests and the console benchmark (bench/_console_server.py)."""

from __future__ import annotations

import html
import re
import threading
import time

import httpx
import pyotp

PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway test officer's
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_HIDDEN = re.compile(r'name="enrolment" value="([^"]+)"')
_HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([a-z0-9_]+)" value="([^"]*)"')
_SECRET = re.compile(r"Key: <code>([A-Z2-7]+)</code>")


_USED: dict[str, int] = {}
_USED_LOCK = threading.Lock()


def fresh_code(secret: str) -> str:
    """A TOTP code for signing in, of a time step these helpers have not used yet for
    `secret`: a code signs in once (triage/signin_codes.py), and the console accepts the step
    before now and the one after (clock drift), so three sign-ins within 30 seconds take
    the last step's code, then now's, then the next one's; past that, this waits for the
    next step (a wait, never an assertion). The last step's code is used only while the
    current step has 10 s to run, so that it is still accepted when it arrives."""
    totp = pyotp.TOTP(secret)
    while True:
        with _USED_LOCK:
            clock = time.time()
            now = int(clock) // totp.interval
            earliest = now - 1 if totp.interval - clock % totp.interval > 10 else now
            step = max(earliest, _USED.get(secret, earliest - 1) + 1)
            if step <= now + 1:
                _USED[secret] = step
                return str(totp.generate_otp(step))
        time.sleep(totp.interval - time.time() % totp.interval + 0.05)


class PagesRefused(RuntimeError):
    """A page did not answer as an officer's next step expects."""


def token(page: str, action: str | None = None) -> str:
    """The CSRF token of the page's form (the one posting to `action`, if given)."""
    if action is not None:
        page = page[page.index(f'action="{action}"') :]
    match = _CSRF.search(page)
    if match is None:
        raise PagesRefused("the page has no form with a CSRF token")
    return html.unescape(match.group(1))


def action_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form posting to `action`: its CSRF token and its
    one-time value (every action form carries one: triage/once.py)."""
    form = page[page.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    found = dict(_HIDDEN_FIELD.findall(form))
    if "once" not in found:
        raise PagesRefused(f"the form posting to {action} has no one-time value")
    return {name: html.unescape(value) for name, value in found.items()}


def enrol_through_pages(client: httpx.Client, username: str, setup_code: str) -> str:
    """Enrol with the one-time setup code (/enrol, the QR page, then the first TOTP
    code) and choose `PASSWORD`; returns the officer's TOTP secret."""
    form = client.get("/enrol").text
    qr = client.post(
        "/enrol", data={"csrf": token(form), "username": username, "setup": setup_code}
    )
    secret, hidden = _SECRET.search(qr.text), _HIDDEN.search(qr.text)
    if qr.status_code != 200 or secret is None or hidden is None or "<svg" not in qr.text:
        raise PagesRefused(f"enrolment of {username}: HTTP {qr.status_code}\n{qr.text}")
    done = client.post(
        "/enrol",
        data={
            "csrf": token(qr.text),
            "enrolment": html.unescape(hidden.group(1)),
            "password": PASSWORD,
            "code": pyotp.TOTP(secret.group(1)).now(),
        },
        follow_redirects=True,  # to the sign-in page, which says so
    )
    if "You are enrolled" not in done.text:
        raise PagesRefused(f"enrolment of {username}: HTTP {done.status_code}\n{done.text}")
    return secret.group(1)


def sign_in(client: httpx.Client, username: str, secret: str) -> httpx.Client:
    """Sign an enrolled officer in through /login; returns the same client."""
    login = client.get("/login").text
    signed_in = client.post(
        "/login",
        data={
            "csrf": token(login),
            "username": username,
            "password": PASSWORD,
            "code": fresh_code(secret),
        },
    )
    if signed_in.status_code != 303:
        raise PagesRefused(f"{username} could not sign in: HTTP {signed_in.status_code}")
    return client
