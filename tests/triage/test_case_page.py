"""What the case page tells an officer: the reporter's language, words instead of the
console's internal values, the real dates behind a kiosk's "Today", no claim chosen for
them, and each file beside the message it came with."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets

import httpx
import pytest

import crypto
from foundation.categories import KIOSK_PLACES, KIOSK_WHEN
from foundation.languages import LANGUAGES
from portal.db import Item as PortalItem
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from triage import case_commands, labels

from .conftest import Site, api_report, case_ids, enrol, set_clocks
from .page_forms import post_forms, visible_text

#: The kiosk reports below reach the portal on this day (noon, UTC) …
SENT = datetime.datetime(2026, 12, 6, 12, tzinfo=datetime.UTC)
#: … and the console takes them in three days later.
SYNCED = SENT + datetime.timedelta(days=3)
#: A value the console keeps internally: words joined by underscores.
MACHINE_VALUE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def case_text(client: httpx.Client, case_id: str) -> str:
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200, page.text
    return visible_text(page.text)


def test_the_reporters_language_is_shown_with_the_case_and_beside_the_reply(site: Site) -> None:
    reporter = site.portal.client()
    reporter.get("/language/pl", params={"next": "/report/staff"})
    submit_report(reporter)
    api_report(site, lang="ar", channel="kiosk")
    site.console.sync(site.portal.url)
    triage, _ = enrol(site, "tess", "triage")
    shown = {c: case_text(triage, c) for c in case_ids(site.console)}
    polish = next(c for c, text in shown.items() if "Polski" in text)
    arabic = next(c for c in shown if c != polish)
    assert "Language Polski (Polish)" in shown[polish]
    assert "The reporter used Polski (Polish); answer in that language if you can." in shown[polish]
    assert "Language العربية (Arabic)" in shown[arabic]
    page = triage.get(f"/cases/{arabic}").text
    assert '<bdi lang="ar" dir="rtl">العربية</bdi>' in page  # read right to left


def test_the_console_shows_words_not_its_internal_values(site: Site) -> None:
    submit_report(site.portal.client(), channel="third-party", category="use_of_force")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    console = site.console
    console.assess(case_id, category="use_of_force", severity="critical", urgent=True)
    console.record(case_id, "police_contacted")
    console.set_public_status(case_id, "in_review")
    with console.sessions() as session:
        from triage.db import Case

        row = session.get(Case, case_id)
        assert row is not None
        row.unit, row.workflow = "counter_corruption", "routed"
        session.commit()
    triage, _ = enrol(site, "tess", "triage")
    admin, _ = enrol(site, "ada", "admin")
    auditor, _ = enrol(site, "aud", "auditor")
    case = case_text(triage, case_id)
    assert "Channel Third party: someone reporting for a person inside" in case
    assert "Status shown to the reporter Being looked into" in case
    assert "Stage Routed to a unit, severity Critical" in case
    for client, path in (
        (triage, f"/cases/{case_id}"),
        (triage, "/cases"),
        (triage, "/dashboard"),
        (triage, "/statistics"),
        (admin, "/officers"),
        (admin, "/units"),
        (auditor, "/audit"),
    ):
        text = visible_text(client.get(path).text)
        assert not MACHINE_VALUE.findall(text), (path, MACHINE_VALUE.findall(text))
    # The command line's --json keeps the values a program reads …
    assert console.show(case_id)["status"] == "in_review"
    assert console.show(case_id)["channel"] == "third_party"


def test_the_command_line_says_it_in_words_and_keeps_values_in_json(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    submit_report(site.portal.client(), channel="third-party")
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    site.console.set_public_status(case_id, "in_review")
    case_commands.show(site.console, case_id, as_json=False, reveal=False)
    case_commands.cases(site.console, as_json=False)
    words = capsys.readouterr().out
    assert "Being looked into" in words
    assert "Third party: someone reporting for a person inside" in words
    assert not MACHINE_VALUE.findall(words), MACHINE_VALUE.findall(words)
    case_commands.show(site.console, case_id, as_json=True, reveal=False)
    values = json.loads(capsys.readouterr().out)
    assert (values["status"], values["channel"], values["lang"]) == (
        "in_review",
        "third_party",
        "en",
    )


def test_nothing_is_recorded_as_done_until_the_officer_chooses_what(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{case_id}").text
    path = f"/cases/{case_id}/record"
    [form] = [f for f in post_forms(page) if f.action == path]
    what = form.selects["what"]
    assert what.required
    assert what.chosen() == ""  # no claim is chosen for the officer
    forms = {f.action.rsplit("/", 1)[-1]: f for f in post_forms(page)}
    assert forms["assess"].selects["severity"].chosen() == ""  # nor a severity
    assert forms["close"].selects["outcome"].chosen() == ""  # nor an outcome
    for body in ({**form.hidden, "what": ""}, dict(form.hidden)):
        refused = triage.post(path, data=body)
        assert refused.status_code == 422
        assert "Not done: choose what was done" in visible_text(refused.text)
    assert not [e for e in site.console.audit_entries() if e["action"] == "record"]


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("now", "It is happening now (6 December 2026)"),
        ("today", "Today (6 December 2026)"),
        ("week", "In the last 7 days (29 November – 6 December 2026)"),
        ("earlier", "Before that (before 29 November 2026)"),
    ],
)
def test_a_kiosk_when_is_shown_as_the_dates_it_means(site: Site, answer: str, shown: str) -> None:
    set_clocks(site, SENT)
    api_report(
        site,
        channel="kiosk",
        occurred=KIOSK_WHEN[answer],
        location=KIOSK_PLACES["wing"],
        sent_on=SENT.date().isoformat(),
    )
    set_clocks(site, SYNCED)
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    assert f"When {shown}" in case_text(triage, case_id)


def test_a_typed_when_is_shown_as_typed(site: Site) -> None:
    submit_report(site.portal.client(), occurred="Today")  # a web form: words as written
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    text = case_text(triage, case_id)
    assert "When Today " in text
    assert "When Today (" not in text


def test_each_file_is_shown_with_its_message_and_same_names_are_told_apart(
    site: Site,
) -> None:
    reporter = site.portal.client()
    receipt = receipt_of(
        submit_report(
            reporter,
            files=[
                ("photo.jpg", b"the first picture", "image/jpeg"),
                ("photo.jpg", b"the second picture, a longer one", "image/jpeg"),
            ],
        )
    )
    open_thread(reporter, receipt)
    send_message(reporter, "Here is one more.", ("photo.jpg", b"a third", "image/jpeg"))
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{case_id}").text
    thread = page[page.index('<ol class="thread">') : page.index("</ol>", page.index("thread"))]
    entries = [visible_text(e) for e in re.split(r'(?=<li class="entry )', thread)[1:]]
    report = next(e for e in entries if e.startswith("Report"))
    message = next(e for e in entries if "Here is one more." in e)
    assert report.count("photo.jpg") == 2
    assert message.count("photo.jpg") == 1
    assert message.startswith("Message from the reporter")
    files = [visible_text(f) for f in re.findall(r'<li class="file">(.*?)</li>', page, re.S)]
    assert len(files) == 3
    assert len(set(files)) == 3  # each one can be told from the others
    links = re.findall(rf'href="(/cases/{case_id}/files/[^"]+)"', page)
    downloads = {triage.get(link).content for link in links}
    assert downloads == {b"the first picture", b"the second picture, a longer one", b"a third"}


def test_every_language_the_portal_offers_is_named_for_officers() -> None:
    for code, own in LANGUAGES.items():
        shown = labels.language(code)["text"]
        assert shown.startswith(own), code
        assert "does not offer" not in shown, code
    assert labels.language("xx")["text"] == "xx (a language code the portal does not offer)"
    assert labels.language("")["text"] == "Not recorded"


def test_what_the_portal_tampered_with_is_shown_to_officers_in_words(site: Site) -> None:
    """A forged message is named as a forgery attempt (its words never shown), a message
    without a signature is shown as unsigned, and a dropped one as a gap."""
    portal = site.portal
    receipt = receipt_of(submit_report(portal.client()))
    site.console.sync(portal.url)
    [case_id] = case_ids(site.console)
    reader = portal.client()
    open_thread(reader, receipt)
    for text in ("One.", "Two.", "Three."):
        send_message(reader, text)
    forger = crypto.SigningKey.generate()
    with portal.app.state.sessions() as session:
        rows = session.query(PortalItem).filter(PortalItem.case_id == case_id)
        messages = rows.filter(PortalItem.kind == "message").order_by(PortalItem.seq).all()
        session.delete(messages[1])  # "Two." is dropped
        keys = portal.derive(crypto.validate_receipt(receipt))
        box_pk = crypto.b64u_encode(bytes(keys.box_pk))
        forged = {"v": 2, "type": "message", "case_key": box_pk, "sent_on": "2026-12-07",
                  "text": "FORGED: I withdraw everything."}  # fmt: skip
        last = messages[2]
        head = crypto.Head(int(last.chain_seq or 0), hashlib.sha256(last.signed or b"").digest())
        sealed, item = crypto.seal_item(forged, portal.oversight.public_key, forger, after=head)
        unsigned = crypto.seal_document(
            {"v": 1, "type": "message", "text": "UNSIGNED words.", "sent_on": "2026-12-07"},
            portal.oversight.public_key,
        )
        for sealed_text, header in ((sealed, item), (unsigned, None)):
            session.add(
                PortalItem(
                    id=crypto.b64u_encode(secrets.token_bytes(12)), case_id=case_id,
                    kind="message", sealed=sealed_text, on=datetime.date(2026, 12, 7),
                    signed=header.signed if header else None,
                    signature=header.signature if header else None,
                    chain_seq=header.header.seq if header else None,
                )
            )  # fmt: skip
        session.commit()
    site.console.sync(portal.url)
    triage, _ = enrol(site, "tess", "triage")
    text = case_text(triage, case_id)
    assert "FORGED" not in text
    assert "an item was set aside: a message whose signature does not verify" in text
    assert "item 2 of the conversation never reached this console" in text
    assert "Unsigned message: not shown to be the reporter's (no signature)" in text
    assert "UNSIGNED words." in text
    assert not MACHINE_VALUE.search(text)
