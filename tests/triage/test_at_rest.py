"""A stolen console disk: nothing a reporter sent or an officer wrote is on it in the clear.

Issue 17, findings 6 and 7. A canary string goes into every field of a report, every file
name and file, and every text an officer writes; every console operation runs; then the
bytes of every file under the console's data directory, its SQLite database (WAL and
journal included) and its temporary directory are searched for it. On PostgreSQL the
database is not a file here: the audit rows' stored bytes are checked instead.
"""

from __future__ import annotations

import ctypes
import datetime
import io
import os
import secrets
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import crypto
from tests.portal.conftest import Portal
from tests.portal.forms import submit_report
from triage import case_commands
from triage.backup import make_backup
from triage.case_pages import _route
from triage.console import Console, prepare_database
from triage.db import Case, make_engine
from triage.keys import key_ceremony
from triage.migrations import upgrade
from triage.referral import export_referral
from triage.retention import purge_expired
from triage.settings import TriageSettings

from .conftest import PASSPHRASES, Site, case_ids, enrol
from .officer_pages import action_fields


def _canary(what: str) -> str:
    return f"CANARY{secrets.token_hex(4)}{what}"


def _report(portal: Portal, console: Console, tag: str, **fields: object) -> str:
    before = set(case_ids(console))
    response = submit_report(portal.client(), **fields)
    assert response.status_code == 201, response.text
    console.sync(portal.url)
    [case_id] = set(case_ids(console)) - before
    return case_id


def _audit_rows(console: Console) -> list[bytes]:
    """The audit table's rows as the database stores them (text column: its bytes)."""
    with console.engine.connect() as connection:
        return [
            str(entry).encode() + bytes(digest)
            for entry, digest in connection.execute(sa.text("SELECT entry, digest FROM audit"))
        ]


def _database_files(console: Console) -> list[Path]:
    url = console.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    main = Path(url.database)
    return [p for p in main.parent.iterdir() if p.name.startswith(main.name)]


def _files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink():
                    yield path


def _holding(needle: str, *roots: Path) -> list[str]:
    """Every file under `roots` whose bytes contain `needle` (UTF-8 or UTF-16)."""
    found = []
    forms = (needle.encode(), needle.encode("utf-16-le"), needle.encode("utf-16-be"))
    for path in _files_under(*roots):
        data = path.read_bytes()
        if any(form in data for form in forms):
            found.append(str(path))
    return found


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The console's temporary directory for the test: what `tempfile` and SQLite use."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setenv("SQLITE_TMPDIR", str(folder))
    return folder


# -- finding 6: officers' reasons in the audit table -----------------------------------------


def test_officers_words_are_sealed_in_the_audit_log_and_the_chain_still_names_a_bad_entry(
    pair: tuple[Portal, Console], capsys: pytest.CaptureFixture[str]
) -> None:
    portal, console = pair
    case_id = _report(portal, console, "x", description="The night cleaner saw it.")
    words = {
        "assess": _canary("assess reason: the night cleaner on B wing"),
        "route": _canary("route reason"),
        "export referral": _canary("referral reason"),
    }
    console.assess(
        case_id,
        category="staff_sexual_misconduct",
        severity="high",
        urgent=True,
        reason=words["assess"],
    )
    _route(console, case_id, "police_liaison", words["route"])
    export_referral(
        console,
        case_id,
        unit="police_liaison",
        reason=words["export referral"],
        passages=[],
        out=io.BytesIO(),
    )
    stored = b"\n".join(_audit_rows(console))
    assert b"CANARY" not in stored  # not the reasons, on SQLite or PostgreSQL
    for path in _database_files(console):
        assert b"CANARY" not in path.read_bytes(), path

    entries = console.audit_entries()  # opened for the audit page
    shown = {e["action"]: e.get("reason") for e in entries if e["action"] in words}
    assert shown == words
    count, _ = console.verify_audit()  # the chain verifies over the sealed form
    assert count == len(entries)

    # A sealed reason swapped for another (each opens): the chain breaks at that entry,
    # and the command line names it.
    with console.engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT seq, entry FROM audit ORDER BY seq")).all()
        index = {a: i for i, (_, e) in enumerate(rows) for a in words if f'"{a}"' in e}
        seq_route, route_entry = rows[index["route"]]
        _, assess_entry = rows[index["assess"]]
        sealed_assess = assess_entry.split('"reason":')[1].split("}")[0] + "}"
        sealed_route = route_entry.split('"reason":')[1].split("}")[0] + "}"
        changed = route_entry.replace(sealed_route, sealed_assess)
        assert changed != route_entry
        connection.execute(
            sa.text("UPDATE audit SET entry = :e WHERE seq = :s"), {"e": changed, "s": seq_route}
        )
    with pytest.raises(crypto.AuditChainBroken) as broken:
        console.verify_audit()
    assert broken.value.index == index["route"]
    assert case_commands.audit_verify(console) == 1
    assert f"AUDIT LOG BROKEN at entry {index['route'] + 1}" in capsys.readouterr().err


def test_the_audit_page_shows_the_reasons_to_the_auditor(site: Site) -> None:
    submit_report(site.portal.client(), description="Something happened on C wing.")
    site.console.sync(site.portal.url)
    case_id = case_ids(site.console)[0]
    triage, _ = enrol(site, "tara", "triage")
    page = triage.get(f"/cases/{case_id}").text
    reason = "the night cleaner is probably the reporter"
    routed = triage.post(
        f"/cases/{case_id}/route",
        data={
            **action_fields(page, f"/cases/{case_id}/route"),
            "unit": "police_liaison",
            "reason": reason,
        },
        follow_redirects=True,
    )
    assert "Case routed" in routed.text
    auditor, _ = enrol(site, "aud", "auditor")
    audit = auditor.get("/audit").text
    assert reason in audit
    assert "The chain is intact" in audit
    assert b"night cleaner" not in b"".join(_audit_rows(site.console))


def _old_console(
    console_settings: TriageSettings, reasons: list[str], *, break_at: int | None = None
) -> tuple[TriageSettings, object]:
    """A console database at migration 0009 whose audit log holds `reasons` in the clear,
    as consoles before the sealing wrote them (chained with the console's audit key)."""
    console_settings.data_dir.mkdir()
    unsealed = key_ceremony(console_settings, PASSPHRASES, 2)
    engine = make_engine(console_settings.database_url)
    upgrade(engine, "0009")
    key = unsealed.subkey("audit")
    previous = crypto.AUDIT_GENESIS
    with engine.begin() as connection:
        for number, reason in enumerate(reasons):
            entry = {
                "at": f"2026-01-0{number + 1}T10:00:00+00:00",
                "who": "officer:tara",
                "action": "route",
                "case": "ABCDEFGH",
                "unit": "police_liaison",
                "reason": reason,
            }
            previous = crypto.audit_digest(previous, entry, key)
            digest = bytes(32) if number == break_at else previous
            connection.execute(
                sa.text("INSERT INTO audit (entry, digest) VALUES (:e, :d)"),
                {"e": crypto.canonical_entry(entry).decode(), "d": digest},
            )
    engine.dispose()
    return console_settings, unsealed


def test_an_upgrade_seals_the_reasons_an_older_console_wrote_in_the_clear(
    console_settings: TriageSettings,
) -> None:
    reasons = [_canary(f"reason {n}") for n in range(3)]
    settings, unsealed = _old_console(console_settings, reasons)
    prepare_database(settings)  # the web console starting sealed: the sealing waits
    console = Console(settings, unsealed, who="officer:test")  # type: ignore[arg-type]
    try:
        assert b"CANARY" not in b"".join(_audit_rows(console))
        for path in _database_files(console):
            assert b"CANARY" not in path.read_bytes(), path
        entries = console.audit_entries()
        assert [e.get("reason") for e in entries[:3]] == reasons
        assert entries[3]["action"] == "sealed officers' words"
        assert entries[3]["entries"] == 3
        count, _ = console.verify_audit()
        assert count == 4
    finally:
        console.close()


def test_an_upgrade_keeps_a_broken_chain_broken_at_the_same_entry(
    console_settings: TriageSettings,
) -> None:
    reasons = [_canary(f"reason {n}") for n in range(4)]
    settings, unsealed = _old_console(console_settings, reasons, break_at=2)
    console = Console(settings, unsealed, who="officer:test")  # type: ignore[arg-type]
    try:
        assert b"CANARY" not in b"".join(_audit_rows(console))
        with pytest.raises(crypto.AuditChainBroken) as broken:
            console.verify_audit()
        assert broken.value.index == 2  # the sealing did not launder the break
        assert [e.get("reason") for e in console.audit_entries()[:4]] == reasons
    finally:
        console.close()


# -- finding 7: referral exports written to the data directory ---------------------------------

_IN_CREATE, _IN_MOVED_TO, _IN_CLOSE_WRITE, _IN_MODIFY = 0x100, 0x80, 0x8, 0x2
_IN_MOVED_FROM = 0x40


class _Watch:
    """Every file created or written under some folders (Linux inotify, through libc); a
    file renamed (a `.part` made whole) counts under its new name."""

    def __init__(self, *roots: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, ctypes.get_errno()
        self.folders: dict[int, Path] = {}
        for root in roots:
            for folder, _, _ in os.walk(root):
                self._add(Path(folder))

    def _add(self, folder: Path) -> None:
        mask = _IN_CREATE | _IN_MOVED_TO | _IN_MOVED_FROM | _IN_CLOSE_WRITE | _IN_MODIFY
        wd = self.libc.inotify_add_watch(self.fd, str(folder).encode(), mask)
        if wd >= 0:
            self.folders[wd] = folder

    def touched(self) -> set[str]:
        found: set[str] = set()
        renamed: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            at = 0
            while at < len(data):
                wd, mask, _, size = struct.unpack_from("iIII", data, at)
                name = data[at + 16 : at + 16 + size].rstrip(b"\0").decode()
                path = str(self.folders.get(wd, Path("?")) / name)
                (renamed if mask & _IN_MOVED_FROM else found).add(path)
                at += 16 + size
        return found - renamed

    def close(self) -> None:
        os.close(self.fd)


def _is_database_file(name: str, console: Console) -> bool:
    return any(name == str(p) for p in _database_files(console)) or Path(name).name.startswith(
        ("console.db",)
    )


def test_a_referral_export_from_the_page_writes_nothing_to_disk(
    site: Site, private_tmp: Path, tmp_path: Path
) -> None:
    secret = _canary("film")
    film = _mp4(secret)
    submit_report(
        site.portal.client(),
        description=f"{secret} description",
        files=[("clip.mp4", film, "video/mp4"), ("notes.txt", secret.encode(), "text/plain")],
    )
    site.console.sync(site.portal.url)
    case_id = case_ids(site.console)[0]
    _route(site.console, case_id, "police_liaison", "for the police")
    police, _ = enrol(site, "pat", "investigator", "police_liaison")
    page = police.get(f"/cases/{case_id}").text
    # The page says which formats are copied without metadata, and what happens to others.
    assert "<strong>MP4 and QuickTime</strong>: removed:" in page
    assert "is <strong>not copied</strong>" in page
    form = {
        **action_fields(page, f"/cases/{case_id}/referral"),
        "unit": "police_liaison",
        "reason": "for the police investigation",
        "passages": "",
        "originals": "yes",
    }
    data_dir = site.console.settings.data_dir
    watch = _Watch(data_dir, private_tmp)
    try:
        response = police.post(f"/cases/{case_id}/referral", data=form)
        assert response.status_code == 200, response.text
        touched = watch.touched()
    finally:
        watch.close()
    package = zipfile.ZipFile(io.BytesIO(response.content))
    assert secret.encode() in package.read("originals/02-notes.txt")  # the package has it
    written = sorted(n for n in touched if not _is_database_file(n, site.console))
    assert written == []  # nothing else was created or written while it was built
    assert _holding(secret, data_dir, private_tmp, *_database_files(site.console)) == []


def _mp4(secret: str) -> bytes:
    """A small MP4 (ftyp, moov with mvhd, mdat) whose film data holds `secret`."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    moov = box(b"moov", box(b"mvhd", bytes(100)))
    return box(b"ftyp", b"isom\x00\x00\x02\x00isom") + moov + box(b"mdat", secret.encode() * 50)


# -- the canary scan: every operation ---------------------------------------------------------


def test_no_console_operation_leaves_a_report_or_an_officers_words_on_disk_in_the_clear(
    site: Site, private_tmp: Path, tmp_path: Path
) -> None:
    console, portal = site.console, site.portal
    secret = _canary("")
    fields = {
        name: f"{secret} {name}"
        for name in ("location", "occurred", "subjects", "witnesses", "description", "identity")
    }
    case_id = _report(
        portal,
        console,
        "scan",
        facility="HMP Example",
        files=[
            (f"{secret} photo.jpg", b"\xff\xd8\xff" + secret.encode() * 20, "image/jpeg"),
            (f"{secret} clip.mp4", _mp4(secret), "video/mp4"),
        ],
        **fields,
    )
    triage, _ = enrol(site, "tara", "triage")
    # Every file written from here on: one written and deleted again is found on the disk
    # by whoever reads its free blocks, so none may hold plaintext, or exist at all.
    watch = _Watch(console.settings.data_dir, private_tmp)

    def act(action: str, **form: str) -> None:
        page = triage.get(f"/cases/{case_id}").text
        response = triage.post(
            f"/cases/{case_id}/{action}",
            data={**action_fields(page, f"/cases/{case_id}/{action}"), **form},
            follow_redirects=True,
        )
        assert response.status_code == 200, (action, response.text)

    # The pages an officer reads, and every action on a case, through the web console.
    assert secret in triage.get(f"/cases/{case_id}").text
    assert triage.get(f"/cases?q={secret}").status_code == 200  # the search
    act("reply", text=f"{secret} reply to the reporter")
    act("assess", category="staff_sexual_misconduct", severity="high", reason=f"{secret} why")
    act("concern", kind="person", name=f"{secret} officer")
    act("record", what="police_contacted")
    act("route", unit="police_liaison", reason=f"{secret} route")
    act("note", text=f"{secret} internal note")
    templates = triage.get("/templates").text
    saved = triage.post(
        "/templates",
        data={
            **action_fields(templates, "/templates"),
            "lang": "en",
            "title": f"{secret} template title",
            "text": f"{secret} template text",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200, saved.text
    assert f"{secret} internal note" in triage.get(f"/cases/{case_id}").text
    assert f"{secret} template text" in triage.get(f"/cases/{case_id}?template=1").text
    files = [a for a in console.show(case_id)["messages"][0]["files"] if a["state"] == "stored"]
    for attachment in files:
        download = triage.get(f"/cases/{case_id}/files/{attachment['blob_id']}")
        assert secret.encode() in download.content
    police, _ = enrol(site, "pat", "investigator", "police_liaison")
    page = police.get(f"/cases/{case_id}").text
    exported = police.post(
        f"/cases/{case_id}/referral",
        data={
            **action_fields(page, f"/cases/{case_id}/referral"),
            "unit": "police_liaison",
            "reason": f"{secret} referral reason",
            "passages": "",
            "originals": "yes",
        },
    )
    assert exported.status_code == 200, exported.text
    console.sync(portal.url)  # the reply goes out; a sync with nothing new
    act(
        "close",
        outcome="substantiated",
        summary=f"{secret} closing summary",
        feedback=f"{secret} feedback",
    )
    auditor, _ = enrol(site, "aud", "auditor")
    assert f"{secret} why" in auditor.get("/audit").text
    make_backup(console, console.settings.data_dir / "backup.lanthorn")
    roots = [console.settings.data_dir, private_tmp, *_database_files(console)]
    assert _holding(secret, *roots) == []
    touched = watch.touched()
    watch.close()
    gone = sorted(n for n in touched if not Path(n).exists() and not _is_database_file(n, console))
    assert gone == []  # nothing was written and deleted again: a package or a copy, say
    blobs, backup = str(console.settings.blob_dir), str(console.settings.data_dir / "backup")
    lock = str(console.settings.data_dir / "sync.lock")  # empty: one sync at a time
    written = sorted(
        n
        for n in touched
        if not (_is_database_file(n, console) or n.startswith((blobs, backup)) or n == lock)
    )
    assert written == []  # only sealed files (the database, the blob store, the backup)
    assert not Path(lock).exists() or Path(lock).stat().st_size == 0
    with console.sessions() as session:  # closed long enough ago to be purged
        case = session.get(Case, case_id)
        assert case is not None
        case.closed_on = datetime.date(2030, 1, 1)
        session.commit()
    assert purge_expired(console, today=datetime.date(2040, 1, 1)).cases
    assert _holding(secret, *roots) == []
    assert secret.encode() not in b"".join(_audit_rows(console))
