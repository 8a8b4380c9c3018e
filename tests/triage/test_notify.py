"""Email notifications (issue 18, "Told, without leaking"), against a real SMTP relay.

Each test starts aiosmtpd on a loopback port and reads back the bytes it received: the
counts and the console's address are there, and nothing of any report (a canary in each
of its fields, its category, its case id) is, in the raw message or once decoded. STARTTLS
is required unless a plain relay on localhost was explicitly allowed; a message to an
officer with an OpenPGP key decrypts, with their key, to the same counts-only words; a
relay that is down costs nothing: the sync stores every report, and the notification waits
and goes once the relay is back. Every message sent is in the audit log.
"""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.policy
import secrets
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from foundation.categories import CATEGORIES
from tests.portal.conftest import Portal
from tests.portal.forms import submit_report
from triage import mailer, notify, notify_choices
from triage.console import Console
from triage.db import NotificationChoice
from triage.officers import add_officer
from triage.settings import ConsoleError, MailSettings, TriageSettings

from .conftest import Site, case_ids, enrol
from .mail_relay import (
    CONSOLE_URL,
    SENDER,
    Certificate,
    OfficerKey,
    Received,
    free_port,
    keyring,
    make_key,
    relay,
    self_signed,
)
from .officer_pages import action_fields

TARA = "tara@oversight.example"


def mail(port: int, *, starttls: bool = False, ca: Path | None = None) -> MailSettings:
    return MailSettings(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        console_url=CONSOLE_URL,
        starttls=starttls,
        ca_file=ca,
        timeout=10,
    )


def use(console: Console, settings: MailSettings) -> None:
    console.settings = dataclasses.replace(console.settings, mail=settings)


def wants(console: Console, username: str, role: str = "triage", **chosen: Any) -> None:
    add_officer(console, username, role, None)
    options = {"new_reports": True, "urgent_reports": False, "deadlines": False, "key": ""}
    address = f"{username}@oversight.example"
    notify_choices.choose(console, username, address=address, **(options | chosen))


def canary_report(portal: Portal, console: Console, secret: str, *, urgent: bool) -> str:
    """A report with `secret` in every field a reporter writes, and in its file's name."""
    before = set(case_ids(console))
    fields = {
        name: f"{secret} {name}"
        for name in (
            "facility", "location", "occurred", "subjects", "witnesses", "description", "identity"
        )
    }  # fmt: skip
    response = submit_report(
        portal.client(),
        urgent="yes" if urgent else "no",
        files=[(f"{secret} photo.jpg", b"\xff\xd8\xff" + secret.encode() * 8, "image/jpeg")],
        **fields,
    )
    assert response.status_code == 201, response.text
    console.sync(portal.url)
    [case_id] = set(case_ids(console)) - before
    return case_id


def body_of(received: Received, key: OfficerKey | None = None) -> str:
    message = email.message_from_bytes(received.raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == mailer.SUBJECT
    assert message["From"] == SENDER
    if key is None:
        assert message.get_content_type() == "text/plain"
        return str(message.get_content()).replace("\r\n", "\n")
    assert message.get_content_type() == "multipart/encrypted"
    parts = list(message.iter_parts())
    inner = email.message_from_string(key.decrypt(parts[1].get_payload().encode()))
    assert isinstance(inner, email.message.Message)
    return str(inner.get_payload(decode=True).decode()).replace("\r\n", "\n")


def assert_leaks_nothing(received: Received, secrets_: list[str], cases: list[str]) -> None:
    """Nothing of the reports in the bytes the relay got, nor in them decoded."""
    message = email.message_from_bytes(received.raw, policy=email.policy.default)
    decoded = b"".join(
        part.get_payload(decode=True) or b"" for part in message.walk() if not part.is_multipart()
    )
    words = [*secrets_, *cases]
    for category, label in CATEGORIES.items():
        words += [category, label]
    for word in words:
        for where in (received.raw, decoded):
            assert word.encode() not in where
            assert word.lower().encode() not in where.lower()


def audit(console: Console, action: str) -> list[dict[str, Any]]:
    return [e for e in console.audit_entries() if e["action"] == action]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("relay-tls"))


@pytest.fixture(scope="module")
def officer_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfficerKey]:
    with keyring() as home:
        yield make_key(home)


# -- what a notification says, over a plain relay on localhost ------------------------------


def test_new_reports_are_told_as_counts_and_a_link_only(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port))  # a plain relay on localhost, explicitly allowed
    wants(console, "tara")
    wants(console, "uma", urgent_reports=True, new_reports=False)
    add_officer(console, "vic", "triage", None)  # chose nothing: told nothing
    secret = f"CANARY{secrets.token_hex(4)}"
    cases = [
        canary_report(portal, console, secret, urgent=True),
        canary_report(portal, console, secret, urgent=False),
    ]
    with relay(port) as inbox:
        done = notify.tick(console)
    assert (done.sent, done.waiting) == (2, 0)
    assert sorted(r.recipients[0] for r in inbox.received) == [
        "tara@oversight.example",
        "uma@oversight.example",
    ]
    told = {r.recipients[0].partition("@")[0]: body_of(r) for r in inbox.received}
    assert told["tara"].startswith("2 new reports, 1 marked urgent.\n")
    assert told["uma"].startswith("1 new report, 1 marked urgent.\n")  # the urgent one's sync
    for received in inbox.received:
        body = body_of(received)
        assert f"{CONSOLE_URL}/cases" in body
        assert not received.tls
        assert received.greeting == "oversight.example"  # not this host's name
        assert_leaks_nothing(received, [secret], cases)
    sent = audit(console, "notification sent")
    assert sorted(e["officer"] for e in sent) == ["tara", "uma"]
    assert sorted((e["officer"], e["new"], e["urgent"], e["encrypted"]) for e in sent) == [
        ("tara", 2, 1, False),
        ("uma", 1, 1, False),
    ]
    assert not any(TARA in str(e) for e in console.audit_entries())
    with relay(port) as inbox:
        assert notify.tick(console).sent == 0  # sent once, not again
    assert inbox.received == []


def test_an_officer_who_wants_urgent_ones_only_hears_of_nothing_else(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port))
    wants(console, "uma", urgent_reports=True, new_reports=False)
    canary_report(portal, console, "plain", urgent=False)
    with relay(port) as inbox:
        notify.tick(console)
    assert inbox.received == []


def test_nothing_is_queued_or_sent_while_no_relay_is_configured(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    wants(console, "tara")
    canary_report(portal, console, "plain", urgent=True)
    assert notify_choices.waiting(console, "tara").count == 0
    assert notify.tick(console).sent == 0


# -- STARTTLS -------------------------------------------------------------------------------


def test_starttls_is_required_and_a_relay_without_it_gets_nothing(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port, starttls=True))
    wants(console, "tara")
    canary_report(portal, console, "plain", urgent=False)
    with relay(port) as inbox:  # offers no STARTTLS
        first, second = notify.tick(console), notify.tick(console)
    assert inbox.received == []
    assert first.failure == "the relay does not offer STARTTLS, so nothing was sent"
    assert second.waiting == 1
    assert len(audit(console, "notification not sent")) == 1  # once, not at every retry
    assert notify_choices.waiting(console, "tara").failure == first.failure


def test_notifications_go_over_starttls_to_a_relay_the_console_trusts(
    pair: tuple[Portal, Console], certificate: Certificate
) -> None:
    portal, console = pair
    port = free_port()
    wants(console, "tara")
    use(console, mail(port, starttls=True))  # the system's CAs: not this relay's
    secret = f"CANARY{secrets.token_hex(4)}"
    case_id = canary_report(portal, console, secret, urgent=False)
    with relay(port, certificate.server_context()) as inbox:
        refused = notify.tick(console)
        assert refused.failure == "the relay's certificate is not trusted"
        use(console, mail(port, starttls=True, ca=certificate.cert))
        done = notify.tick(console)
    assert done.sent == 1
    [received] = inbox.received
    assert received.tls
    assert body_of(received).startswith("1 new report, 0 marked urgent.\n")
    assert_leaks_nothing(received, [secret], [case_id])


def test_a_plain_relay_is_refused_unless_it_is_on_this_host() -> None:
    with pytest.raises(ConsoleError, match="allowed only for a relay on localhost"):
        dataclasses.replace(mail(25), host="mail.example.org")
    environ = {
        "LANTHORN_SMTP_HOST": "mail.example.org",
        "LANTHORN_SMTP_FROM": SENDER,
        "LANTHORN_CONSOLE_URL": CONSOLE_URL,
        "LANTHORN_SMTP_USER": "lanthorn",
        "LANTHORN_SMTP_PASSWORD": "relay password 1",
    }
    settings = TriageSettings.from_env("/srv/console", environ)
    assert settings.mail.starttls
    assert settings.mail.port == 587
    assert "relay password 1" not in repr(settings)
    with pytest.raises(ConsoleError, match="only for a relay on localhost"):
        TriageSettings.from_env("/srv/console", environ | {"LANTHORN_SMTP_STARTTLS": "no"})
    with pytest.raises(ConsoleError, match="set LANTHORN_SMTP_FROM too"):
        TriageSettings.from_env("/srv/console", {"LANTHORN_SMTP_HOST": "mail.example.org"})
    assert not TriageSettings.from_env("/srv/console", {}).mail.enabled  # off by default


# -- OpenPGP --------------------------------------------------------------------------------


def test_an_officer_with_a_key_gets_the_counts_encrypted_to_it(
    pair: tuple[Portal, Console], certificate: Certificate, officer_key: OfficerKey
) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port, starttls=True, ca=certificate.cert))
    wants(console, "tara", key=officer_key.public)
    secret = f"CANARY{secrets.token_hex(4)}"
    cases = [canary_report(portal, console, secret, urgent=True) for _ in range(3)]
    with relay(port, certificate.server_context()) as inbox:
        assert notify.tick(console).sent == 1
    [received] = inbox.received
    assert b"new report" not in received.raw  # the counts are inside the encryption
    assert b"-----BEGIN PGP MESSAGE-----" in received.raw
    body = body_of(received, officer_key)
    assert body.startswith("3 new reports, 3 marked urgent.\n")
    assert f"{CONSOLE_URL}/cases" in body
    assert_leaks_nothing(received, [secret], cases)
    for case_id in cases:
        assert case_id not in body
    [entry] = audit(console, "notification sent")
    assert entry["encrypted"] is True


def test_a_plain_relay_carries_an_encrypted_message_too(
    pair: tuple[Portal, Console], officer_key: OfficerKey
) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port))
    wants(console, "tara", key=officer_key.public)
    canary_report(portal, console, "plain", urgent=False)
    with relay(port) as inbox:
        notify.tick(console)
    [received] = inbox.received
    assert body_of(received, officer_key).startswith("1 new report, 0 marked urgent.\n")


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        ("signing only", "it cannot encrypt"),
        ("expired", "it has expired"),
        ("private", "that is a private key"),
        ("junk", "not an OpenPGP public key"),
        ("two", "exactly one public key"),
    ],
)
def test_a_key_that_cannot_be_used_is_refused_saying_why(
    pair: tuple[Portal, Console], tmp_path: Path, officer_key: OfficerKey, kind: str, refusal: str
) -> None:
    _, console = pair
    add_officer(console, "tara", "triage", None)
    with keyring() as home:
        if kind == "signing only":
            key = make_key(home, encrypts=False).public
        elif kind == "expired":
            key = make_key(home, made_on=datetime.date(2020, 1, 1), days=1).public
        elif kind == "private":
            key = (
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nabc\n-----END PGP PRIVATE KEY BLOCK-----"
            )
        elif kind == "two":
            key = officer_key.public + "\n" + make_key(home).public
        else:
            key = "tara's key, from memory"
        with pytest.raises(ConsoleError, match=refusal):
            notify_choices.choose(
                console,
                "tara",
                address=TARA,
                key=key,
                new_reports=True,
                urgent_reports=False,
                deadlines=False,
            )
    assert notify_choices.choices(console, "tara") is None


# -- a relay that is down -------------------------------------------------------------------


def test_a_relay_that_is_down_breaks_no_sync_and_loses_nothing(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    port = free_port()  # nothing listens there yet
    use(console, mail(port))
    wants(console, "tara")
    canary_report(portal, console, "first", urgent=True)
    down = notify.tick(console)
    assert (down.sent, down.waiting, down.failure) == (0, 1, "the relay could not be reached")
    canary_report(portal, console, "second", urgent=False)  # the sync itself is unaffected
    assert len(case_ids(console)) == 2
    notify.tick(console)
    assert [e["why"] for e in audit(console, "notification not sent")] == [down.failure]
    with relay(port) as inbox:
        back = notify.tick(console)
    assert (back.sent, back.waiting) == (1, 0)
    [received] = inbox.received  # one message for both syncs
    assert body_of(received).startswith("2 new reports, 1 marked urgent.\n")
    [sent] = audit(console, "notification sent")
    assert (sent["new"], sent["urgent"], sent["attempts"]) == (2, 1, 3)
    assert notify_choices.waiting(console, "tara").count == 0


# -- the daily digest -----------------------------------------------------------------------


def test_the_daily_digest_counts_deadlines_due_and_missed_once_a_day(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    port = free_port()
    use(console, mail(port))
    wants(console, "tara", new_reports=False, deadlines=True)
    secret = f"CANARY{secrets.token_hex(4)}"
    # Sexual misconduct, urgent: escalate the same day, police within a day, acknowledge
    # within 7 days, the first retaliation check at 30 days.
    case_id = canary_report(portal, console, secret, urgent=True)
    received_on = datetime.date.fromisoformat(console.cases()[0]["received_on"])

    def at(days: int, hour: int) -> None:
        when = datetime.datetime.combine(received_on, datetime.time(hour), datetime.UTC)
        console.clock = lambda: (when + datetime.timedelta(days=days)).timestamp()

    with relay(port) as inbox:
        at(29, 6)
        assert notify.tick(console).sent == 0  # before the hour
        at(29, 8)
        assert notify.tick(console).sent == 1
        assert notify.tick(console).sent == 0  # once a day
    [received] = inbox.received
    body = body_of(received)
    assert body.startswith("Deadlines: 1 due by tomorrow, 3 missed.\n")
    assert f"{CONSOLE_URL}/dashboard" in body
    assert_leaks_nothing(received, [secret], [case_id])
    [entry] = audit(console, "notification sent")
    assert (entry["kind"], entry["due"], entry["missed"]) == ("deadlines", 1, 3)


# -- the page -------------------------------------------------------------------------------


def _save(client: httpx.Client, **form: str) -> httpx.Response:
    page = client.get("/notifications").text
    fields = action_fields(page, "/notifications")
    return client.post("/notifications", data={**fields, "action": "save", **form})


def test_each_officer_sets_their_own_address_and_no_one_elses(site: Site) -> None:
    tara, _ = enrol(site, "tara", "triage")
    enrol(site, "uma", "triage")
    page = tara.get("/notifications")
    assert page.status_code == 200
    assert "Your email address" in page.text
    assert "when an urgent report arrives" in page.text
    answer = _save(tara, address=TARA, new_reports="yes", username="uma", officer="uma", key="")
    assert answer.status_code == 303
    chosen = notify_choices.choices(site.console, "tara")
    assert chosen is not None
    assert (chosen.address, chosen.new_reports) == (TARA, True)
    assert notify_choices.choices(site.console, "uma") is None
    with site.console.sessions() as session:
        row = session.get(NotificationChoice, "tara")
        assert row is not None
        assert TARA.encode() not in row.sealed  # sealed at rest
    assert TARA in tara.get("/notifications").text


def test_the_page_is_csrf_protected_and_refuses_bad_input_saying_why(site: Site) -> None:
    tara, _ = enrol(site, "tara", "triage")
    forged = tara.post("/notifications", data={"action": "save", "address": TARA})
    assert forged.status_code == 403
    bad = _save(tara, address="not an address", new_reports="yes")
    assert bad.status_code == 422
    assert "give one email address" in bad.text
    with keyring() as home:
        refused = _save(tara, address=TARA, key=make_key(home, encrypts=False).public)
    assert refused.status_code == 422
    assert "it cannot encrypt" in refused.text
    assert notify_choices.choices(site.console, "tara") is None


def test_officers_who_read_no_case_have_no_notifications_page(site: Site) -> None:
    admin, _ = enrol(site, "ada", "admin")
    assert admin.get("/notifications").status_code == 403
    investigator, _ = enrol(site, "pat", "investigator", "police_liaison")
    page = investigator.get("/notifications").text
    assert "each morning" in page
    assert "> when new reports arrive" not in page  # the choice: they see no new reports


def test_an_officer_can_send_themself_a_test_message(site: Site) -> None:
    port = free_port()
    use(site.console, mail(port))
    tara, _ = enrol(site, "tara", "triage")
    assert _save(tara, address=TARA, deadlines="yes").status_code == 303
    page = tara.get("/notifications").text
    fields = action_fields(page[page.index('value="test"') - 400 :], "/notifications")
    asked = tara.post("/notifications", data={**fields, "action": "test"})
    assert asked.status_code == 303
    with relay(port) as inbox:
        assert notify.tick(site.console).sent == 1
    [received] = inbox.received
    assert received.recipients == [TARA]
    assert body_of(received).startswith("A test: notifications from the console reach you.\n")
