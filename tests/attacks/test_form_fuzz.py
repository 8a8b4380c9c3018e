"""Hypothesis over every form of the portal and the console (the lists in forms.py, checked
against the route tables): fields kept, dropped, replaced by edge values, sent twice,
huge, plus unknown fields, the wrong encoding and file parts with tricky names — never a
5xx, never a hang, and never a half-written upload left on the portal's disk. Then
broken multipart bodies against both multipart forms."""

from __future__ import annotations

import html
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

import crypto
from portal.throttle import ReceiptThrottle
from tests.portal.conftest import Portal, PortalFactory
from tests.portal.forms import hidden_fields, open_thread, receipt_of, submit_report
from tests.triage.conftest import Site, token
from tests.triage.page_forms import NOT_ACTIONS
from triage.signin_lockout import Remembered, SignInGuard

from .conftest import Desk
from .forms import CONSOLE_FORMS, PORTAL_FORMS, Form, mint, send
from .strategies import broken_multipart, file_names, mangled

#: Seconds a request may take before it counts as a hang (httpx raises, the test fails).
TIMEOUT = 30  # as the portal fixture's clients


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, suppress_health_check=list(HealthCheck), deadline=None)


def _leftovers(root: Path) -> list[str]:
    """Temporary (half-written) blob files: none may outlive the request that made them."""
    return sorted(p.name for p in root.glob(".tmp-*"))


@dataclass
class Intake:
    """A kiosk portal, valid values only a real flow gives (receipts, sealed tokens), and
    a reporter's browser session."""

    portal: Portal
    values: dict[str, dict[str, str]]
    receipt: str
    reporter: httpx.Client


@pytest.fixture
def intake(make_portal: PortalFactory) -> Intake:
    portal = make_portal(kiosk_facility="HMP Example")
    # Failed receipt attempts are not delayed here (test speed): test_receipts.py
    # attacks the delays themselves.
    portal.app.state.throttle = ReceiptThrottle(portal.clock, max_delay=0.0)
    sent = submit_report(portal.client())
    receipt = receipt_of(sent)
    browser = portal.client()
    kiosk = browser.get("/kiosk")
    step = browser.post(
        "/kiosk/answer", data={"csrf": token(kiosk.text), "lang": "pl"}
    )  # the first question, with the answers so far sealed in "token"
    code_screen = browser.get("/kiosk/follow-up?lang=pl")
    answers = browser.post(
        "/kiosk/follow-up", data={**hidden_fields(code_screen.text), "receipt": receipt}
    )  # the answers, with "Write back" carrying the case in its sealed token
    derived = portal.derive(crypto.validate_receipt(receipt))
    keys = {
        "lookup_id": crypto.b64u_encode(derived.lookup_id),
        "box_sk": crypto.b64u_encode(bytes(derived.box)),
        "sign_sk": crypto.b64u_encode(bytes(derived.sign)),
    }
    values = {
        "/receipt/check": {"token": hidden_fields(sent.text)["token"], "typed": receipt},
        "/follow-up": {"receipt": receipt, **keys},  # the code, or the keys the page sends
        "/kiosk/answer": {"token": hidden_fields(step.text)["token"]},
        "/kiosk/follow-up": {"receipt": receipt},
        "/kiosk/write-back": {"token": hidden_fields(answers.text)["token"]},
    }
    return Intake(portal, values, receipt, portal.client())


encodings = st.sampled_from(["native", "native", "native", "urlencoded", "multipart"])
uploads = st.lists(
    st.tuples(
        st.sampled_from(["attachments", "attachments", "other"]),
        file_names,
        st.binary(max_size=300),
        st.sampled_from(["image/png", "text/plain", "", "x/\x00"]),
    ),
    max_size=3,
)


@fuzz(70)
@given(data=st.data())
def test_no_portal_form_input_causes_a_5xx_or_a_hang(intake: Intake, data: st.DataObject) -> None:
    portal, reporter = intake.portal, intake.reporter
    form: Form = data.draw(st.sampled_from(PORTAL_FORMS))
    if form.who == "reporter":
        client = reporter
        if "lanthorn_session" not in client.cookies:  # "Leave" ended it
            assert open_thread(client, intake.receipt).status_code == 303
    else:
        client = portal.client()
        client.get("/follow-up")  # for the CSRF cookie
    assert form.purpose is not None
    valid = {**form.valid, **intake.values.get(form.path, {})}
    pairs = data.draw(mangled(valid, mint(portal.app, client, form.purpose)))
    encoding = data.draw(encodings).replace("native", form.encoding)
    files = data.draw(uploads) if encoding == "multipart" else []
    target = form.target.replace("{channel}", data.draw(st.sampled_from(["staff", "third-party"])))
    answer = send(client, target, encoding, pairs, files)
    assert answer.status_code < 500, (target, answer.status_code, answer.text[:300])
    assert _leftovers(portal.settings.blob_dir) == []
    if client is not reporter:
        client.close()


def forget_sign_ins(site: Site) -> None:
    """Every failure, lock and used code forgotten (triage/signin_lockout.py)."""
    with site.console.sessions() as session:
        session.execute(delete(SignInGuard))
        session.commit()
    site.app.state.remembered = Remembered()  # type: ignore[attr-defined]


def _login(desk: Desk, username: str) -> httpx.Client:
    client = desk.site.client()
    page = client.get("/login").text
    code = pyotp.TOTP(desk.secrets[username]).now()
    fields = {"username": username, "password": "correct horse battery", "code": code}
    assert client.post("/login", data={"csrf": token(page), **fields}).status_code == 303
    return client


@fuzz(70)
@given(data=st.data())
def test_no_console_form_input_causes_a_5xx_or_a_hang(desk: Desk, data: st.DataObject) -> None:
    site = desk.site
    forget_sign_ins(site)  # failed sign-ins lock the account, and a code works once: not here
    form: Form = data.draw(st.sampled_from(CONSOLE_FORMS))
    if form.path == "/logout":
        client = _login(desk, "tess")  # a session of its own to end
    elif form.who in ("triage", "admin", "custodian"):
        client = {"triage": desk.triage, "admin": desk.admin, "custodian": desk.custodian}[form.who]
    else:
        client = site.client()
        client.get("/login")
    assert form.purpose is not None
    valid = dict(form.valid)
    if form.path not in NOT_ACTIONS:  # an action form's one-time value, fresh each time
        valid["once"] = secrets.token_urlsafe(18)
    if form.path == "/login":
        valid["code"] = pyotp.TOTP(desk.secrets["tess"]).now()
    pairs = data.draw(mangled(valid, mint(site.app, client, form.purpose)))
    encoding = data.draw(encodings).replace("native", form.encoding)
    target = form.target.replace("{case}", data.draw(st.sampled_from([desk.case, "NOSUCHCASE"])))
    answer = send(client, target, encoding, pairs, timeout=TIMEOUT)
    assert answer.status_code < 500, (target, answer.status_code, answer.text[:300])


@fuzz(60)
@given(body=broken_multipart(), path=st.sampled_from(["/report/staff", "/thread"]))
def test_broken_multipart_is_a_4xx_and_leaves_nothing(
    portal: Portal, body: tuple[bytes, str], path: str
) -> None:
    content, content_type = body
    client = portal.client()
    client.get("/follow-up")
    answer = client.post(path, content=content, headers={"content-type": content_type})
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.status_code in (303, 400, 403, 413), answer.status_code
    assert _leftovers(portal.settings.blob_dir) == []
    assert list(portal.settings.blob_dir.iterdir()) == []  # and nothing was kept
    client.close()


_ERROR = re.compile(r'<p class="lead">(.*?)</p>', re.S)


def test_giant_part_headers_and_many_parts_are_refused(portal: Portal) -> None:
    """A part header of 1 MiB, or more file parts than any report carries, is a 4xx
    that says why, with nothing left on disk (each file part would otherwise hold an
    open file and a 64 KiB padded chunk on disk). The forms carry a valid CSRF token, which
    is checked before the first file part: without one, they are refused sooner (403)."""
    client = portal.client()
    client.get("/follow-up")
    boundary = "b0undary"
    csrf = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        f"{mint(portal.app, client, 'report')}\r\n"
    ).encode()
    giant = (
        csrf
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n'
            f"X-Padding: {'p' * 1024 * 1024}\r\n\r\nhello\r\n--{boundary}--\r\n"
        ).encode()
    )
    many = csrf + (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
            f'filename="f{i}.txt"\r\nContent-Type: text/plain\r\n\r\nx\r\n'.encode()
            for i in range(1000)
        )
        + f"--{boundary}--\r\n".encode()
    )
    for body in (giant, many):
        answer = client.post(
            "/report/staff",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert answer.status_code in (400, 413), answer.status_code
        assert _ERROR.search(answer.text), answer.text[:300]
        assert html.unescape(_ERROR.search(answer.text).group(1)).strip()  # type: ignore[union-attr]
        assert list(portal.settings.blob_dir.iterdir()) == []


@fuzz(60)
@given(
    code=st.one_of(st.sampled_from(["en", "pl", "ar", "xx", "", "%00", "..", "en%0d%0a"]),
                   st.text(max_size=10)),
    target=st.one_of(
        st.sampled_from(["//evil.example/", "/\\evil.example", "https://evil.example/",
                         "/%0d%0aSet-Cookie:%20x=1", "/%00", "javascript:alert(1)", "/thread",
                         "\\\\evil", "/%2f%2fevil.example", " //evil.example"]),
        st.text(max_size=30),
    ),
)  # fmt: skip
def test_the_language_link_redirects_only_within_the_portal(
    portal: Portal, code: str, target: str
) -> None:
    """GET /language/{code}?next=: the one link that redirects; never off the site, never
    a header of the attacker's, never a 5xx."""
    client = portal.client()
    path = "/language/" + urllib.parse.quote(code, safe="%")
    answer = client.get(path, params={"next": target})
    assert answer.status_code < 500
    if answer.status_code == 303:
        location = answer.headers["location"]
        assert location.startswith("/"), location
        assert not location.startswith(("//", "/\\")), location
        assert "\r" not in location
        assert "\n" not in location
    assert "x=1" not in str(answer.headers.get_list("set-cookie"))
    client.close()
