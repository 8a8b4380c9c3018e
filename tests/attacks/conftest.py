"""Fixtures for the attack suites: the portal and console fixtures of tests/portal and
tests/triage (imported, so each attack runs on every database backend), and a console
desk with a synced case and signed-in officers to aim form attacks at."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.portal.conftest import kiosk_portal, make_portal, portal  # noqa: F401
from tests.portal.forms import receipt_of, submit_report
from tests.triage.conftest import (  # noqa: F401
    Site,
    case_ids,
    console_settings,
    enrol,
    grant_identity,
    pair,
    site,
)


@dataclass
class Desk:
    """A console with one synced case (with a file), a triage officer (whose request to
    see the reporter's identity a custodian approved), an admin and a custodian."""

    site: Site
    case: str
    receipt: str
    triage: httpx.Client
    admin: httpx.Client
    secrets: dict[str, str]
    custodian: httpx.Client


@pytest.fixture
def desk(site: Site) -> Desk:  # noqa: F811 - the fixture imported above
    sent = submit_report(
        site.portal.client(),
        files=[("note.txt", b"what I saw", "text/plain")],
        identity="Officer in B wing",  # so that the case page offers "Reveal"
    )
    receipt = receipt_of(sent)
    site.console.sync(site.portal.url)
    [case] = case_ids(site.console)
    triage, triage_secret = enrol(site, "tess", "triage")
    admin, admin_secret = enrol(site, "ada", "admin")
    custodian, custodian_secret = enrol(site, "cora", "custodian")
    grant_identity(site, "tess", case)  # a custodian approved: the page offers Reveal
    secrets = {"tess": triage_secret, "ada": admin_secret, "cora": custodian_secret}
    return Desk(site, case, receipt, triage, admin, secrets, custodian)
