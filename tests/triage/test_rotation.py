"""Rotating the oversight key end to end: reports sealed before, after and — by a page or
client that still holds the old key — after the rotation all open, and every reporter
gets their reply; the portal takes the new key without touching its receipt salt."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import crypto
from foundation.serving import UVICORN_OPTIONS
from portal.app import create_app
from portal.cli import initialise, read_oversight_keys, read_public_key, set_oversight_key
from portal.settings import OversightPublicKeys, PortalSettings, SettingsError
from tests.conftest import CHEAP_KDF
from tests.portal.conftest import Clock, Portal, answer_to
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.portal.test_api import file_report, report_document, submission, upload
from tests.serving import serving
from triage.console import Console
from triage.keys import KEYS_FILE, Unsealed, key_ceremony, rotate_oversight_key, seal_keys, unseal
from triage.settings import TriageSettings

from .conftest import PASSPHRASES, case_ids, run_lanthorn


def lanthorn(*args: object, database_url: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    env["LANTHORN_UNSEAL_PASSPHRASES"] = ",".join(PASSPHRASES)
    if database_url:
        env["LANTHORN_DATABASE_URL"] = database_url
    return run_lanthorn(args, env)


@dataclasses.dataclass
class Hosts:
    """A console with its data directory, and a portal served from its own data directory
    (portal.json on disk), which can be restarted as `systemctl restart` would."""

    console: Console
    portal_dir: Path
    portal_database: str
    stack: contextlib.ExitStack
    portal: Portal | None = None

    def start_portal(self) -> Portal:
        if self.portal is not None:
            self.portal.stack.close()  # stops uvicorn and closes its clients
        loaded = PortalSettings.load(
            self.portal_dir, environ={"LANTHORN_DATABASE_URL": self.portal_database}
        )
        settings = dataclasses.replace(loaded, kdf=CHEAP_KDF)
        clock = Clock()
        app = create_app(settings, clock=clock)
        stack = contextlib.ExitStack()
        url = stack.enter_context(serving(app, **UVICORN_OPTIONS))
        settings = answer_to(app, settings, url)
        keys = self.console.keys
        self.portal = Portal(
            url, settings, keys.oversight, keys.console, clock, app, stack, keys.signing_key
        )
        self.stack.callback(stack.close)
        return self.portal

    def config_key(self) -> bytes:
        assert self.portal is not None
        with self.portal.client() as client:
            return crypto.b64u_decode(client.get("/api/v1/config").json()["oversight_public_key"])


@pytest.fixture
def hosts(
    tmp_path: Path,
    console_settings: TriageSettings,
    new_database_url: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Hosts]:
    console_settings.data_dir.mkdir()
    console = Console(
        console_settings, key_ceremony(console_settings, PASSPHRASES, 2), who="officer:test"
    )
    public = console_settings.public_dir
    database = new_database_url()
    monkeypatch.setenv("LANTHORN_DATABASE_URL", database)  # as `portal init` is run
    initialise(
        tmp_path / "portal",
        read_oversight_keys(public / "oversight.json"),
        read_public_key(public / "console.pub", "console verify key"),
    )
    monkeypatch.delenv("LANTHORN_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        made = Hosts(console, tmp_path / "portal", database, stack)
        made.start_portal()
        yield made
        console.close()


def client_sealed_report(
    portal: Portal, oversight: crypto.PublicKey, files: list[bytes]
) -> tuple[crypto.ReporterKeys, str]:
    """A report an API client (or a kiosk page) sealed to the key it was given earlier."""
    keys = portal.derive(crypto.generate_receipt())
    with portal.client() as client:
        attachments = [upload(client, data) for data in files]
        sealed = crypto.seal_report(report_document(keys, attachments), oversight)
        body = submission(keys, sealed, [a["blob_id"] for a in attachments])
        response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
    return keys, response.json()["case"]


def reply_seen_by_api_reporter(portal: Portal, keys: crypto.ReporterKeys) -> str:
    with portal.client() as client:
        thread = client.get("/api/v1/thread", auth=portal.reporter_auth(keys)).json()
    sealed = crypto.b64u_decode(thread["items"][-1]["sealed"])
    return str(crypto.open_document(sealed, keys.box, versions=(1, 2))["text"])


def test_reports_before_during_and_after_a_rotation_all_open_and_get_replies(
    hosts: Hosts,
) -> None:
    console, portal = hosts.console, hosts.portal
    assert portal is not None
    old_public = crypto.PublicKey(hosts.config_key())
    old_fingerprint = console.keys.fingerprint
    salt_before = json.loads((hosts.portal_dir / "portal.json").read_text())["receipt_salt"]

    # Before: a web form report (sealed by the portal) and an API report (by the client).
    receipt_a = receipt_of(
        submit_report(portal.client(), files=[("a.jpg", b"A" * 70_000, "image/jpeg")])
    )
    with portal.client() as client:
        keys_b, case_b, _ = file_report(portal, client, [b"file of B"])
    assert console.sync(portal.url).taken == 2

    # The console rotates its key; the portal is given it and restarted.
    rotated = lanthorn(
        "triage", "rotate-key", "--data", console.settings.data_dir,
        database_url=console.settings.database_url,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    new_public = crypto.PublicKey(
        read_public_key(console.settings.public_dir / "oversight.pub", "oversight key")
    )
    assert bytes(new_public) != bytes(old_public)
    published = read_oversight_keys(console.settings.public_dir / "oversight.json")
    assert published.box_pk == bytes(new_public)
    new_fingerprint = published.fingerprint
    assert f"old fingerprint: {old_fingerprint}" in rotated.stdout
    assert f"new fingerprint: {new_fingerprint}" in rotated.stdout
    # The rollover statement: the old and the new signing key both sign the change.
    [rollover] = published.rollovers
    assert (rollover.old.box_pk, rollover.new.box_pk) == (bytes(old_public), bytes(new_public))
    resolved = crypto.resolve_oversight_keys(
        published.box_pk, published.sign_pk, published.rollovers, pinned=old_fingerprint
    )
    assert resolved.changed_on == rollover.on  # a client that pinned the old keys follows
    given = lanthorn(
        "portal", "set-oversight-key", "--data", hosts.portal_dir,
        "--oversight-key", console.settings.public_dir / "oversight.json",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "Restart the portal" in given.stdout
    assert f"new fingerprint: {new_fingerprint}" in given.stdout
    config = json.loads((hosts.portal_dir / "portal.json").read_text())
    assert config["receipt_salt"] == salt_before
    assert config["oversight_public_key"] == crypto.b64u_encode(bytes(new_public))
    assert config["oversight_sign_key"] == crypto.b64u_encode(published.sign_pk)
    assert config["oversight_rollovers"] == [rollover.as_json()]
    assert (hosts.portal_dir / "portal.json").stat().st_mode & 0o077 == 0
    assert hosts.config_key() == bytes(old_public)  # the running portal: until its restart
    portal = hosts.start_portal()
    assert hosts.config_key() == bytes(new_public)
    with portal.client() as client:
        assert client.get("/api/v1/config").json()["oversight_fingerprint"] == new_fingerprint

    # After: a web form report (now sealed to the new key), an API report that read the
    # new key, and a straggler sealed to the old key by a page loaded before the rotation.
    receipt_c = receipt_of(
        submit_report(portal.client(), files=[("c.png", b"C" * 10, "image/png")])
    )
    with portal.client() as client:
        keys_d, case_d, _ = file_report(portal, client, [b"file of D"])
    keys_e, case_e = client_sealed_report(portal, old_public, [b"file of E" * 9000])
    fresh = unseal(console.settings, PASSPHRASES[:2])
    assert (fresh.oversight.public_key, fresh.previous[0].public_key) == (new_public, old_public)
    web_report = portal.console().outbox()["items"][0]
    sealed = crypto.b64u_decode(web_report["sealed"])
    assert crypto.open_document(sealed, fresh.oversight, versions=(2,))  # the form signs now
    with pytest.raises(crypto.CryptoError):
        crypto.open_document(sealed, fresh.previous[0], versions=(1, 2))

    # The console unsealed before the rotation learns the new key from keys.sealed.
    report = console.sync(portal.url)
    assert (report.taken, report.files, report.set_aside, report.bad_files) == (3, 3, [], [])
    assert len(case_ids(console)) == 5

    for case in case_ids(console):
        console.reply(case, f"Reply for case {case}")
    assert console.push() == (5, 0)  # each reply, which also says the report was read
    for receipt in (receipt_a, receipt_c):
        reader = portal.client()
        open_thread(reader, receipt)
        assert "Reply for case" in reader.get("/thread").text
        send_message(reader, "A message after it all")
    for keys, case in ((keys_b, case_b), (keys_d, case_d), (keys_e, case_e)):
        assert reply_seen_by_api_reporter(portal, keys) == f"Reply for case {case}"
    assert console.sync(portal.url).taken == 2  # the two messages, sealed to the new key

    entries = [e for e in console.audit_entries() if e["action"] == "rotate oversight key"]
    assert entries == [
        {
            **entries[0],
            "old_fingerprint": old_fingerprint,
            "new_fingerprint": new_fingerprint,
            "previous_keys": 1,
        }
    ]
    console.verify_audit()


def test_every_earlier_key_is_kept_across_rotations(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    keys = [console.keys.oversight.public_key]
    for _ in range(2):
        console.keys = rotate_oversight_key(console.settings, console.keys)
        keys.append(console.keys.oversight.public_key)
    fresh = unseal(console.settings, PASSPHRASES[:2])
    assert [k.public_key for k in fresh.oversight_keys] == keys[::-1]  # newest first
    for key in keys:
        client_sealed_report(portal, key, [])
    reopened = Console(console.settings, fresh, who="officer:test")
    try:
        report = reopened.sync(portal.url)
    finally:
        reopened.close()
    assert (report.taken, report.set_aside) == (3, [])


def test_a_report_to_a_key_the_console_lost_is_set_aside(pair: tuple[Portal, Console]) -> None:
    portal, console = pair
    old = console.keys.oversight.public_key
    rotated = rotate_oversight_key(console.settings, console.keys)
    # keys.sealed without its previous keys, as if one had been lost:
    lost = Unsealed(rotated.vault_key, rotated.oversight, rotated.console)
    (console.settings.data_dir / KEYS_FILE).write_bytes(seal_keys(lost))
    client_sealed_report(portal, old, [b"unreadable now"])
    _, case = client_sealed_report(portal, rotated.oversight.public_key, [])
    reopened = Console(console.settings, unseal(console.settings, PASSPHRASES[:2]), who="t")
    try:
        report = reopened.sync(portal.url)
        assert report.taken == 1
        [reason] = report.set_aside
        assert "could not be opened with the oversight key" in reason
        assert case_ids(reopened) == [case]
        assert portal.console().outbox()["items"] == []  # taken in or set aside: not lost
    finally:
        reopened.close()


def test_set_oversight_key_changes_only_the_keys(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LANTHORN_DATABASE_URL", f"sqlite+pysqlite:///{tmp_path / 'p.db'}")
    first = OversightPublicKeys(os.urandom(32), os.urandom(32))
    console_key = os.urandom(32)
    data = initialise(tmp_path / "portal", first, console_key)
    before = json.loads((data / "portal.json").read_text())
    old_sign = crypto.SigningKey.generate()
    new_sign = crypto.SigningKey.generate()
    rollover = crypto.make_rollover(
        old_sign=old_sign,
        old_box_pk=os.urandom(32),
        new_sign=new_sign,
        new_box_pk=os.urandom(32),
        on="2026-06-01",
    )
    second = OversightPublicKeys(
        rollover.new.box_pk, bytes(new_sign.verify_key), rollovers=(rollover,)
    )
    assert set_oversight_key(data, second) == first.fingerprint
    after = json.loads((data / "portal.json").read_text())
    assert after == {
        **before,
        "oversight_public_key": crypto.b64u_encode(second.box_pk),
        "oversight_sign_key": crypto.b64u_encode(second.sign_pk),
        "oversight_rollovers": [rollover.as_json()],
    }
    assert set_oversight_key(data, second) == second.fingerprint  # the same: nothing to do
    with pytest.raises(SettingsError, match="that is the console's verify key"):
        set_oversight_key(data, OversightPublicKeys(console_key, os.urandom(32)))
    with pytest.raises(SettingsError, match="not an initialised portal"):
        set_oversight_key(tmp_path / "nowhere", second)
    assert sorted(p.name for p in data.iterdir()) == ["portal.json", "secret.key"]  # no leftovers
    loaded = PortalSettings.load(data, environ={})
    assert loaded.oversight_keys == second


def test_a_portal_from_before_v2_asks_for_the_signing_key(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LANTHORN_DATABASE_URL", f"sqlite+pysqlite:///{tmp_path / 'p.db'}")
    data = initialise(
        tmp_path / "portal", OversightPublicKeys(os.urandom(32), os.urandom(32)), os.urandom(32)
    )
    config = json.loads((data / "portal.json").read_text())
    del config["oversight_sign_key"], config["oversight_rollovers"]  # as v1 wrote it
    (data / "portal.json").write_text(json.dumps(config))
    with pytest.raises(SettingsError, match="no oversight signing key.*set-oversight-key"):
        PortalSettings.load(data, environ={})


def test_the_commands_explain_themselves(tmp_path: Path) -> None:
    for args in (("triage", "rotate-key"), ("portal", "set-oversight-key")):
        helped = lanthorn(*args, "--help")
        assert helped.returncode == 0
        assert "lanthorn portal set-oversight-key --data" in helped.stdout
    for name, text in (("bad.pub", "not a key"), ("oversight.pub", "A" * 43)):
        bad = tmp_path / name
        bad.write_text(text)
        refused = lanthorn(
            "portal", "set-oversight-key", "--data", tmp_path, "--oversight-key", bad
        )
        assert refused.returncode == 1
        assert "does not hold the oversight keys" in refused.stderr
        assert "public/oversight.json" in refused.stderr
