"""The console's pages over real HTTP: unseal, enrol with TOTP, sign in, and each role
seeing exactly what it may — with every refusal recorded."""

from __future__ import annotations

import re

import httpx
import pyotp

from foundation.serving import UVICORN_OPTIONS
from tests.portal.conftest import Portal
from tests.portal.forms import open_thread, receipt_of, submit_report
from tests.serving import serving
from triage.app import create_app
from triage.console import Console

from .conftest import CHEAP, PASSPHRASES, Site, case_ids, enrol, token
from .officer_pages import action_fields
from .page_forms import post_forms


def test_the_console_is_sealed_until_k_officers_unseal_it(
    pair: tuple[Portal, Console],
) -> None:
    _, console = pair
    app = create_app(console.settings, hasher=CHEAP)
    with serving(app, **UVICORN_OPTIONS) as url, httpx.Client(base_url=url) as client:
        for path in ("/", "/cases", "/login", "/audit"):
            assert client.get(path).headers["location"] == "/unseal"
        page = client.get("/unseal").text
        assert page.count('type="password"') == 2
        wrong = client.post(
            "/unseal",
            data={
                "csrf": token(page),
                "passphrase0": PASSPHRASES[0],
                "passphrase1": "not the right passphrase",
            },
        )
        assert wrong.status_code == 422
        assert "do not unseal the console" in wrong.text
        right = client.post(
            "/unseal",
            data={
                "csrf": token(page),
                "passphrase0": PASSPHRASES[2],
                "passphrase1": PASSPHRASES[0],
            },
        )
        assert right.headers["location"] == "/login"
        assert client.get("/login").status_code == 200
    assert app.state.console is not None
    app.state.console.close()


def test_signing_in_needs_password_and_a_current_code(site: Site) -> None:
    _, secret = enrol(site, "tess", "triage")
    client = site.client()
    page = client.get("/login").text
    for password, code in (
        ("correct horse battery", "000000"),
        ("wrong password!!", pyotp.TOTP(secret).now()),
    ):
        response = client.post(
            "/login",
            data={"csrf": token(page), "username": "tess", "password": password, "code": code},
        )
        assert response.status_code == 422
        assert "do not match" in response.text
    assert client.get("/cases").headers["location"] == "/login"
    failures = [e for e in site.console.audit_entries() if e["action"] == "login failed"]
    assert len(failures) == 2


def test_a_triage_officer_reads_answers_routes_and_downloads(site: Site) -> None:
    photo = b"\x89PNG fake image bytes" * 1000
    receipt = receipt_of(
        submit_report(site.portal.client(), files=[("cell.png", photo, "image/png")])
    )
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    client, _ = enrol(site, "tess", "triage")
    listing = client.get("/cases").text
    assert case_id in listing
    page = client.get(f"/cases/{case_id}").text
    assert "taking a prisoner to the laundry" in page
    assert "Contact the police within 24 hours" in page  # deadlines for this category
    assert "Police liaison (suggested)" in page
    reply = client.post(
        f"/cases/{case_id}/reply",
        data={**action_fields(page, f"/cases/{case_id}/reply"), "text": "Received."},
        follow_redirects=True,
    )
    assert "Reply saved and sent to the portal." in reply.text
    routed = client.post(
        f"/cases/{case_id}/route",
        data={
            **action_fields(page, f"/cases/{case_id}/route"),
            "unit": "police_liaison",
            "reason": "Sexual offence: police first",
        },
        follow_redirects=True,
    )
    assert "Case routed" in routed.text
    blob_id = re.search(rf'/cases/{case_id}/files/([A-Za-z0-9_-]+)"', page).group(1)  # type: ignore[union-attr]
    download = client.get(f"/cases/{case_id}/files/{blob_id}")
    assert download.content == photo
    assert download.headers["content-disposition"] == 'attachment; filename="cell.png"'
    assert download.headers["content-type"] == "application/octet-stream"
    reader = site.portal.client()
    open_thread(reader, receipt)
    assert "Received." in reader.get("/thread").text
    actions = [(e["action"], e["case"]) for e in site.console.audit_entries()]
    for action in ("view", "reply", "route", "download"):
        assert (action, case_id) in actions


def test_an_investigator_sees_only_their_units_cases(site: Site) -> None:
    for _ in range(2):
        submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    mine, other = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{mine}").text
    triage.post(
        f"/cases/{mine}/route",
        data={
            **action_fields(page, f"/cases/{mine}/route"),
            "unit": "counter_corruption",
            "reason": "Corruption",
        },
    )
    investigator, _ = enrol(site, "ivan", "investigator", "counter_corruption")
    listing = investigator.get("/cases").text
    assert mine in listing
    assert other not in listing
    assert investigator.get(f"/cases/{mine}").status_code == 200
    refused = investigator.get(f"/cases/{other}")
    assert refused.status_code == 403
    assert "not routed to your unit" in refused.text
    assert investigator.post(f"/cases/{mine}/reply", data={"csrf": "x"}).status_code == 403
    denied = [e for e in site.console.audit_entries() if e["action"] == "denied"]
    assert [(e["who"], e["case"]) for e in denied][0] == ("officer:ivan", other)


def test_admins_manage_people_not_case_content(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    admin, _ = enrol(site, "ada", "admin")
    assert admin.get(f"/cases/{case_id}").status_code == 403
    assert admin.get("/cases").status_code == 403
    page = admin.get("/officers").text
    added = admin.post(
        "/officers",
        data={
            **action_fields(page, "/officers"),
            "username": "newbie",
            "role": "auditor",
            "unit": "",
        },
        follow_redirects=True,
    )
    # A second admin approves it and is given the setup code (test_approvals.py).
    assert "newbie waits for a second administrator" in added.text
    bea, _ = enrol(site, "bea", "admin")
    page = bea.get("/officers").text
    [approve] = [f for f in post_forms(page) if f.hidden.get("decision") == "approve"]
    approved = bea.post("/officers", data=approve.hidden, follow_redirects=True)
    assert "Give this setup code to the officer" in approved.text
    assert "newbie" in approved.text
    # The code is shown once: the officers page, reloaded, no longer shows it.
    assert "Give this setup code" not in bea.get("/officers").text


def test_the_auditor_sees_the_log_and_a_broken_chain(site: Site) -> None:
    auditor, _ = enrol(site, "aud", "auditor")
    page = auditor.get("/audit").text
    assert "The chain is intact" in page
    assert "enrol" in page
    from triage.db import AuditRow

    with site.console.sessions() as session:
        row = session.query(AuditRow).order_by(AuditRow.seq).first()
        assert row is not None
        row.entry = row.entry.replace("add officer", "nothing")
        session.commit()
    assert "The chain is BROKEN at entry 1" in auditor.get("/audit").text
    assert auditor.get("/cases").status_code == 403


def test_signing_out_ends_the_session(site: Site) -> None:
    client, _ = enrol(site, "tess", "triage")
    page = client.get("/cases").text
    out = client.post("/logout", data={"csrf": token(page, "/logout")})
    assert out.headers["location"] == "/login"
    assert client.get("/cases").headers["location"] == "/login"
