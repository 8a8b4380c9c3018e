"""Console backups end to end: a console full of cases, files, officers and audit entries is
backed up, verified and restored — across database engines too — and every way a backup
can go wrong (tampered, cut off, wrong passphrases, newer schema, occupied target) is
refused with a clear message, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

import crypto
from foundation.serving import UVICORN_OPTIONS
from tests.conftest import CHEAP_KDF, POSTGRES_URL
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.portal.test_api import file_report, report_document, submission
from tests.serving import serving
from triage import backup as backup_module
from triage import links
from triage.app import create_app as create_console_app
from triage.archive import BackupError
from triage.backup import Contents, make_backup
from triage.backup_reading import verify_backup
from triage.console import Console
from triage.keys import key_ceremony, unseal
from triage.migrations import alembic_config, revisions
from triage.restore import restore_backup
from triage.settings import ConsoleError, TriageSettings

from .conftest import CHEAP, PASSPHRASES, Site, case_ids, enrol, run_lanthorn, sign_in

CANARY = "CANARY-backup-4471"
FILE_LINK = re.compile(r'href="(/cases/[^"]+/files/[^"]+)"')


def officers(k: int) -> list[str]:
    return PASSPHRASES[:k]


def refuse_to_ask(k: int) -> list[str]:
    raise AssertionError("the target should have been refused before any passphrase")


@pytest.fixture
def console(console_settings: TriageSettings) -> Iterator[Console]:
    """An initialised console (2 of 3) with no portal."""
    console_settings.data_dir.mkdir()
    console = Console(
        console_settings, key_ceremony(console_settings, PASSPHRASES, 2), who="officer:test"
    )
    yield console
    console.close()


def populate(site: Site) -> dict[str, Any]:
    """Cases with messages, replies, files, events, concerns, a set-aside item and an
    enrolled officer: everything a console's tables can hold."""
    portal, console = site.portal, site.console
    photo = os.urandom(200_000) + CANARY.encode()
    receipt = receipt_of(
        submit_report(
            portal.client(),
            description=f"{CANARY} the description",
            identity=f"{CANARY} the reporter's name",
            urgent="yes",
            files=[("photo.jpg", photo, "image/jpeg")],
        )
    )
    with portal.client() as client:
        api_keys, api_case, _ = file_report(portal, client, [b"api file " + CANARY.encode()])
    stranger = crypto.PrivateKey.generate()  # sealed to a key nobody has: set aside
    keys = portal.derive(crypto.generate_receipt())
    lost = crypto.seal_report(report_document(keys, []), stranger.public_key)
    response = portal.client().post("/api/v1/reports", json=submission(keys, lost, []))
    assert response.status_code == 201
    assert console.sync(portal.url).taken == 2
    [urgent, other] = case_ids(console)
    console.acknowledge(urgent)
    console.reply(urgent, f"{CANARY} our reply")
    console.assess(urgent, category="staff_sexual_misconduct", severity="high", urgent=True)
    console.record(urgent, "police_contacted")
    links.add_concern(console, urgent, "person", f"{CANARY} Officer Grey")
    console.close_case(
        other, outcome="unfounded", summary=f"{CANARY} summary", feedback="We looked into it."
    )
    console.push()
    client, secret = enrol(site, "tess", "triage")
    reader = portal.client()
    open_thread(reader, receipt)
    send_message(reader, "more detail", ("more.txt", b"second file", "text/plain"))
    report = console.sync(portal.url)
    assert (report.taken, len(console.set_aside_items())) == (1, 1)
    return {"photo": photo, "secret": secret, "urgent": urgent, "api_case": api_case}


def restored_settings(tmp_path: Path, url: str, name: str = "restored") -> TriageSettings:
    return TriageSettings(data_dir=tmp_path / name, database_url=url, vault_kdf=CHEAP_KDF)


def shows(console: Console) -> dict[str, Any]:
    return {case: console.show(case) for case in case_ids(console)}


def strip(shown: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {case: {k: v for k, v in page.items() if k not in keys} for case, page in shown.items()}


def rows(console: Console, table: str) -> list[tuple[Any, ...]]:
    with console.engine.connect() as connection:
        meta = sa.MetaData()
        meta.reflect(connection, only=[table])
        found = meta.tables[table]
        query = sa.select(found).order_by(*found.primary_key.columns)
        return [tuple(row) for row in connection.execute(query)]


def is_empty(settings: TriageSettings) -> bool:
    """Nothing of a console: no data directory (or an empty one) and no tables."""
    if settings.data_dir.exists() and any(settings.data_dir.iterdir()):
        return False
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        return True
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return sa.inspect(connection).get_table_names() == []
    finally:
        engine.dispose()


def test_a_restored_console_is_the_same_console(
    site: Site, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    made = populate(site)
    original = site.console
    before = shows(original)
    backup = tmp_path / "console.lbk"
    contents = make_backup(original, backup)
    assert not backup.with_name("console.lbk.part").exists()
    assert backup.stat().st_mode & 0o077 == 0
    assert (contents.tables["cases"], contents.tables["officers"], contents.files) == (2, 1, 3)

    checked = verify_backup(backup, officers)
    assert (checked.sha256, checked.tables, checked.files) == (
        contents.sha256,
        contents.tables,
        contents.files,
    )
    settings = restored_settings(tmp_path, new_database_url())
    restore_backup(settings, backup, officers, who="officer:restore")
    restored = Console(settings, unseal(settings, PASSPHRASES[1:]), who="officer:test")
    try:
        assert restored.verify_audit()[0] == contents.audit_entries + 1
        assert shows(restored) == before
        assert restored.set_aside_items() == original.set_aside_items()
        for table in ("officers", "units", "routing", "concerns", "case_events", "outgoing"):
            assert rows(restored, table) == rows(original, table), table
        for name in ("oversight.pub", "console.pub"):
            path = settings.public_dir / name
            assert path.read_text() == (original.settings.public_dir / name).read_text()
        assert links.concerns(restored, made["urgent"])[0]["name"].startswith(CANARY)

        # The audit log: the backup's chain is the live one up to the "backup" entry,
        # which follows it there and names the file; the restored one ends with "restore".
        live, copy = original.audit_entries(), restored.audit_entries()
        backed_up = contents.audit_entries
        assert copy[:backed_up] == live[:backed_up]
        assert live[backed_up]["action"] == "backup"
        assert live[backed_up]["sha256"] == contents.sha256 == checked.sha256
        assert live[backed_up]["audit_head"] == contents.audit_head
        assert copy[backed_up]["action"] == "restore"
        assert copy[backed_up]["backup_sha256"] == contents.sha256
        original.verify_audit()

        # An officer signs in to the restored console as before and downloads the same file.
        app = create_console_app(settings, portal_url=site.portal.url, hasher=CHEAP)
        app.state.console = restored
        with serving(app, **UVICORN_OPTIONS) as url:
            client = sign_in(httpx.Client(base_url=url, timeout=30), "tess", made["secret"])
            page = client.get(f"/cases/{made['urgent']}").text
            downloads = [client.get(link) for link in FILE_LINK.findall(page)]
            client.close()
        assert [d.status_code for d in downloads] == [200, 200]
        assert [d.content for d in downloads] == [made["photo"], b"second file"]

        # The restored console carries on: new reports, new audit entries, new replies.
        submit_report(site.portal.client())
        assert restored.sync(site.portal.url).taken == 1
        restored.reply(made["api_case"], "after the restore")
        assert restored.push() == (1, 0)
        restored.verify_audit()
    finally:
        restored.close()


def test_the_backup_file_holds_no_plaintext(site: Site, tmp_path: Path) -> None:
    populate(site)
    backup = tmp_path / "console.lbk"
    make_backup(site.console, backup)
    data = backup.read_bytes()
    for secret in (CANARY, *PASSPHRASES, "correct horse battery", "tess", "HMP Example"):
        assert secret.encode() not in data, secret
    assert bytes(site.console.keys.oversight) not in data
    assert crypto.b64u_encode(bytes(site.console.keys.oversight)).encode() not in data


@pytest.fixture
def backup_file(console: Console, tmp_path: Path) -> Path:
    with console.sessions() as session:
        console.audit(session, "something to keep")
        session.commit()
    path = tmp_path / "console.lbk"
    make_backup(console, path)
    return path


def flip(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        position = offset % len(data)
        return data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :]

    return change


def header_value(field: bytes) -> Callable[[bytes], bytes]:
    """Change the first character of a value in the clear header to another b64u one."""

    def change(data: bytes) -> bytes:
        at = data.index(field) + len(field)
        return data[:at] + (b"B" if data[at : at + 1] == b"A" else b"A") + data[at + 1 :]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (flip(-1), "damaged or was altered"),  # the final chunk
        (flip(-100_000), "damaged or was altered"),  # a chunk in the middle
        (header_value(b'"salt": "'), "damaged or was altered"),  # the stream key changes
        (header_value(b'"oversight.pub": "'), "damaged or was altered"),  # clear hash differs
        (lambda data: data[:-1], "is cut off"),
        (lambda data: data[: len(data) // 2], "is cut off"),
        (lambda data: data + b"\0" * 100, "damaged or was altered"),
        (lambda data: b"PK\x03\x04" + data[4:], "is not a Lanthorn console backup"),
        (lambda data: data[:40], "its header is cut off or altered"),
    ],
)
def test_a_damaged_backup_is_refused_and_restores_nothing(
    backup_file: Path,
    tmp_path: Path,
    new_database_url: Callable[[], str],
    change: Callable[[bytes], bytes],
    message: str,
) -> None:
    damaged = tmp_path / "damaged.lbk"
    damaged.write_bytes(change(backup_file.read_bytes()))
    with pytest.raises(BackupError, match=message):
        verify_backup(damaged, officers)
    settings = restored_settings(tmp_path, new_database_url())
    with pytest.raises(BackupError, match=message):
        restore_backup(settings, damaged, officers, who="officer:test")
    assert is_empty(settings)
    assert not settings.data_dir.exists()


def test_wrong_passphrases_open_nothing_and_write_nothing(
    backup_file: Path, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    wrong = [PASSPHRASES[0], "not one of the officers at all"]
    with pytest.raises(ConsoleError, match="do not unseal this backup"):
        verify_backup(backup_file, lambda k: wrong)
    settings = restored_settings(tmp_path, new_database_url())
    settings.data_dir.mkdir()  # an empty directory stays as it was
    with pytest.raises(ConsoleError, match="do not unseal this backup"):
        restore_backup(settings, backup_file, lambda k: wrong, who="officer:test")
    assert is_empty(settings)
    assert settings.data_dir.is_dir()


def test_a_restore_never_mixes_into_an_existing_console(
    console: Console, backup_file: Path, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    occupied = restored_settings(tmp_path, new_database_url(), "occupied")
    occupied.data_dir.mkdir()
    (occupied.data_dir / "notes.txt").write_text("someone's files")
    with pytest.raises(BackupError, match="is not empty: restore only into a new or empty"):
        restore_backup(occupied, backup_file, refuse_to_ask, who="officer:test")
    assert [p.name for p in occupied.data_dir.iterdir()] == ["notes.txt"]

    into_live = restored_settings(tmp_path, console.settings.database_url, "fresh")
    with pytest.raises(BackupError, match="the database already holds tables"):
        restore_backup(into_live, backup_file, refuse_to_ask, who="officer:test")
    assert not into_live.data_dir.exists()
    assert console.verify_audit()[0] == 2  # the live console is untouched

    with pytest.raises(BackupError, match="already exists; a backup never replaces"):
        make_backup(console, backup_file)


def test_a_backup_from_a_newer_lanthorn_is_refused_before_anything_is_written(
    console: Console,
    tmp_path: Path,
    new_database_url: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("triage.backup.current_revision", lambda connection: "9999")
    path = tmp_path / "future.lbk"
    make_backup(console, path)
    monkeypatch.undo()
    with pytest.raises(BackupError, match="made by a newer version of Lanthorn.*revision 9999"):
        verify_backup(path, officers)
    settings = restored_settings(tmp_path, new_database_url())
    with pytest.raises(BackupError, match=f"knows revisions up to {revisions()[-1]}"):
        restore_backup(settings, path, officers, who="officer:test")
    assert is_empty(settings)


def test_a_backup_of_an_older_schema_is_loaded_at_it_and_upgraded(
    site: Site, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    made = populate(site)
    original = site.console
    before = shows(original)
    command.downgrade(alembic_config(original.engine), "0004")  # as an older Lanthorn left it
    path = tmp_path / "old.lbk"
    contents = make_backup(original, path)
    assert contents.revision == "0004"
    assert "units" not in contents.tables
    settings = restored_settings(tmp_path, new_database_url())
    restore_backup(settings, path, officers, who="officer:restore")
    restored = Console(settings, unseal(settings, PASSPHRASES[:2]), who="officer:test")
    try:
        # Schema 0004 holds nothing of the signed conversation (0009): the reporters' keys
        # and the chains are gone with it, and come back with the next items.
        v2 = ("signed", "sign_key_mismatch", "warnings")

        # Nor the moment each item was stored, to the millisecond (0015): the timeline
        # orders such items by their sequence instead.
        def untimed(shown: dict[str, Any]) -> dict[str, Any]:
            for page in shown.values():
                page["messages"] = [{**m, "at": None} for m in page["messages"]]
            return shown

        assert untimed(strip(shows(restored), v2)) == untimed(strip(before, v2))
        assert len(rows(restored, "units")) == 8  # made by the upgrade, as for any old console
        assert links.concerns(restored, made["urgent"])
        restored.verify_audit()
    finally:
        restored.close()


def test_backup_and_restore_keep_memory_flat_for_large_files(
    console: Console, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    big = 48 << 20
    pending = console.blobs.start()
    for _ in range(big >> 20):
        pending.write(os.urandom(1 << 20))
    blob_id = pending.commit(console._today())
    path = tmp_path / "big.lbk"
    tracemalloc.start()
    try:
        make_backup(console, path)
        verify_backup(path, officers)
        settings = restored_settings(tmp_path, new_database_url())
        restore_backup(settings, path, officers, who="officer:test")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, f"peak {peak >> 20} MiB for a {big >> 20} MiB file"
    copy = settings.blob_dir / blob_id
    assert copy.read_bytes() == console.blobs.path(blob_id).read_bytes()
    assert copy.stat().st_mtime == console.blobs.path(blob_id).stat().st_mtime  # the day only


# -- across database engines -----------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[Callable[[], str]]:
    """Empty PostgreSQL databases (a schema each), whatever backend the test runs on."""
    if not POSTGRES_URL:
        pytest.skip("LANTHORN_TEST_POSTGRES_URL is not set")
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    made: list[str] = []

    def make() -> str:
        name = f"lanthorn_test_{secrets.token_hex(6)}"
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        made.append(name)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"

    yield make
    with psycopg.connect(plain, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.mark.parametrize("database_backend", ["sqlite"], indirect=True)
def test_a_sqlite_console_restores_into_postgresql_and_back(
    site: Site, tmp_path: Path, postgres_url: Callable[[], str]
) -> None:
    made = populate(site)
    before = shows(site.console)
    first = tmp_path / "from-sqlite.lbk"
    make_backup(site.console, first)
    on_postgres = restored_settings(tmp_path, postgres_url(), "postgres")
    restore_backup(on_postgres, first, officers, who="officer:restore")
    middle = Console(on_postgres, unseal(on_postgres, PASSPHRASES[:2]), who="officer:test")
    try:
        assert shows(middle) == before
        middle.reply(made["api_case"], "from the console on PostgreSQL")  # sequences moved on
        second = tmp_path / "from-postgres.lbk"
        make_backup(middle, second)
        on_sqlite = restored_settings(tmp_path, f"sqlite+pysqlite:///{tmp_path / 'back.db'}")
        restore_backup(on_sqlite, second, officers, who="officer:restore")
        back = Console(on_sqlite, unseal(on_sqlite, PASSPHRASES[:2]), who="officer:test")
        try:
            assert shows(back) == shows(middle)
            assert back.verify_audit()[0] == middle.verify_audit()[0]  # + restore, - backup
            for table in ("officers", "concerns", "outgoing", "items"):
                assert rows(back, table) == rows(middle, table), table
        finally:
            back.close()
    finally:
        middle.close()


# -- the commands ------------------------------------------------------------------------


def run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LANTHORN_")}
    environ.update(
        LANTHORN_VAULT_KDF="1,8", LANTHORN_UNSEAL_PASSPHRASES=",".join(PASSPHRASES), **env or {}
    )
    return run_lanthorn(args, environ)


def test_the_commands_back_up_verify_and_restore(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    data, backup = tmp_path / "console", tmp_path / "console.lbk"
    assert run("triage", "init", "--data", data).returncode == 0
    assert run("triage", "officer", "--data", data, "ada", "--role", "admin").returncode == 0
    made = run("triage", "backup", "--data", data, "--out", backup)
    assert made.returncode == 0, made.stderr
    assert "SHA-256" in made.stdout
    checked = run("triage", "backup-verify", backup)
    assert checked.returncode == 0, checked.stderr
    assert "is whole and authentic" in checked.stdout
    sha = made.stdout.split("SHA-256 ")[1].split(".")[0]
    assert sha in checked.stdout

    url = new_database_url()
    restored = run(
        "triage", "restore", "--data", tmp_path / "new", "--from", backup,
        env={"LANTHORN_DATABASE_URL": url},
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert "The audit log verifies" in restored.stdout
    audit = run("triage", "audit", "verify", "--data", tmp_path / "new",
                env={"LANTHORN_DATABASE_URL": url})  # fmt: skip
    assert audit.returncode == 0, audit.stderr

    again = run("triage", "restore", "--data", tmp_path / "new", "--from", backup)
    assert again.returncode == 1
    assert "is not empty" in again.stderr
    truncated = tmp_path / "cut.lbk"
    truncated.write_bytes(backup.read_bytes()[:-500])
    broken = run("triage", "backup-verify", truncated)
    assert broken.returncode == 1
    assert "is cut off" in broken.stderr
    for args in ("backup", "backup-verify", "restore"):
        helped = run("triage", args, "--help")
        assert helped.returncode == 0
        assert f"lanthorn triage {args} " in helped.stdout  # an example to copy


def test_a_failed_backup_leaves_no_part_file(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("triage.backup._dump_blobs", broken)
    with contextlib.suppress(OSError):
        make_backup(console, tmp_path / "x.lbk")
    assert list(tmp_path.glob("x.lbk*")) == []
    assert all(entry["action"] != "backup" for entry in console.audit_entries())


def test_contents_counts_what_it_holds(backup_file: Path) -> None:
    contents: Contents = verify_backup(backup_file, officers)
    assert contents.audit_broken_at is None
    assert contents.tables["audit"] == contents.audit_entries == 1
    assert contents.revision == revisions()[-1]


def test_a_backup_is_one_snapshot_of_the_database(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = backup_module._dump_table
    calls: list[str] = []

    def busy(connection: Any, table: Any, *args: Any) -> Any:
        if not calls:  # another officer works while the first table is read
            with console.sessions() as session:
                console.audit(session, "written during the backup")
                session.commit()
        calls.append(table.name)
        return real(connection, table, *args)

    monkeypatch.setattr("triage.backup._dump_table", busy)
    path = tmp_path / "busy.lbk"
    contents = make_backup(console, path)
    assert verify_backup(path, officers).audit_entries == contents.audit_entries == 0
    live = console.audit_entries()
    assert [e["action"] for e in live] == ["written during the backup", "backup"]
    assert live[-1]["audit_head"] == contents.audit_head == crypto.AUDIT_GENESIS.hex()
    console.verify_audit()
