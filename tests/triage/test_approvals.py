"""No one grants themselves content (issue 17, finding 2).

In the web console an admin only asks for a new officer or a new role; a second admin
approves it (and is given the new officer's setup code), or refuses it. Until then the
account does not exist, or keeps its old role. No admin decides their own request, or
one about their own account; a request is decided once; every step is audited and
every admin sees what waits, and what was decided, on the officers page."""

from __future__ import annotations

import re

import httpx

from tests.portal.forms import submit_report
from triage import approvals
from triage.officers import start_enrolment
from triage.settings import ConsoleError

from .conftest import Site, case_ids, enrol
from .officer_pages import (
    PASSWORD,
    PagesRefused,
    action_fields,
    enrol_through_pages,
    fresh_code,
    sign_in,
    token,
)
from .page_forms import PostForm, post_forms
from .test_custody import enrol_again


def _ask_to_add(admin: httpx.Client, username: str, role: str) -> httpx.Response:
    page = admin.get("/officers").text
    page = page[page.index("<h2>Add an officer</h2>") :]
    return admin.post(
        "/officers",
        data={**action_fields(page, "/officers"), "username": username, "role": role, "unit": ""},
    )


def _decision(page: str, decision: str) -> PostForm:
    [form] = [
        f
        for f in post_forms(page)
        if f.action == "/officers" and f.hidden.get("decision") == decision
    ]
    return form


def _actions(site: Site, *names: str) -> list[tuple[str, str]]:
    return [
        (e["who"], e.get("officer", ""))
        for e in site.console.audit_entries()
        if e["action"] in names
    ]


def _setup_code(page: str, username: str) -> str:
    found = re.search(rf"<code>{username}: ([0-9a-f-]+)</code>", page)
    assert found, page
    return found.group(1)


def test_an_admin_alone_cannot_make_an_account_that_reads_cases(site: Site) -> None:
    """On main's code the admin got the setup code, enrolled the account and read the
    case: the finding, reproduced."""
    submit_report(site.portal.client(), identity="Dana Whitlock, C wing")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    ada, _ = enrol(site, "ada", "admin")
    added = _ask_to_add(ada, "mole", "triage")
    assert added.status_code == 303
    page = ada.get(added.headers["location"]).text
    assert "Give this setup code" not in page
    assert "waits for a second administrator" in page
    # No setup code exists to guess or to be handed: enrolment and sign-in are impossible.
    try:
        start_enrolment(site.console, "mole", "000000-000000-000000-000000")
    except ConsoleError:
        pass
    else:  # pragma: no cover - the finding
        raise AssertionError("mole could enrol")
    mole = site.client()
    try:
        code = re.search(r"<code>mole: ([0-9a-f-]+)</code>", page)
        secret = enrol_through_pages(mole, "mole", code.group(1) if code else "x")
        sign_in(mole, "mole", secret)
    except PagesRefused:
        pass
    assert mole.get(f"/cases/{case_id}").status_code in (303, 307)  # to the sign-in page
    assert ("officer:ada", "mole") in _actions(site, "ask to add officer")
    assert ("officer:ada", "mole") not in _actions(site, "add officer", "approve officer")


def test_a_second_admin_approves_and_hands_over_the_setup_code(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    ada, _ = enrol(site, "ada", "admin")
    bea, _ = enrol(site, "bea", "admin")
    _ask_to_add(ada, "tess", "triage")
    waiting = bea.get("/officers").text  # where bea lands when she signs in
    assert re.search(r"ada, \d{4}-\d\d-\d\d</td>\s*<td>add tess Triage officer", waiting)
    approved = bea.post("/officers", data=_decision(waiting, "approve").hidden)
    code = _setup_code(bea.get(approved.headers["location"]).text, "tess")
    tess = site.client()
    sign_in(tess, "tess", enrol_through_pages(tess, "tess", code))
    assert tess.get(f"/cases/{case_id}").status_code == 200
    assert _actions(site, "approve officer") == [("officer:bea", "tess")]
    assert "bea approved ada's request to add tess" in ada.get("/officers").text


def test_an_admin_cannot_approve_their_own_request(site: Site) -> None:
    ada, _ = enrol(site, "ada", "admin")
    enrol(site, "bea", "admin")
    _ask_to_add(ada, "mole", "admin")  # a second admin account for herself
    page = ada.get("/officers").text
    assert "another administrator decides this" in page
    assert not [f for f in post_forms(page) if f.hidden.get("decision")]
    # The approval crafted from bea's page, sent with ada's session and token.
    add = page[page.index("<h2>Add an officer</h2>") :]
    crafted = {**action_fields(add, "/officers"), "request": "1", "decision": "approve"}
    refused = ada.post("/officers", data=crafted)
    assert refused.status_code == 403
    assert "another administrator decides it" in refused.text
    assert [w.state for w in approvals.waiting(site.console)] == ["pending"]
    assert not _actions(site, "approve officer")
    assert ("officer:ada", None) in [
        (e["who"], e["case"]) for e in site.console.audit_entries() if e["action"] == "denied"
    ]
    try:
        approvals.decide(site.console, 1, "ada", approve=True)
    except approvals.OwnRequest:
        pass
    else:  # pragma: no cover
        raise AssertionError("ada approved her own request")


def test_an_admin_cannot_raise_their_own_role(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    ada, _ = enrol(site, "ada", "admin")
    bea, _ = enrol(site, "bea", "admin")
    page = ada.get("/officers").text
    fields = action_fields(page[page.index("Ask for a new role") :], "/officers")
    asked = ada.post("/officers", data={**fields, "change": "ada", "role": "triage", "unit": ""})
    assert "waits for a second administrator" in ada.get(asked.headers["location"]).text
    page = ada.get("/officers").text
    add = page[page.index("<h2>Add an officer</h2>") :]
    crafted = {**action_fields(add, "/officers"), "request": "1", "decision": "approve"}
    assert ada.post("/officers", data=crafted).status_code == 403
    assert ada.get(f"/cases/{case_id}").status_code == 403  # still an admin
    # Bea can: two people agreed. Ada's sessions end; she signs in again as triage.
    approved = bea.post("/officers", data=_decision(bea.get("/officers").text, "approve").hidden)
    assert "now has the new role" in bea.get(approved.headers["location"]).text
    assert ada.get("/officers").status_code == 303  # signed out
    ada, _ = enrol_again(site, "ada")
    assert ada.get(f"/cases/{case_id}").status_code == 200
    assert _actions(site, "approve role") == [("officer:bea", "ada")]


def test_an_account_request_is_decided_once(site: Site) -> None:
    ada, _ = enrol(site, "ada", "admin")
    bea, _ = enrol(site, "bea", "admin")
    cal, _ = enrol(site, "cal", "admin")
    _ask_to_add(ada, "tess", "triage")
    approve = _decision(bea.get("/officers").text, "approve")
    refuse = _decision(cal.get("/officers").text, "refuse")
    first = bea.post("/officers", data=approve.hidden)
    code = _setup_code(bea.get(first.headers["location"]).text, "tess")
    again = bea.post("/officers", data=approve.hidden)  # reload, double click
    page = bea.get(again.headers["location"]).text
    assert "This was already done." in page
    assert "<code>tess:" not in page
    late = cal.post("/officers", data=refuse.hidden)
    assert late.status_code == 422
    assert "already approved by bea" in late.text
    assert _actions(site, "approve officer") == [("officer:bea", "tess")]
    assert not _actions(site, "refuse officer")
    start_enrolment(site.console, "tess", code)  # the one code handed over still works


def test_a_refused_account_is_never_made(site: Site) -> None:
    ada, _ = enrol(site, "ada", "admin")
    bea, _ = enrol(site, "bea", "admin")
    _ask_to_add(ada, "mole", "custodian")
    refused = bea.post("/officers", data=_decision(bea.get("/officers").text, "refuse").hidden)
    assert "Refused" in bea.get(refused.headers["location"]).text
    assert "mole" not in [o for o in _officer_names(site)]
    assert _actions(site, "refuse officer") == [("officer:bea", "mole")]
    assert "bea refused ada's request to add mole" in ada.get("/officers").text


def test_a_new_role_waits_and_the_old_one_holds_until_then(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    ada, _ = enrol(site, "ada", "admin")
    olive, _ = enrol(site, "olive", "auditor")
    page = ada.get("/officers").text
    fields = action_fields(page[page.index("Ask for a new role") :], "/officers")
    ada.post("/officers", data={**fields, "change": "olive", "role": "triage", "unit": ""})
    assert olive.get(f"/cases/{case_id}").status_code == 403
    assert _actions(site, "ask to change role") == [("officer:ada", "olive")]


def _officer_names(site: Site) -> list[str]:
    from triage.officers import officers

    return [o.username for o in officers(site.console)]


def test_every_officer_hears_of_account_changes_at_their_next_sign_in(site: Site) -> None:
    """A stolen admin account that asks for an account, and the admin who approves it, are
    seen by every officer the next time they sign in, not only in the audit log."""
    tara, secret = enrol(site, "tara", "triage")
    first = tara.get("/cases").text
    assert "since you last signed in" not in first  # a first sign-in has nothing to hear
    ada, _ = enrol(site, "ada", "admin")
    bea, _ = enrol(site, "bea", "admin")
    _ask_to_add(ada, "mole", "triage")
    waiting = bea.get("/officers").text
    bea.post("/officers", data=_decision(waiting, "approve").hidden)
    again = site.client()
    signed_in = again.post(
        "/login",
        data={
            "csrf": token(again.get("/login").text),
            "username": "tara",
            "password": PASSWORD,
            "code": fresh_code(secret),
        },
    )
    landing = again.get(signed_in.headers["location"]).text
    news = landing[landing.index("Accounts since you last signed in") :].split("</p>")[0]
    assert "(4 changes)" in news  # the two admins the key holders added, then mole
    assert "test added ada as admin" in news
    assert "ada asked to add mole as triage" in news
    assert "bea approved mole as triage" in news
    assert news.index("ada asked") < news.index("bea approved")  # in the order they happened
    # Said once: the page again, and the next sign-in, say nothing more.
    assert "since you last signed in" not in again.get(signed_in.headers["location"]).text
    third = sign_in(site.client(), "tara", secret).get("/cases").text
    assert "since you last signed in" not in third
