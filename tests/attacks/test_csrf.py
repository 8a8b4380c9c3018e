"""CSRF on every form of the portal and the console: a POST without a token, with a token
minted for another form, with one from another browser session, or from a page that
has no cookies at all (what SameSite=Strict leaves a cross-site attacker) is a 403 that
changes nothing. Every cookie either app sets is HttpOnly and SameSite=Strict."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from tests.portal.forms import csrf_token, open_thread
from tests.triage.conftest import token
from tests.triage.officer_pages import fresh_code
from triage import notices
from triage.notices import COOKIE as NOTICE_COOKIE

from .conftest import Desk
from .forms import (
    CONSOLE_FORMS,
    PORTAL_API,
    PORTAL_FORMS,
    Form,
    console_rows,
    form_actions,
    mint,
    portal_rows,
    post_routes,
    send,
)


def test_every_post_route_is_attacked(desk: Desk) -> None:
    """The lists the attack suites walk are the apps' own route tables, complete."""
    site = desk.site
    assert post_routes(site.portal.app.routes) == {f.path for f in PORTAL_FORMS} | PORTAL_API
    assert post_routes(site.app.routes) == {f.path for f in CONSOLE_FORMS}
    page = desk.triage.get(f"/cases/{desk.case}").text
    prefix = f"/cases/{desk.case}/"
    on_case_page = {a.removeprefix(prefix) for a in form_actions(page) if a.startswith(prefix)}
    # "ask" is offered until a custodian approves: tess's request was approved.
    assert on_case_page | {"ask"} == {f.action for f in CONSOLE_FORMS if f.action} | {"referral"}
    admin_pages = desk.admin.get("/units").text + desk.admin.get("/officers").text
    assert form_actions(admin_pages) <= {f.path for f in CONSOLE_FORMS}
    for path in ("/", "/follow-up", "/report/staff", "/kiosk"):
        assert form_actions(site.portal.client().get(path).text) <= {
            f.target.replace("{channel}", "staff") for f in PORTAL_FORMS
        }


def _portal_target(form: Form) -> str:
    return form.target.replace("{channel}", "staff")


def _console_target(form: Form, desk: Desk) -> str:
    return form.target.replace("{case}", desk.case)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


VARIANTS = ("missing", "other purpose", "other session", "no cookies")


def _attempts(
    form: Form, client: httpx.Client, fresh: Callable[[], httpx.Client], app: object
) -> list[tuple[str, httpx.Client, list[tuple[str, bytes]]]]:
    """(variant, client to send with, fields) for each way of getting CSRF wrong."""
    assert form.purpose is not None
    fields = [(name, value.encode()) for name, value in form.valid.items()]
    other_purpose = "leave" if form.purpose != "leave" else "follow-up"
    stranger = fresh()
    return [
        ("missing", client, fields),
        ("other purpose", client, [("csrf", mint(app, client, other_purpose).encode()), *fields]),
        ("other session", client, [("csrf", mint(app, stranger, form.purpose).encode()), *fields]),
        (
            "no cookies",
            httpx.Client(base_url=str(client.base_url), timeout=30),
            [("csrf", mint(app, stranger, form.purpose).encode()), *fields],
        ),
    ]


def test_portal_forms_refuse_a_missing_foreign_or_cross_site_token(desk: Desk) -> None:
    portal = desk.site.portal
    reporter = portal.client()
    assert open_thread(reporter, desk.receipt).status_code == 303

    def fresh() -> httpx.Client:
        client = portal.client()
        client.get("/follow-up")  # a page with a form: it sets the CSRF cookie
        return client

    for form in PORTAL_FORMS:
        client = reporter if form.who == "reporter" else fresh()
        before = portal_rows(portal), _files(portal.settings.data_dir)
        for variant, sender, fields in _attempts(form, client, fresh, portal.app):
            answer = send(sender, _portal_target(form), form.encoding, fields)
            assert answer.status_code == 403, (form.name, variant, answer.status_code)
            sender is client or sender.close()
        after = portal_rows(portal), _files(portal.settings.data_dir)
        assert after == before, form.name
    assert reporter.get("/thread").status_code == 200  # "Leave" without a token left nothing


def test_console_forms_refuse_a_missing_foreign_or_cross_site_token(desk: Desk) -> None:
    site = desk.site

    def fresh() -> httpx.Client:
        client = site.client()
        client.get("/login")
        return client

    clients = {"triage": desk.triage, "admin": desk.admin, "custodian": desk.custodian}
    for form in CONSOLE_FORMS:
        client = clients.get(form.who) or fresh()
        before = console_rows(site.console, audit=False)
        logged = len(site.console.audit_entries())
        files = _files(site.console.settings.data_dir)
        for variant, sender, fields in _attempts(form, client, fresh, site.app):
            answer = send(sender, _console_target(form, desk), form.encoding, fields)
            if form.path == "/unseal":  # unsealed: the form is not even read
                assert answer.status_code == 303, variant
                assert answer.headers["location"] == "/login"
            elif answer.status_code == 303:  # no session cookie either: sent to sign in
                assert variant == "no cookies", form.name
                assert form.who != "anyone", form.name
                assert answer.headers["location"] == "/login"
            else:
                assert answer.status_code == 403, (form.name, variant, answer.status_code)
            sender is client or sender.close()
        after = console_rows(site.console, audit=False)
        assert after == before, form.name
        refused = {e["action"] for e in site.console.audit_entries()[logged:]}
        assert refused <= {"denied", "unseal refused: already unsealed"}, form.name
        assert _files(site.console.settings.data_dir) == files, form.name
    assert desk.triage.get("/cases").status_code == 200  # "Sign out" without a token did not


def _set_cookies(response: httpx.Response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]


def _check(header: str) -> None:
    cookie = SimpleCookie()
    cookie.load(header)
    [(name, morsel)] = cookie.items()
    assert morsel["httponly"], header
    assert str(morsel["samesite"]).lower() == "strict", header
    if name == NOTICE_COOKIE:  # sent only to the one page that shows the notice
        assert morsel["path"].startswith("/"), header
        assert int(morsel["max-age"]) <= notices.SECONDS, header  # and 0 once it is shown
    else:
        assert morsel["path"] == "/", header


@pytest.mark.parametrize("app", ["portal", "console"])
def test_every_cookie_is_http_only_and_same_site_strict(desk: Desk, app: str) -> None:
    seen: list[str] = []
    if app == "portal":
        client = desk.site.portal.client(event_hooks={"response": [lambda r: seen.extend(
            _set_cookies(r))]})  # fmt: skip
        for path in ("/", "/report/staff", "/follow-up", "/kiosk", "/language/pl?next=/"):
            client.get(path)
        open_thread(client, desk.receipt)
        client.get("/thread")
        client.post("/leave", data={"csrf": csrf_token(client, "/thread", "/leave")})
        client.get("/kiosk/exit")
        names = {"lanthorn_csrf", "lanthorn_session", "lanthorn_lang"}
    else:
        client = desk.site.client()
        client.event_hooks["response"] = [lambda r: seen.extend(_set_cookies(r))]
        login = client.get("/login").text
        code = fresh_code(desk.secrets["tess"])
        fields = {"username": "tess", "password": "correct horse battery", "code": code}
        assert client.post("/login", data={"csrf": token(login), **fields}).status_code == 303
        cases = client.get("/cases").text
        client.post("/logout", data={"csrf": token(cases, "/logout")})
        names = {"lanthorn_csrf", "lanthorn_console"}
    assert seen
    for header in seen:
        _check(header)
    assert {SimpleCookie(h).popitem()[0] for h in seen} >= names
