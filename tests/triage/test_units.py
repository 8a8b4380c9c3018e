"""Units and the routing table, editable by admins: the defaults a console starts with,
every change and every refusal, what routing and retiring change for officers, the Units
page (admins only, CSRF-checked) and `lanthorn triage units` / `routing`."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.portal.forms import submit_report
from triage import units
from triage.console import Console
from triage.keys import key_ceremony, unseal
from triage.officers import add_officer
from triage.settings import ConsoleError, TriageSettings

from .conftest import PASSPHRASES, Site, case_ids, enrol, token
from .officer_pages import action_fields
from .test_cli import GOOD, run

MIGRATION = Path(units.__file__).parent / "migrations" / "versions" / "0005_units.py"


@pytest.fixture
def console(console_settings: TriageSettings) -> Iterator[Console]:
    """An unsealed console on the test's backend, with no portal."""
    console_settings.data_dir.mkdir()
    unsealed = key_ceremony(console_settings, PASSPHRASES, 2)
    console = Console(console_settings, unsealed, who="officer:test")
    yield console
    console.close()


def actions(console: Console) -> list[tuple[str, str | None]]:
    """(action, unit or category) of every units and routing entry in the audit log."""
    return [
        (e["action"], e.get("unit", e.get("category")))
        for e in console.audit_entries()
        if e["action"].endswith(" unit") or e["action"] == "set routing"
    ]


def route_form(page: str) -> str:
    """The case page's "Route to" form alone."""
    form = page[page.index('/route"') :]
    return form[: form.index("</form>")]


# -- the defaults ------------------------------------------------------------------------


def test_a_console_starts_with_the_default_units_and_routing_table(console: Console) -> None:
    assert units.units(console) == units.DEFAULT_UNITS
    names = list(units.units(console).values())
    assert names == sorted(names, key=str.casefold)  # ordered by name
    assert units.routing(console) == units.DEFAULT_ROUTING
    assert list(units.routing(console)) == list(units.DEFAULT_ROUTING)  # in category order
    assert units.suggested(console, "discrimination") == ("equality_lead", "ombudsman")
    assert units.suggested(console, "other") == ()
    assert console.audit_entries() == []  # the defaults are not edits


def test_the_migration_holds_a_copy_of_the_defaults_by_value() -> None:
    spec = importlib.util.spec_from_file_location("migration_0005", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert dict(migration.UNITS) == units.DEFAULT_UNITS
    assert dict(migration.ROUTING) == units.DEFAULT_ROUTING
    assert "from triage" not in MIGRATION.read_text()  # app code may change; this must not


# -- changes and refusals ----------------------------------------------------------------


def test_a_unit_is_added_renamed_retired_and_restored_each_step_audited(
    console: Console,
) -> None:
    units.add_unit(console, "prison_inspectorate", "  Prison   inspectorate ")
    assert units.units(console)["prison_inspectorate"] == "Prison inspectorate"
    units.rename_unit(console, "prison_inspectorate", "HM Inspectorate of Prisons")
    assert units.units(console)["prison_inspectorate"] == "HM Inspectorate of Prisons"
    units.rename_unit(console, "governor", "GOVERNOR")  # its own name in other letters
    units.retire_unit(console, "prison_inspectorate")
    assert "prison_inspectorate" not in units.units(console)
    assert "prison_inspectorate" in units.units(console, include_retired=True)
    units.restore_unit(console, "prison_inspectorate")
    assert "prison_inspectorate" in units.units(console)
    assert actions(console) == [
        ("add unit", "prison_inspectorate"),
        ("rename unit", "prison_inspectorate"),
        ("rename unit", "governor"),
        ("retire unit", "prison_inspectorate"),
        ("restore unit", "prison_inspectorate"),
    ]
    renamed = [e for e in console.audit_entries() if e["action"] == "rename unit"][0]
    assert (renamed["before"], renamed["name"], renamed["who"]) == (
        "Prison inspectorate",
        "HM Inspectorate of Prisons",
        "officer:test",
    )
    console.verify_audit()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: units.add_unit(c, "Inspectorate", "Inspectorate"), "lower-case letters"),
        (lambda c: units.add_unit(c, "x", "Inspectorate"), "2 to 40"),
        (lambda c: units.add_unit(c, "a" * 41, "Inspectorate"), "2 to 40"),
        (lambda c: units.add_unit(c, "prison-inspectorate", "Inspectorate"), "underscores"),
        (lambda c: units.add_unit(c, "prison__inspectorate", "Inspectorate"), "underscores"),
        (lambda c: units.add_unit(c, "inspectorate_", "Inspectorate"), "underscores"),
        (lambda c: units.add_unit(c, "1st_unit", "Inspectorate"), "starting with a letter"),
        (lambda c: units.add_unit(c, "inspectorate", " x "), "2 to 80 characters"),
        (lambda c: units.add_unit(c, "inspectorate", "y" * 81), "2 to 80 characters"),
        (lambda c: units.add_unit(c, "governor", "Another"), "already a unit 'governor'"),
        (
            lambda c: units.add_unit(c, "governors", "governor"),
            "the unit 'governor' is already called 'Governor'",
        ),
        (lambda c: units.rename_unit(c, "nobody", "Nobody"), "there is no unit 'nobody'"),
        (lambda c: units.rename_unit(c, "governor", "Governor"), "already called 'Governor'"),
        (
            lambda c: units.rename_unit(c, "governor", "Ombudsman"),
            "the unit 'ombudsman' is already called 'Ombudsman'",
        ),
        (
            lambda c: units.retire_unit(c, "counter_corruption"),
            "the routing table still sends staff_sexual_misconduct, trafficking, corruption "
            "to Counter-corruption (counter_corruption): choose other units for those "
            "categories first",
        ),
        (
            lambda c: units.retire_unit(c, "safeguarding"),
            "still sends self_harm_risk to Safeguarding (safeguarding): choose other units "
            "for that category first",
        ),
        (lambda c: units.retire_unit(c, "nobody"), "there is no unit 'nobody'"),
        (lambda c: units.restore_unit(c, "governor"), "the unit 'governor' is not retired"),
        (lambda c: units.set_routing(c, "parking", ["governor"]), "no category 'parking'"),
        (lambda c: units.set_routing(c, "other", ["nobody"]), "there is no unit 'nobody'"),
        (lambda c: units.set_routing(c, "other", [""]), "there is no unit ''"),
        (
            lambda c: units.set_routing(c, "other", ["governor", "ombudsman", "governor"]),
            "governor is listed twice",
        ),
        (
            lambda c: units.set_routing(c, "other", list(units.DEFAULT_UNITS)[:5]),
            "at most 4 units, not 5",
        ),
    ],
)
def test_each_refusal_says_why_and_changes_nothing(
    console: Console, change: Callable[[Console], object], message: str
) -> None:
    before = (units.units(console, include_retired=True), units.routing(console))
    entries = len(console.audit_entries())
    with pytest.raises(ConsoleError, match=re.escape(message)):
        change(console)
    assert (units.units(console, include_retired=True), units.routing(console)) == before
    assert len(console.audit_entries()) == entries


def test_a_retired_unit_cannot_be_retired_again_or_routed_to(console: Console) -> None:
    units.add_unit(console, "prison_inspectorate", "Prison inspectorate")
    units.add_unit(console, "chaplaincy", "Chaplaincy")
    units.retire_unit(console, "prison_inspectorate")
    with pytest.raises(ConsoleError, match="already retired"):
        units.retire_unit(console, "prison_inspectorate")
    with pytest.raises(ConsoleError, match="'prison_inspectorate' is retired: restore it first"):
        units.set_routing(console, "other", ["chaplaincy", "prison_inspectorate"])
    with pytest.raises(ConsoleError, match="retired: restore it instead"):
        units.add_unit(console, "prison_inspectorate", "Inspectorate again")


def test_the_routing_table_is_replaced_per_category_and_audited(console: Console) -> None:
    assert units.set_routing(console, "other", ["ombudsman", "governor"])
    assert units.set_routing(console, "bullying", [])  # no suggestion for bullying now
    assert not units.set_routing(console, "other", ["ombudsman", "governor"])  # unchanged
    table = units.routing(console)
    assert table["other"] == ("ombudsman", "governor")
    assert "bullying" not in table
    assert table["use_of_force"] == ("governor", "ombudsman")  # other categories untouched
    assert list(table)[-1] == "other"  # in the categories' order
    assert actions(console) == [("set routing", "other"), ("set routing", "bullying")]
    bullying = console.audit_entries()[-1]
    assert (bullying["units"], bullying["before"]) == ([], ["governor", "ombudsman"])
    units.set_routing(console, "self_harm_risk", ["governor"])
    units.retire_unit(console, "safeguarding")  # no longer in the table: it may retire
    assert "safeguarding" not in units.units(console)


# -- what it changes for officers ---------------------------------------------------------


def test_editing_the_routing_table_changes_what_a_case_page_suggests(site: Site) -> None:
    submit_report(site.portal.client())  # staff sexual misconduct
    site.console.sync(site.portal.url)
    [case_id] = case_ids(site.console)
    triage, _ = enrol(site, "tess", "triage")
    form = route_form(triage.get(f"/cases/{case_id}").text)
    assert '<option value="police_liaison" selected>Police liaison (suggested)' in form
    assert "Counter-corruption (suggested)" in form
    units.set_routing(site.console, "staff_sexual_misconduct", ["safeguarding", "police_liaison"])
    form = route_form(triage.get(f"/cases/{case_id}").text)
    assert '<option value="safeguarding" selected>Safeguarding (suggested)' in form
    assert '<option value="police_liaison" >Police liaison (suggested)' in form
    assert "Counter-corruption (suggested)" not in form
    units.set_routing(site.console, "staff_sexual_misconduct", [])
    form = route_form(triage.get(f"/cases/{case_id}").text)
    assert "(suggested)" not in form
    assert 'name="reason" maxlength="500" value=""' in form  # no reason is prefilled


def test_an_investigator_of_a_new_unit_sees_only_the_cases_routed_to_it(site: Site) -> None:
    for _ in range(2):
        submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    ours, other = case_ids(site.console)
    units.add_unit(site.console, "prison_inspectorate", "Prison inspectorate")
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{ours}").text
    assert '<option value="prison_inspectorate" >Prison inspectorate</option>' in route_form(page)
    routed = triage.post(
        f"/cases/{ours}/route",
        data={
            **action_fields(page, f"/cases/{ours}/route"),
            "unit": "prison_inspectorate",
            "reason": "An inspection matter",
        },
        follow_redirects=True,
    )
    assert "Case routed" in routed.text
    assert "<dt>Routed to</dt><dd>Prison inspectorate</dd>" in routed.text
    inspector, _ = enrol(site, "ines", "investigator", "prison_inspectorate")
    listing = inspector.get("/cases").text
    assert ours in listing
    assert other not in listing
    assert inspector.get(f"/cases/{ours}").status_code == 200
    assert inspector.get(f"/cases/{other}").status_code == 403
    assert "in cases routed to Prison inspectorate" in inspector.get("/dashboard").text
    [summary] = [s for s in units.summaries(site.console) if s.id == "prison_inspectorate"]
    assert (summary.cases, summary.investigators, summary.active) == (1, 1, True)


def test_a_retired_unit_is_offered_for_nothing_new_and_its_cases_stay_readable(
    site: Site,
) -> None:
    for _ in range(2):
        submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    ours, other = case_ids(site.console)
    units.add_unit(site.console, "prison_inspectorate", "Prison inspectorate")
    triage, _ = enrol(site, "tess", "triage")
    page = triage.get(f"/cases/{ours}").text
    triage.post(
        f"/cases/{ours}/route",
        data={
            **action_fields(page, f"/cases/{ours}/route"),
            "unit": "prison_inspectorate",
            "reason": "An inspection matter",
        },
    )
    inspector, _ = enrol(site, "ines", "investigator", "prison_inspectorate")
    units.retire_unit(site.console, "prison_inspectorate")

    page = triage.get(f"/cases/{other}").text
    assert "prison_inspectorate" not in route_form(page)  # not offered for new routing
    refused = triage.post(
        f"/cases/{other}/route",
        data={
            **action_fields(page, f"/cases/{other}/route"),
            "unit": "prison_inspectorate",
            "reason": "A stale page",
        },
    )
    assert "Not done: choose one of the units offered (a retired unit takes no new cases)" in (
        refused.text
    )
    with pytest.raises(ConsoleError, match="the unit 'prison_inspectorate' is retired"):
        add_officer(site.console, "ivan", "investigator", "prison_inspectorate")
    with pytest.raises(ConsoleError, match="there is no unit 'nowhere'"):
        add_officer(site.console, "ivan", "investigator", "nowhere")
    with pytest.raises(ConsoleError, match="an investigator needs a unit: choose one of"):
        add_officer(site.console, "ivan", "investigator", None)
    admin, _ = enrol(site, "ada", "admin")
    officers_page = admin.get("/officers").text
    assert '<option value="prison_inspectorate">' not in officers_page
    assert '<option value="governor">Governor</option>' in officers_page

    # What was routed to it stays: the case names it, its investigator still reads it.
    assert "<dt>Routed to</dt><dd>Prison inspectorate</dd>" in triage.get(f"/cases/{ours}").text
    assert ">Prison inspectorate</option>" in triage.get("/cases").text  # still a filter
    assert ours in triage.get("/cases", params={"unit": "prison_inspectorate"}).text
    assert ours in inspector.get("/cases").text
    assert inspector.get(f"/cases/{ours}").status_code == 200


# -- the Units page ----------------------------------------------------------------------


def test_an_admin_edits_units_and_routing_on_the_units_page(site: Site) -> None:
    admin, _ = enrol(site, "ada", "admin")
    assert '<a href="/units">Units and routing</a>' in admin.get("/officers").text
    page = admin.get("/units").text
    assert "<td><code>counter_corruption</code></td>" in page
    assert "Bribes, or staff leaking information" in page  # the categories' labels
    for path, fields in (
        ("/units", {"action": "add", "unit": "chaplaincy", "name": "Chaplaincy"}),
        ("/units/routing", {"category": "other", "unit0": "governor"}),
    ):
        for csrf in ({}, {"csrf": "forged"}):
            refused = admin.post(path, data={**fields, **csrf})
            assert refused.status_code == 403, (path, csrf)
            assert "This form has expired" in refused.text
    # A token issued for one form does not open another.
    wrong = admin.post(
        "/units",
        data={"csrf": token(page, "/units/routing"), "action": "add", "unit": "chaplaincy"},
    )
    assert wrong.status_code == 403
    assert "chaplaincy" not in units.units(site.console)

    def post(path: str, **fields: str) -> tuple[int, str]:
        """Send the form, from the page as it is now; done, the page it leads to."""
        hidden = action_fields(admin.get("/units").text, path)
        once = {"csrf": hidden["csrf"], "once": hidden["once"]}
        answer = admin.post(path, data={**once, **fields}, follow_redirects=True)
        return answer.status_code, html.unescape(answer.text)

    status, text = post("/units", action="add", unit="chaplaincy", name="Chaplaincy")
    assert status == 200
    assert "Unit 'chaplaincy' added." in text
    assert "<td><code>chaplaincy</code></td>" in text
    status, text = post("/units", action="rename", unit="chaplaincy", name="Chaplaincy team")
    assert (status, "Unit 'chaplaincy' renamed." in text) == (200, True)
    status, text = post("/units/routing", category="other", unit0="chaplaincy", unit2="governor")
    assert (status, "Routing for “Something else” saved." in text) == (200, True)
    assert units.routing(site.console)["other"] == ("chaplaincy", "governor")
    assert '<option value="chaplaincy" selected>Chaplaincy team</option>' in text
    status, text = post("/units/routing", category="other", unit0="chaplaincy", unit1="governor")
    assert "Routing for “Something else” unchanged." in text

    for path, fields, message in (
        ("/units", {"action": "add", "unit": "Chaplains", "name": "C"}, "lower-case letters"),
        ("/units", {"action": "add", "unit": "chaplains", "name": "chaplaincy TEAM"}, "already"),
        ("/units", {"action": "rename", "unit": "nobody", "name": "N"}, "2 to 80 characters"),
        ("/units", {"action": "rename", "unit": "nobody", "name": "No"}, "no unit 'nobody'"),
        ("/units", {"action": "retire", "unit": "chaplaincy"}, "still sends other to"),
        ("/units", {"action": "restore", "unit": "governor"}, "is not retired"),
        ("/units", {"action": "delete", "unit": "governor"}, "not something this page can do"),
        ("/units/routing", {"category": "other", "unit0": "x_y"}, "there is no unit 'x_y'"),
        ("/units/routing", {"category": "parking", "unit0": "governor"}, "no category 'park"),
        (
            "/units/routing",
            {"category": "other", "unit0": "governor", "unit3": "governor"},
            "governor is listed twice",
        ),
    ):
        status, text = post(path, **fields)
        assert status == 422, (fields, text)
        assert message in text, (fields, text)
        assert '<p class="error" role="alert">Not done: ' in text

    status, text = post("/units/routing", category="other")  # every choice "none"
    assert "Routing for “Something else” saved." in text
    status, text = post("/units", action="retire", unit="chaplaincy")
    assert "Unit 'chaplaincy' retired" in text
    assert '<tr class="retired">' in text
    assert '<option value="chaplaincy"' not in text  # not offered in the routing table
    status, text = post("/units", action="restore", unit="chaplaincy")
    assert "Unit 'chaplaincy' restored." in text

    mine = [(e["action"], e["who"]) for e in site.console.audit_entries()]
    for action in ("add unit", "rename unit", "set routing", "retire unit", "restore unit"):
        assert (action, "officer:ada") in mine
    assert actions(site.console) == [
        ("add unit", "chaplaincy"),
        ("rename unit", "chaplaincy"),
        ("set routing", "other"),
        ("set routing", "other"),
        ("retire unit", "chaplaincy"),
        ("restore unit", "chaplaincy"),
    ]


@pytest.mark.parametrize("role", ["triage", "investigator", "auditor"])
def test_only_admins_reach_the_units_page(site: Site, role: str) -> None:
    client, _ = enrol(site, "olga", role, "governor" if role == "investigator" else None)
    assert 'href="/units"' not in client.get("/audit" if role == "auditor" else "/cases").text
    for method, path in (("GET", "/units"), ("POST", "/units"), ("POST", "/units/routing")):
        answer = client.request(method, path, data={"action": "add"} if method == "POST" else None)
        assert answer.status_code == 403, (method, path)
        assert "Your role does not allow this page" in answer.text
    denied = [e["path"] for e in site.console.audit_entries() if e["action"] == "denied"]
    assert denied[-3:] == ["/units", "/units", "/units/routing"]


# -- the command line --------------------------------------------------------------------


def test_units_and_routing_round_trip_on_the_command_line(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    data = tmp_path / "console"
    env = {"LANTHORN_DATABASE_URL": new_database_url()}

    def lanthorn(*args: str, ok: bool = True) -> str:
        result = run("triage", *args, "--data", data, passphrases=GOOD, extra_env=env)
        assert (result.returncode == 0) is ok, result.stderr
        return result.stdout if ok else result.stderr

    assert run("triage", "init", "--data", data, passphrases=GOOD, extra_env=env).returncode == 0
    listing = lanthorn("units", "list")
    assert re.search(r"counter_corruption\s+Counter-corruption\s+active\s+0 cases", listing)
    assert "Unit 'chaplaincy' added as 'Chaplaincy'." in lanthorn(
        "units", "add", "chaplaincy", "Chaplaincy"
    )
    assert "is now called 'Chaplaincy team'" in lanthorn(
        "units", "rename", "chaplaincy", "Chaplaincy team"
    )
    assert "now go to chaplaincy then governor" in lanthorn(
        "routing", "set", "other", "chaplaincy", "governor"
    )
    shown = json.loads(lanthorn("routing", "show", "--json"))
    assert shown["other"] == ["chaplaincy", "governor"]
    assert shown["corruption"] == ["counter_corruption"]
    assert re.search(r"other\s+chaplaincy then governor", lanthorn("routing", "show"))

    refused = lanthorn("units", "retire", "chaplaincy", ok=False)
    assert "lanthorn triage units: the routing table still sends other to Chaplaincy team" in (
        refused
    )
    assert "at most 4 units" in lanthorn(
        "routing",
        "set",
        "other",
        "governor",
        "ombudsman",
        "chaplaincy",
        "safeguarding",
        "x",
        ok=False,
    )
    assert "now suggest no unit" in lanthorn("routing", "clear", "other")
    assert "retired" in lanthorn("units", "retire", "chaplaincy")
    rows = {row["id"]: row for row in json.loads(lanthorn("units", "list", "--json"))}
    assert (rows["chaplaincy"]["name"], rows["chaplaincy"]["active"]) == ("Chaplaincy team", False)
    assert "restored" in lanthorn("units", "restore", "chaplaincy")
    assert "there is no unit 'nobody'" in lanthorn("units", "restore", "nobody", ok=False)

    assert "Audit log intact" in lanthorn("audit", "verify")
    settings = TriageSettings(data_dir=data, database_url=env["LANTHORN_DATABASE_URL"])
    console = Console(settings, unseal(settings, GOOD[:2]), who="test")
    try:
        assert actions(console) == [
            ("add unit", "chaplaincy"),
            ("rename unit", "chaplaincy"),
            ("set routing", "other"),
            ("set routing", "other"),
            ("retire unit", "chaplaincy"),
            ("restore unit", "chaplaincy"),
        ]
        assert all(e["who"].startswith("cli:") for e in console.audit_entries())
    finally:
        console.close()
    help_text = run("triage", "units", "--help").stdout
    assert "retired, never deleted" in help_text
    assert "lanthorn triage units add --data /srv/console prison_inspectorate" in help_text
    assert "lanthorn triage routing set" in run("triage", "routing", "--help").stdout
