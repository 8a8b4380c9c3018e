"""Reloading, resending or double-clicking a console form does the action once.

Every action answers with a redirect to a page (POST/redirect/GET), so reloading that
page asks for nothing again; and every action form carries a one-time value, so a
browser that sends the same form again (its "resend" button, a double click, a copy of
the tab) is told "This was already done." and nothing happens a second time."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pyotp
from sqlalchemy import select

from foundation.serving import UVICORN_OPTIONS
from tests.portal.conftest import Portal
from tests.portal.forms import open_thread, receipt_of, submit_report
from tests.serving import serving
from triage.app import create_app
from triage.console import Console
from triage.db import AuditRow, Base, Outgoing
from triage.officers import add_officer

from .conftest import CHEAP, PASSPHRASES, Site, case_ids, enrol, grant_identity, token
from .officer_pages import PASSWORD
from .page_forms import NOT_ACTIONS, PostForm, action_forms, post_forms

ALREADY_DONE = "This was already done."
#: Tables whose rows change on every request (a session's expiry), or that record only
#: that a form was used.
NOT_COMPARED = {"officer_sessions", "spent_forms"}
#: Field values an officer would type, where any words would not do.
TYPED = {
    "username": lambda n: f"officer{n}",
    "unit": lambda n: f"unit_{n}",  # the new unit's id (a text box only on the Add form)
    "passages": lambda n: "",  # passages to redact must appear in the case: none
}


def snapshot(console: Console) -> dict[str, list[str]]:
    """Every row of every console table that an action could change."""
    with console.sessions() as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
            for table in Base.metadata.sorted_tables
            if table.name not in NOT_COMPARED
        }


def spent(console: Console) -> int:
    with console.sessions() as session:
        table = Base.metadata.tables["spent_forms"]
        return len(session.execute(select(table)).all())


def test_reloading_after_send_reply_does_not_send_it_again(site: Site) -> None:
    reporter = site.portal.client()
    receipt = receipt_of(submit_report(reporter))
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{case_id}").text
    [form] = [f for f in post_forms(page) if f.action == f"/cases/{case_id}/reply"]
    body = {**form.filled(1, {}), "text": "We have read your report."}

    sent = triage.post(form.action, data=body)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/cases/{case_id}"  # no words in the address
    shown = triage.get(sent.headers["location"]).text
    assert "Reply saved and sent to the portal." in shown
    reloaded = triage.get(f"/cases/{case_id}").text  # F5 on the page the redirect led to
    assert "Reply saved" not in reloaded  # the notice was shown once

    again = triage.post(form.action, data=body)  # the browser's "resend"
    assert again.status_code == 303
    assert ALREADY_DONE in triage.get(again.headers["location"]).text
    with site.console.sessions() as session:
        queued = session.scalars(select(Outgoing).where(Outgoing.kind == "reply")).all()
    assert len(queued) == 1
    replies = [e for e in site.console.audit_entries() if e["action"] == "reply"]
    assert len(replies) == 1
    open_thread(reporter, receipt)
    assert reporter.get("/thread").text.count("We have read your report.") == 1


def test_a_form_sent_again_with_other_words_does_nothing_but_keeps_them(site: Site) -> None:
    """A page kept open after its form was sent, edited and sent again: that is not a
    resend, but the form's value is spent, so nothing is done and the words are shown
    back, in a fresh form, to be sent on purpose."""
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{case_id}").text
    [form] = [f for f in post_forms(page) if f.action == f"/cases/{case_id}/reply"]
    body = {**form.filled(1, {}), "text": "We have read your report."}
    assert triage.post(form.action, data=body).status_code == 303
    edited = triage.post(form.action, data={**body, "text": "And one more thing."})
    assert edited.status_code == 409
    assert "had already been sent, with other words" in edited.text
    assert ">And one more thing.</textarea>" in edited.text
    [fresh] = [f for f in post_forms(edited.text) if f.action == form.action]
    assert fresh.hidden["once"] != form.hidden["once"]
    assert len([e for e in site.console.audit_entries() if e["action"] == "reply"]) == 1
    sent = triage.post(form.action, data=fresh.filled(2, {}))  # sent on purpose: done
    assert sent.status_code == 303
    assert len([e for e in site.console.audit_entries() if e["action"] == "reply"]) == 2


def test_reveal_shows_the_identity_on_the_page_it_leads_to_once(site: Site) -> None:
    submit_report(site.portal.client(), identity="Dana Whitlock, C wing")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    grant_identity(site, "tess", case_id)  # a custodian approved (test_custody.py)
    page = triage.get(f"/cases/{case_id}").text
    assert "Dana Whitlock" not in page
    [form] = [f for f in post_forms(page) if f.action == f"/cases/{case_id}/reveal"]
    revealed = triage.post(form.action, data=form.filled(1, {}))
    assert revealed.status_code == 303
    assert "Dana Whitlock, C wing" in triage.get(revealed.headers["location"]).text
    assert "Dana Whitlock" not in triage.get(f"/cases/{case_id}").text  # reloaded: withheld
    again = triage.post(form.action, data=form.filled(1, {}))
    shown = triage.get(again.headers["location"]).text
    assert ALREADY_DONE in shown
    assert "Dana Whitlock" not in shown
    looked = [e for e in site.console.audit_entries() if e["action"] == "reveal identity"]
    assert [(e["who"], e["case"]) for e in looked] == [("officer:tess", case_id)]


def _post_twice(
    console: Console, client: httpx.Client, form: PostForm, n: int
) -> tuple[str, httpx.Response]:
    """Send the form, then the very same body again; returns what the first did."""
    body = form.filled(n, TYPED)
    before, spent_before = snapshot(console), spent(console)
    first = client.post(form.action, data=body)
    after, spent_after = snapshot(console), spent(console)
    second = client.post(form.action, data=body)
    assert snapshot(console) == after, f"{form.action} {body}: the second post acted again"
    assert spent(console) == spent_after
    if first.status_code == 422:  # refused, with the reason: nothing was done either time
        assert after == before, form.action
        assert spent_after == spent_before, form.action
        assert second.status_code == 422
        return "refused", first
    download = first.headers.get("content-disposition", "").startswith("attachment")
    assert first.status_code == 303 or (first.status_code == 200 and download), (
        f"{form.action} {body}: HTTP {first.status_code}\n{first.text}"
    )
    if not download:
        assert "?" not in first.headers["location"]  # the notice is not in the address
    assert spent_after == spent_before + 1, form.action
    assert second.status_code == 303
    assert ALREADY_DONE in client.get(second.headers["location"]).text, form.action
    return "done", first


def _every_form(
    console: Console, client: httpx.Client, path: str, done: dict[Any, str], counter: list[int]
) -> None:
    """Post each action form on `path` twice, fetching the page afresh each time, until
    none is left untried (forms that appear after an action, like Restore, included)."""
    while True:
        page = client.get(path)
        assert page.status_code == 200, path
        waiting = [f for f in action_forms(page.text) if f.key() not in done]
        if not waiting:
            return
        form = waiting[0]
        counter[0] += 1
        outcome, _ = _post_twice(console, client, form, counter[0])
        done[form.key()] = outcome
        done.setdefault(("kind", form.kind()), "refused")
        if outcome == "done":
            done[("kind", form.kind())] = "done"


def test_every_action_form_sent_twice_acts_once(site: Site) -> None:
    submit_report(site.portal.client(), identity="Dana Whitlock, C wing")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    grant_identity(site, "tess", case_id)  # so that the page offers Reveal
    add_officer(site.console, "olive", "auditor", None)  # someone to deactivate
    done: dict[Any, str] = {}
    counter = [0]
    for path in (f"/cases/{case_id}", "/cases", "/dashboard", "/statistics"):
        _every_form(site.console, triage, path, done, counter)
    admin, _ = enrol(site, "ada", "admin")
    for path in ("/officers", "/units", "/audit"):
        _every_form(site.console, admin, path, done, counter)

    kinds = {key[1]: outcome for key, outcome in done.items() if key[0] == "kind"}
    never_done = sorted(str(kind) for kind, outcome in kinds.items() if outcome != "done")
    assert not never_done, f"these forms were refused every time: {never_done}"
    tried = {kind[0] for kind in kinds}
    for action in ("reply", "close", "record", "reveal", "referral", "route", "concern"):
        assert f"/cases/ID/{action}" in tried
    assert {"/sync", "/officers", "/units", "/units/routing"} <= tried


def test_signing_in_and_out_and_enrolling_survive_being_sent_twice(site: Site) -> None:
    code = add_officer(site.console, "tess", "triage", None)
    client = site.client()
    page = client.get("/enrol").text
    first = {"csrf": token(page), "username": "tess", "setup": code}
    qr = client.post("/enrol", data=first)
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", qr.text).group(1)  # type: ignore[union-attr]
    hidden = re.search(r'name="enrolment" value="([^"]+)"', qr.text).group(1)  # type: ignore[union-attr]
    finish = {
        "csrf": token(qr.text),
        "enrolment": html.unescape(hidden),
        "password": PASSWORD,
        "code": pyotp.TOTP(secret).now(),
    }
    enrolled = client.post("/enrol", data=finish)
    assert enrolled.status_code == 303
    assert "You are enrolled" in client.get(enrolled.headers["location"]).text
    again = client.post("/enrol", data=finish)  # resent: no error about the enrolment
    assert again.status_code == 303
    assert "already enrolled" in client.get(again.headers["location"]).text

    login = client.get("/login").text
    body = {
        "csrf": token(login),
        "username": "tess",
        "password": PASSWORD,
        "code": pyotp.TOTP(secret).now(),
    }
    for _ in range(2):
        signed_in = client.post("/login", data=body)
        assert signed_in.headers["location"] == "/cases"
    assert not [e for e in site.console.audit_entries() if e["action"] == "login failed"]
    page = client.get("/cases").text
    for _ in range(2):
        out = client.post("/logout", data={"csrf": token(page, "/logout")})
        assert out.headers["location"] == "/login"
    assert client.get("/cases").headers["location"] == "/login"


def test_unsealing_twice_unseals_once(pair: tuple[Portal, Console]) -> None:
    _, console = pair
    app = create_app(console.settings, hasher=CHEAP)
    with serving(app, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
        page = client.get("/unseal").text
        body = {
            "csrf": token(page),
            "passphrase0": PASSPHRASES[0],
            "passphrase1": PASSPHRASES[1],
        }
        for _ in range(2):
            assert client.post("/unseal", data=body).headers["location"] == "/login"
    unsealed = app.state.console
    assert unsealed is not None
    with unsealed.sessions() as session:
        entries = [row.entry for row in session.scalars(select(AuditRow))]
    assert sum('"action":"unseal"' in entry for entry in entries) == 1
    unsealed.close()


def test_an_action_form_without_its_one_time_value_is_refused(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{case_id}").text
    path = f"/cases/{case_id}/reply"
    refused = triage.post(path, data={"csrf": token(page, path), "text": "Hello"})
    assert refused.status_code == 400
    assert "reload the page" in refused.text
    assert not [e for e in site.console.audit_entries() if e["action"] == "reply"]
    assert all(form.action in NOT_ACTIONS or "once" in form.hidden for form in post_forms(page))
