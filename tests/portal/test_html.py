"""The HTML reporter journey with JavaScript off, over real HTTP: report with files, get
a receipt, the console opens everything, come back, read the reply, add more, leave."""

from __future__ import annotations

import os
import re

import crypto
from portal.sri import sri

from .conftest import Portal, PortalFactory
from .forms import (
    REPORT_FIELDS,
    csrf_token,
    hidden_fields,
    open_thread,
    page_error,
    receipt_of,
    submit_report,
)


def test_a_staff_report_with_files_reaches_the_console_intact(portal: Portal) -> None:
    photo, note = os.urandom(300_000), "Rota: nights, B wing ✓".encode()
    client = portal.client()
    response = submit_report(
        client,
        files=[("photo.jpg", photo, "image/jpeg"), ("rota.txt", note, "text/plain")],
        urgent="yes",
        identity="Officer J. Smith, ext 4411",
    )
    assert response.status_code == 201, response.text
    receipt = receipt_of(response)
    assert crypto.validate_receipt(receipt)
    assert "call 999" in response.text  # marked urgent: the page says what else to do

    console = portal.console()
    [item] = console.outbox()["items"]
    report = console.open(item)
    assert report["channel"] == "staff"
    assert report["urgent"] is True
    assert report["identity"] == "Officer J. Smith, ext 4411"
    assert {k: report[k] for k in ("category", "facility", "description")} == {
        k: REPORT_FIELDS[k] for k in ("category", "facility", "description")
    }
    assert [(a["name"], a["mime"]) for a in report["attachments"]] == [
        ("photo.jpg", "image/jpeg"),
        ("rota.txt", "text/plain"),
    ]
    assert [console.attachment(a) for a in report["attachments"]] == [photo, note]
    # The receipt the reporter holds opens the keys the report names for replies.
    keys = portal.derive(crypto.validate_receipt(receipt))
    assert report["reply_box_pk"] == crypto.b64u_encode(bytes(keys.box_pk))
    assert item["box_pk"] == report["reply_box_pk"]


def test_a_third_party_report_is_marked_as_such(portal: Portal) -> None:
    response = submit_report(portal.client(), channel="third-party")
    assert response.status_code == 201
    console = portal.console()
    assert console.open(console.outbox()["items"][0])["channel"] == "third_party"


def test_the_type_it_back_check(portal: Portal) -> None:
    client = portal.client()
    page = submit_report(client)
    receipt = receipt_of(page)
    fields = hidden_fields(page.text)
    right = client.post("/receipt/check", data={**fields, "typed": receipt.replace(" ", "-")})
    assert right.status_code == 200
    assert "That is correct" in right.text
    digits = crypto.validate_receipt(receipt)
    swapped = digits[1] + digits[0] + digits[2:] if digits[0] != digits[1] else digits[:-1] + "x"
    wrong = client.post("/receipt/check", data={**fields, "typed": swapped})
    assert wrong.status_code == 422
    assert receipt in wrong.text  # the receipt is still there to compare against
    assert f'value="{swapped}"' in wrong.text  # and so is what was typed
    other = crypto.generate_receipt()
    wrong = client.post("/receipt/check", data={**fields, "typed": other})
    assert "not the same code" in wrong.text


def test_a_form_with_mistakes_keeps_what_was_written_and_the_files(portal: Portal) -> None:
    client = portal.client()
    evidence = os.urandom(70_000)
    first = submit_report(
        client,
        files=[("evidence.pdf", evidence, "application/pdf")],
        facility="",
        description="Written with care, not to be lost.",
    )
    assert first.status_code == 422
    assert "Say which prison" in first.text
    assert "Written with care, not to be lost." in first.text
    assert "evidence.pdf" in first.text
    pending = hidden_fields(first.text)["pending"]
    assert pending
    assert b"evidence" not in crypto.b64u_decode(pending)

    token = csrf_token(client, "/report/staff")
    second = client.post(
        "/report/staff",
        data={**REPORT_FIELDS, "csrf": token, "pending": pending, "facility": "HMP Example"},
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert second.status_code == 201, second.text
    console = portal.console()
    report = console.open(console.outbox()["items"][0])
    assert [console.attachment(a) for a in report["attachments"]] == [evidence]


def test_kept_files_that_were_since_deleted_are_named_to_choose_again(portal: Portal) -> None:
    """A form left open for hours: the files kept from the last try have been purged. The
    page says which ones to choose again, instead of refusing in technical words."""
    client = portal.client()
    first = submit_report(
        client,
        files=[("evidence.pdf", b"%PDF evidence", "application/pdf")],
        facility="",
        description="Written before lunch.",
    )
    assert first.status_code == 422
    purger = portal.app.state.purger
    purger.run_once()  # the purge notices the unclaimed file...
    portal.clock.advance(portal.settings.unclaimed_blob_seconds + 1)
    assert purger.run_once()["blobs"] == 1  # ...and deletes it hours later

    again = client.post(
        "/report/staff",
        data={**hidden_fields(first.text), **REPORT_FIELDS, "description": "Written before lunch."},
        files=[("attachments", ("", b"", "application/octet-stream"))],
    )
    assert again.status_code == 422
    assert "Please choose them again: evidence.pdf" in again.text
    assert "Written before lunch." in again.text
    assert "Already attached" not in again.text
    assert "pending" not in hidden_fields(again.text)
    assert portal.console().outbox()["items"] == []


def test_the_error_summary_lists_mistakes_in_page_order_each_linking_to_its_field(
    portal: Portal,
) -> None:
    response = submit_report(portal.client(), category="", urgent="", facility="", description="")
    assert response.status_code == 422
    page = response.text
    start = page.index('class="error-summary"')
    summary = page[start : page.index("</div>", start)]
    linked = re.findall(r'<a href="#([\w-]+)">', summary)
    assert linked == ["category", "urgent", "facility", "description"]
    assert linked == sorted(linked, key=lambda field: page.index(f'id="{field}"'))


def test_a_long_file_name_is_shortened_but_keeps_its_extension(portal: Portal) -> None:
    name = "Statement about the night of 4 June on B wing, written the next morning " * 4
    response = submit_report(
        portal.client(), files=[(name + ".pdf", b"%PDF-1.7 statement", "application/pdf")]
    )
    assert response.status_code == 201, response.text
    console = portal.console()
    [attachment] = console.open(console.outbox()["items"][0])["attachments"]
    kept = attachment["name"]
    assert len(kept) == 200
    assert kept.endswith(".pdf")
    assert name.startswith(kept.removesuffix(".pdf"))


def test_coming_back_reading_the_reply_and_adding_more(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    console = portal.console()
    [item] = console.outbox()["items"]
    console.reply(item["case"], console.open(item), "We have this. Are you safe to talk?")
    assert console.status(item["case"], console.open(item), "acknowledged").status_code == 201

    browser = portal.client()  # a fresh browser: only the receipt carries over
    typed = "  " + receipt.replace(" ", "-") + " "
    login = open_thread(browser, typed)
    assert login.status_code == 303
    thread = browser.get("/thread")
    assert thread.status_code == 200
    assert "We have this. Are you safe to talk?" in thread.text
    assert "Read by the oversight body" in thread.text

    token = csrf_token(browser, "/thread")
    sent = browser.post(
        "/thread",
        data={"csrf": token, "text": "Yes. He is on nights again this week."},
        files=[("attachments", ("rota2.png", b"PNGDATA", "image/png"))],
    )
    assert sent.status_code == 303
    assert "Your message has been sent" in browser.get(sent.headers["location"]).text
    [report, message] = console.outbox()["items"]
    assert (report["kind"], message["kind"]) == ("report", "message")
    assert message["case"] == report["case"]
    opened = console.open(message)
    assert opened["type"] == "message"
    assert opened["v"] == 2  # signed on the server with the session's keys, after the head
    assert crypto.parse_item(message["signed"].encode()).seq == 3  # report, reply, status
    assert opened["text"] == "Yes. He is on nights again this week."
    assert [console.attachment(a) for a in opened["attachments"]] == [b"PNGDATA"]


def test_receipts_typed_in_another_script_work(portal: Portal) -> None:
    client = portal.client()
    receipt = crypto.validate_receipt(receipt_of(submit_report(client)))
    arabic = "".join(chr(0x0660 + int(d)) for d in receipt)
    assert open_thread(portal.client(), arabic).status_code == 303


def test_a_typo_is_reported_before_any_key_derivation(portal: Portal) -> None:
    client = portal.client()
    receipt = crypto.validate_receipt(receipt_of(submit_report(client)))
    calls = portal.count_key_derivations()
    typo = receipt[:5] + str((int(receipt[5]) + 1) % 10) + receipt[6:]
    for typed, message in ((typo, "typing mistake"), (receipt[:-1], "but 19 were entered")):
        response = open_thread(portal.client(), typed)
        assert response.status_code == 422
        assert message in page_error(response)
    assert calls == []


def test_a_mistyped_receipt_stays_in_the_field_to_correct(portal: Portal) -> None:
    """What the reporter typed is shown back to them (only in this answer: never kept)."""
    receipt = crypto.validate_receipt(receipt_of(submit_report(portal.client())))
    typo = receipt[:5] + str((int(receipt[5]) + 1) % 10) + receipt[6:]
    for typed in ("1234 5678 90", f"{typo[:4]}-{typo[4:]}", crypto.generate_receipt()):
        response = open_thread(portal.client(), typed)
        assert response.status_code == 422
        field = response.text[response.text.index('id="receipt"') :].split(">")[0]
        assert f'value="{typed}"' in field
    hostile = '"><script>alert(1)</script>'
    response = open_thread(portal.client(), hostile)
    assert "<script>alert(1)" not in response.text  # echoed escaped, like any text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text


def test_a_valid_but_unknown_receipt_says_so_after_a_pause(portal: Portal) -> None:
    response = open_thread(portal.client(), crypto.generate_receipt())
    assert response.status_code == 422
    assert "No report was found for this receipt code" in page_error(response)


def test_leaving_ends_the_session_for_good(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    browser = portal.client()
    open_thread(browser, receipt)
    cookie = browser.cookies.get("lanthorn_session")
    assert cookie
    token = csrf_token(browser, "/thread", action="/leave")
    left = browser.post("/leave", data={"csrf": token})
    assert left.status_code == 200
    assert "You have left your report" in left.text
    assert "lanthorn_session" not in browser.cookies
    # Even someone who copied the cookie before "Leave" gets nothing now.
    thief = portal.client(cookies={"lanthorn_session": cookie})
    response = thief.get("/thread")
    assert response.status_code == 303
    assert response.headers["location"] == "/follow-up?ended=1"


def test_sessions_end_after_15_idle_minutes_but_not_while_in_use(portal: Portal) -> None:
    client = portal.client()
    receipt = receipt_of(submit_report(client))
    browser = portal.client()
    open_thread(browser, receipt)
    for _ in range(3):  # 3 × 10 minutes, each with a request: still signed in
        portal.clock.advance(600)
        assert browser.get("/thread").status_code == 200
    portal.clock.advance(15 * 60 + 1)
    response = browser.get("/thread")
    assert response.status_code == 303
    assert "ended=1" in response.headers["location"]
    assert "Your visit ended" in browser.get(response.headers["location"]).text


def test_the_session_cookie_alone_opens_nothing(portal: Portal) -> None:
    client = portal.client()
    receipt = crypto.validate_receipt(receipt_of(submit_report(client)))
    browser = portal.client()
    open_thread(browser, receipt)
    cookie = browser.cookies["lanthorn_session"]
    keys = portal.derive(receipt)
    for secret in (keys.lookup_id, bytes(keys.box), bytes(keys.sign), receipt.encode()):
        assert crypto.b64u_encode(secret) not in cookie
        assert secret.hex() not in cookie
    session_id, sealed = cookie.split(".")
    raw = crypto.b64u_decode(sealed)
    assert keys.lookup_id not in raw
    assert bytes(keys.box) not in raw


def test_forms_without_a_valid_csrf_token_are_refused(portal: Portal) -> None:
    client = portal.client()
    client.get("/report/staff")  # has the CSRF cookie, but sends no token
    response = client.post(
        "/report/staff",
        data=REPORT_FIELDS,
        files=[("attachments", ("x.txt", b"secret file", "text/plain"))],
    )
    assert response.status_code == 403
    assert "reload the page" in response.text
    assert not [p for p in portal.settings.blob_dir.iterdir()]  # the file was not kept
    stranger = portal.client()  # a token from another browser does not fit this one's cookie
    token = csrf_token(client, "/follow-up")
    response = stranger.post(
        "/follow-up", data={"csrf": token, "receipt": crypto.generate_receipt()}
    )
    assert response.status_code == 403


def test_every_page_carries_the_security_headers(portal: Portal) -> None:
    client = portal.client()
    for path in ("/", "/report/staff", "/follow-up", "/about", "/nowhere", "/api/v1/config"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        # Only the report form and the sign-in run script: our own, to seal the report, or
        # turn the receipt into keys, in the browser.
        assert ("script-src" in csp) == (path in ("/report/staff", "/follow-up"))
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert "camera=()" in response.headers["permissions-policy"]
        assert "server" not in response.headers  # no software version for an attacker
        assert "date" not in response.headers  # no time of day, even in headers
    page = client.get("/report/staff").text
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts  # only our own files, each pinned by its hash; no inline script at all
    for tag in scripts:
        assert re.fullmatch(r'<script src="/static/[a-z/.-]+" integrity="sha384-[^"]+" defer>', tag)
    assert len(re.findall(r"<script", page)) == len(re.findall(r"</script>", page))
    assert re.search(r"<script[^>]*>(?!</script>)", page) is None  # nothing between the tags
    assert "style=" not in page
    assert not re.search(r"<style", page)


def test_cookies_are_strict_and_http_only(portal: Portal) -> None:
    client = portal.client()
    page = client.get("/report/staff")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    receipt = receipt_of(submit_report(client))
    login = open_thread(portal.client(), receipt)
    session_cookie = login.headers["set-cookie"].lower()
    assert session_cookie.startswith("lanthorn_session=")
    assert "httponly" in session_cookie
    assert "samesite=strict" in session_cookie
    assert "max-age" not in session_cookie  # gone when the browser closes
    assert "secure" not in session_cookie  # plain HTTP here, and no proxy configured


def test_cookies_are_secure_behind_a_tls_proxy(make_portal: PortalFactory) -> None:
    portal = make_portal(secure_cookies=True)
    form = portal.client().get("/follow-up")
    assert "secure" in form.headers["set-cookie"].lower()
    # An HTTP client will not send a Secure cookie back over plain HTTP; a browser behind
    # the TLS proxy would. Send it by hand, as that browser does.
    csrf_cookie = form.headers["set-cookie"].split(";")[0]
    token = hidden_fields(form.text)["csrf"]
    login = portal.client().post(
        "/follow-up",
        data={"csrf": token, "receipt": crypto.generate_receipt()},
        headers={"cookie": csrf_cookie},
    )
    assert login.status_code == 422  # past the CSRF check: the cookie round-tripped


def test_unknown_pages_and_methods_get_a_clear_page(portal: Portal) -> None:
    client = portal.client()
    missing = client.get("/report/governor")
    assert missing.status_code == 404
    assert "There is no such reporting form" in missing.text
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/report/staff").status_code == 405
    garbage = client.post(
        "/report/staff", content=b"not multipart", headers={"content-type": "text/plain"}
    )
    assert garbage.status_code == 400
    assert "multipart/form-data" in garbage.text
    broken = client.post(
        "/report/staff",
        content=b'--xyz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nabc',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400
    assert "incomplete" in broken.text


def test_every_script_on_every_page_is_pinned_by_its_hash(kiosk_portal: Portal) -> None:
    """Subresource Integrity on every <script> of every page: a script file changed on
    the server (or on the way) is refused by the browser rather than run."""
    client = kiosk_portal.client()
    pages = [
        "/", "/about", "/report/staff", "/report/third-party", "/follow-up", "/kiosk",
        "/kiosk/exit", "/kiosk/report?lang=en", "/kiosk/report?lang=ar",
        "/kiosk/follow-up?lang=pl", "/nowhere",
    ]  # fmt: skip
    seen = 0
    for path in pages:
        for tag in re.findall(r"<script\b[^>]*>", client.get(path).text):
            seen += 1
            source = re.search(r'src="/static/([^"]+)"', tag)
            assert source, f"{path}: a script without a file of its own: {tag}"
            assert f'integrity="{sri(source.group(1))}"' in tag, f"{path}: {tag}"
    assert seen >= 5
