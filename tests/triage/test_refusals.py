"""Every 403 the console gives is in the audit log (issue 17, finding 9).

Walks every route of the console as each role (and as nobody signed in), with GET and
POST, a POST both without a CSRF token and with the right one for its form: each answer
that is a 403 must have added an audit entry naming who was refused and where.
"""

from __future__ import annotations

import httpx
from starlette.routing import Route

from foundation.csrf import CSRF_COOKIE
from tests.portal.forms import submit_report

from .conftest import Site, case_ids, enrol

#: The CSRF purpose of each form (`small_form(request, PURPOSE)` in triage/).
PURPOSES = {
    "/unseal": "unseal",
    "/login": "login",
    "/logout": "logout",
    "/enrol": "enrol",
    "/sync": "sync",
    "/officers": "officers",
    "/units": "units",
    "/units/routing": "routing",
    "/cases/{case}/referral": "case-referral",
    "/officers/unlock": "unlock",
    "/templates": "templates",
    "/cases/bulk": "cases-bulk",
}
CASE_ACTIONS = ("reveal", "reply", "acknowledge", "assess", "concern", "record", "close")
CASE_ACTIONS += ("status", "route", "note")


def addresses(route: Route, case: str) -> list[tuple[str, str]]:
    """(address, CSRF purpose) for every way to fill in the route's path."""
    path = route.path
    if "{action}" in path:
        return [
            (path.replace("{case}", case).replace("{action}", a), f"case-{a}") for a in CASE_ACTIONS
        ]
    filled = path.replace("{case}", case).replace("{blob_id}", "nosuchfile")
    return [(filled, PURPOSES.get(path, ""))]


def mint(site: Site, client: httpx.Client, purpose: str) -> str:
    cookie = client.cookies.get(CSRF_COOKIE)
    assert cookie
    return str(site.app.state.csrf._serializer(purpose).dumps(cookie))  # type: ignore[attr-defined]


def test_every_403_on_every_route_for_every_role_is_audited(site: Site) -> None:
    submit_report(site.portal.client())
    site.console.sync(site.portal.url)
    [case] = case_ids(site.console)
    who = {
        "officer:ada": enrol(site, "ada", "admin")[0],
        "officer:tess": enrol(site, "tess", "triage")[0],
        "officer:ivy": enrol(site, "ivy", "investigator", "counter_corruption")[0],
        "officer:otto": enrol(site, "otto", "auditor")[0],
        "nobody": site.client(),
    }
    who["nobody"].get("/login")  # a CSRF cookie, as any visitor has
    routes = [r for r in site.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    refused: list[tuple[str, str, str]] = []
    unaudited: list[tuple[str, str, str]] = []
    for name, client in who.items():
        for route in routes:
            if route.path == "/logout":
                continue  # it would end the session the walk goes on with
            for method in sorted(route.methods or ()):
                if method == "HEAD":
                    continue
                for address, purpose in addresses(route, case):
                    bodies: list[dict[str, str] | None] = [None]
                    if method == "POST":
                        bodies = [{"no": "token"}, {"csrf": mint(site, client, purpose)}]
                        if not purpose:
                            bodies = [{"no": "token"}]
                    for body in bodies:
                        seen = len(site.console.audit_entries())
                        answer = client.request(method, address, data=body)
                        assert answer.status_code < 500, (name, method, address)
                        if answer.status_code != 403:
                            continue
                        refused.append((name, method, address))
                        new = site.console.audit_entries()[seen:]
                        if not any(
                            e["action"] == "denied"
                            and e["path"] == address
                            and (e["who"] == name or name == "nobody")
                            for e in new
                        ):
                            unaudited.append((name, method, address))
    assert unaudited == []
    # The walk did meet refusals of each kind: a role, a unit, a form's token.
    assert ("officer:ada", "POST", f"/cases/{case}/reveal") in refused
    assert ("officer:ada", "POST", f"/cases/{case}/reply") in refused
    assert ("officer:ivy", "GET", f"/cases/{case}") in refused
    assert ("officer:otto", "GET", "/cases") in refused
    assert ("officer:ivy", "GET", "/templates") in refused  # investigators do not reply
    assert ("officer:ada", "POST", "/templates") in refused  # nor do admins
    assert ("officer:ada", "POST", f"/cases/{case}/note") in refused
    assert ("nobody", "POST", "/login") in refused
