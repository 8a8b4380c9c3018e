"""Linked cases: one report about an officer is an allegation, five are a pattern — and the
console finds them without keeping the officer's name in the clear."""

from __future__ import annotations

from sqlalchemy import select

from tests.portal.forms import submit_report
from triage import links
from triage.db import AuditRow, Concern

from .conftest import Site, case_ids, enrol
from .officer_pages import action_fields

NAME = "Officer R. Hale"


def test_a_name_is_the_same_whatever_its_case_spacing_or_full_stops() -> None:
    assert links.normalise("Officer R. Hale") == "officer r hale"
    assert links.normalise("  OFFICER r  hale ") == "officer r hale"
    assert links.normalise("Łukasz Ćwik") == links.normalise("łukasz ćwik")
    assert links.normalise("Officer R. Hales") != links.normalise(NAME)


def test_five_reports_about_one_officer_show_as_a_pattern(site: Site) -> None:
    portal = site.portal
    for night in range(5):
        submit_report(
            portal.client(),
            description=f"Night {night}: officer r hale brought phones onto C wing.",
            subjects="",
        )
    submit_report(portal.client(), description="Kitchen staff steal food.", subjects="")
    site.console.sync(portal.url)
    cases = sorted(case_ids(site.console))
    with site.console.sessions() as session:
        from triage.db import Item

        texts = {
            item.case_id: site.console._open(item.content)["document"]["description"]
            for item in session.scalars(select(Item))
        }
    named = [c for c in cases if "hale" in texts[c]]
    unrelated = next(c for c in cases if "hale" not in texts[c])
    triage, _ = enrol(site, "tess", "triage")

    def add(case_id: str, name: str = NAME, kind: str = "person") -> str:
        page = triage.get(f"/cases/{case_id}").text
        path = f"/cases/{case_id}/concern"
        fields = {**action_fields(page, path), "kind": kind, "name": name}
        answer = triage.post(path, data=fields, follow_redirects=True)
        assert answer.status_code in (200, 422)  # done, or refused with the reason
        return answer.text

    first = add(named[0])
    assert "in no other case yet" in first
    suggested = first[first.index("Possibly linked") :]
    for other in named[1:]:
        assert other in suggested  # found in the reports' own words
    assert unrelated not in suggested
    assert "Not done" in add(named[1], name="  ")

    for other in named[1:]:
        add(other, name="OFFICER R HALE")  # however it is typed, it is the same person
    page = triage.get(f"/cases/{named[0]}").text
    assert f"A pattern: {NAME} is named in 5 cases." in page
    for other in named[1:]:
        assert f'href="/cases/{other}"' in page

    # The name is sealed, matched by a keyed hash, and never written to the audit log.
    with site.console.sessions() as session:
        stored = b"".join(c.label + c.digest for c in session.scalars(select(Concern)))
        audit = " ".join(row.entry for row in session.scalars(select(AuditRow)))
    assert b"Hale" not in stored
    assert b"hale" not in stored
    assert "Hale" not in audit
    assert site.console.verify_audit()[0] > 0


def test_an_investigator_sees_links_only_within_their_unit(site: Site) -> None:
    for _ in range(3):
        submit_report(site.portal.client(), description="SO Marsh takes bribes.")
    site.console.sync(site.portal.url)
    ours, also_ours, theirs = sorted(case_ids(site.console))
    for case_id, unit in ((ours, "counter_corruption"), (also_ours, "counter_corruption")):
        links.add_concern(site.console, case_id, "person", "SO Marsh")
        with site.console.sessions() as session:
            from triage.db import Case

            case = session.get(Case, case_id)
            assert case is not None
            case.unit = unit
            session.commit()
    links.add_concern(site.console, theirs, "person", "SO Marsh")
    investigator, _ = enrol(site, "ivan", "investigator", "counter_corruption")
    page = investigator.get(f"/cases/{ours}").text
    assert also_ours in page
    assert theirs not in page  # another unit's case is not even named
    assert "/concern" not in page  # investigators read; triage records
