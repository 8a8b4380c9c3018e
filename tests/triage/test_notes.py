"""Internal notes and reply templates through the console's pages: a note is shown in the
case's timeline with its author and never reaches the reporter; a template in the
reporter's language fills the reply box; both are audited without their words."""

from __future__ import annotations

import re

import httpx

from tests.portal.forms import open_thread, receipt_of, submit_report

from .conftest import Site, case_ids, enrol
from .officer_pages import action_fields
from .test_case_page import visible_text


def _post(
    client: httpx.Client, page_path: str, action: str, after: str = "", **form: str
) -> httpx.Response:
    """Send the form posting to `action`: the first one after `after` on the page, or
    the one holding `after` if it is a field."""
    page = client.get(page_path).text
    at = page.index(after)
    page = page[page.rfind("<form", 0, at) if after.startswith("name=") else at :]
    return client.post(action, data={**action_fields(page, action), **form}, follow_redirects=True)


ADD = "<h2>Add a template</h2>"


def test_a_note_is_in_the_timeline_with_its_author_and_never_reaches_the_reporter(
    site: Site,
) -> None:
    reporter = site.portal.client()
    receipt = receipt_of(submit_report(reporter))
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    done = _post(triage, f"/cases/{case_id}", f"/cases/{case_id}/note", text="Wing B log checked.")
    assert done.status_code == 200
    assert "Note saved" in done.text
    text = visible_text(done.text)
    assert re.search(r"Internal note \(the reporter never sees it\) ?, [^,]+, by tess", text)
    assert "Wing B log checked." in text
    site.console.sync(site.portal.url)
    open_thread(reporter, receipt)
    assert "Wing B log checked." not in reporter.get("/thread").text
    notes = [e for e in site.console.audit_entries() if e["action"] == "note"]
    assert [(n["who"], n["case"]) for n in notes] == [("officer:tess", case_id)]
    assert "Wing B log checked." not in str(notes)
    empty = _post(triage, f"/cases/{case_id}", f"/cases/{case_id}/note", text="   ")
    assert empty.status_code == 422
    assert "the note is empty" in empty.text


def test_a_template_in_the_reporters_language_fills_the_reply_box(site: Site) -> None:
    reporter = site.portal.client()
    reporter.get("/language/pl", params={"next": "/report/staff"})
    submit_report(reporter)
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    assert "No reply templates in Polish yet" in visible_text(triage.get(f"/cases/{case_id}").text)
    for lang, title, words in (
        ("pl", "Potwierdzenie", "Dziękujemy za zgłoszenie."),
        ("en", "Acknowledgement", "Thank you for your report."),
    ):
        saved = _post(triage, "/templates", "/templates", ADD, lang=lang, title=title, text=words)
        assert saved.status_code == 200
        assert "Template added." in saved.text
    page = triage.get(f"/cases/{case_id}").text
    offered = re.findall(
        r'<option value="(\d+)"[^>]*>([^<]+)</option>', page[page.index('id="template"') :]
    )
    assert [title for _, title in offered] == ["Potwierdzenie"]  # Polish only
    filled = triage.get(f"/cases/{case_id}", params={"template": offered[0][0]}).text
    box = filled[
        filled.index('id="reply"') : filled.index("</textarea>", filled.index('id="reply"'))
    ]
    assert "Dziękujemy za zgłoszenie." in box
    assert 'lang="pl"' in box
    audit = [e for e in site.console.audit_entries() if e["action"] == "add reply template"]
    assert len(audit) == 2
    assert "Dziękujemy" not in str(audit)
    # Changed, then deleted, from the templates page.
    [template_id] = [i for i, _ in offered]
    changed = _post(
        triage,
        "/templates",
        "/templates",
        f'name="id" value="{template_id}"',
        id=template_id,
        lang="pl",
        title="Potwierdzenie",
        text="Dziękujemy. Przeczytaliśmy zgłoszenie.",
    )
    assert "Template saved." in changed.text
    where = f'name="id" value="{template_id}"'
    gone = _post(triage, "/templates", "/templates", where, id=template_id, delete="yes")
    assert "Template deleted." in gone.text
    assert "Potwierdzenie" not in triage.get(f"/cases/{case_id}").text


def test_a_template_refused_keeps_what_was_typed(site: Site) -> None:
    triage, _ = enrol(site, "tess", "triage")
    refused = _post(
        triage, "/templates", "/templates", ADD, lang="xx", title="T", text="Words kept"
    )
    assert refused.status_code == 422
    assert "choose one of the languages" in refused.text
    assert "Words kept" in refused.text
    empty = _post(triage, "/templates", "/templates", ADD, lang="en", title="", text="x")
    assert empty.status_code == 422


def test_the_report_opens_the_timeline_even_when_steps_are_dated_before_its_sync(
    site: Site,
) -> None:
    """A case the console was given with its history (the demo's fictional cases, a
    console restored from an older backup) has steps dated days before the report item
    it stored: the report still comes first, on the day the portal received it."""
    import datetime

    from sqlalchemy import update

    from triage.db import Case, CaseEvent

    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    site.console.acknowledge(case_id)
    earlier = datetime.date.today() - datetime.timedelta(days=20)
    with site.console.sessions() as session:
        session.execute(update(Case).where(Case.id == case_id).values(received_on=earlier))
        session.execute(
            update(CaseEvent)
            .where(CaseEvent.case_id == case_id)
            .values(on=earlier + datetime.timedelta(days=1))
        )
        session.commit()
    triage, _ = enrol(site, "tess", "triage")
    text = visible_text(triage.get(f"/cases/{case_id}").text)
    timeline = text[text.index("Timeline") :].replace(" ,", ",")
    assert timeline.index("Report,") < timeline.index("Acknowledged,")
    assert f"Report, {earlier.day} {earlier:%B %Y}" in timeline
