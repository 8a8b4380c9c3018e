"""Referral packages: what goes to the police must not carry what would name the reporter."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from pypdf import PdfReader

from tests.portal.conftest import Portal
from tests.portal.forms import submit_report
from triage import strip_pictures
from triage.console import Console
from triage.not_strippable import NotStrippable
from triage.redaction import identity_passages
from triage.referral import ReferralError, export_referral
from triage.strip import strip

from .conftest import Site, case_ids, enrol
from .officer_pages import action_fields

LANTHORN = Path(sys.executable).with_name("lanthorn")
IDENTITY = "Dana Whitlock, night officer on C wing, staff number 40417"
PASSAGE = "the laundry cupboard behind the servery"
DESCRIPTION = (
    "On the night shift Officer R. Hale took a prisoner into the laundry cupboard\n"
    "behind the servery and locked the door. I, Dana Whitlock, saw it on camera 4."
)


def _photo() -> tuple[bytes, Image.Image]:
    picture = Image.new("RGB", (48, 32), (180, 40, 20))
    exif = Image.Exif()
    exif[0x010F] = "Whitlock-phone"  # camera make
    exif[0xA431] = "SERIAL-99X"  # body serial number
    exif[0x8825] = {1: "N", 2: (51.0, 27.0, 6.0), 3: "W", 4: (0.0, 11.0, 5.0)}  # GPS
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken by Dana Whitlock")
    return out.getvalue() + b"TRAILER Whitlock", picture


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dana Whitlock")
    info.add_itxt("Location", "C wing servery")
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 90, 0)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _film() -> bytes:
    """A minimal MP4: ftyp, moov (mvhd, udta with a ©xyz GPS position), mdat."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    udta = box(b"udta", box(b"\xa9xyz", b"+51.4517-000.1847/") + box(b"\xa9mak", b"Whitlock"))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + udta)
    return box(b"ftyp", b"isom\x00\x00\x02\x00isom") + moov + box(b"mdat", b"FRAMES" * 50)


@pytest.fixture
def referred(pair: tuple[Portal, Console]) -> tuple[Console, str, bytes]:
    portal, console = pair
    photo, _ = _photo()
    response = submit_report(
        portal.client(),
        files=[
            ("Whitlock camera 4.jpg", photo, "image/jpeg"),
            ("still.png", _png(), "image/png"),
            ("clip.mp4", _film(), "video/mp4"),
            ("notes.txt", b"rota for nights", "text/plain"),
        ],
        category="staff_sexual_misconduct",
        description=DESCRIPTION,
        subjects="Officer R. Hale",
        identity=IDENTITY,
    )
    assert response.status_code == 201, response.text
    console.sync(portal.url)
    return console, case_ids(console)[0], photo


def _export(console: Console, case_id: str, tmp_path: Path, **options: object) -> Path:
    out = tmp_path / "package.zip"
    with out.open("w+b") as handle:
        export_referral(
            console,
            case_id,
            unit=str(options.pop("unit", "police_liaison")),
            reason="Police asked for the case under the protocol",
            passages=options.pop("passages", [PASSAGE]),  # type: ignore[arg-type]
            out=handle,
            **options,  # type: ignore[arg-type]
        )
    return out


def _everything(package: Path) -> bytes:
    """Every member's bytes, and every PDF stream decompressed: where a leak would hide."""
    with zipfile.ZipFile(package) as archive:
        parts = [archive.read(name) for name in archive.namelist()]
        parts.append(" ".join(archive.namelist()).encode())
        pdf = PdfReader(io.BytesIO(archive.read("referral.pdf")))
        for page in pdf.pages:
            parts.append(page.extract_text().encode())
            contents = page.get_contents()
            if contents is not None:
                parts.append(contents.get_data())
        parts.append(json.dumps(pdf.metadata or {}, default=str).encode())
    return b"\n".join(parts)


def test_the_pdf_and_bundle_hold_the_case_without_the_identity_or_the_redacted_passage(
    referred: tuple[Console, str, bytes], tmp_path: Path
) -> None:
    console, case_id, _ = referred
    package = _export(console, case_id, tmp_path)
    with zipfile.ZipFile(package) as archive:
        pdf = PdfReader(io.BytesIO(archive.read("referral.pdf")))
        text = "\n".join(page.extract_text() for page in pdf.pages)
        bundle = json.loads(archive.read("referral.json"))
    flat = " ".join(text.split())
    # The case is there to act on …
    assert f"Referral of case {case_id}" in flat
    assert "Officer R. Hale took a prisoner into [redacted] and locked the door" in flat
    assert "Police liaison" in flat
    assert "Police asked for the case" in flat
    assert bundle["description"].startswith("On the night shift Officer R. Hale took")
    assert bundle["identity"] == "withheld"
    assert bundle["format"] == "lanthorn-referral/1"
    # … and what names the reporter, or was chosen for redaction, is nowhere in it.
    everything = _everything(package).decode("latin-1").casefold()
    for secret in ("laundry cupboard", "servery", "whitlock", "40417", "serial-99x"):
        assert secret not in everything, secret
    assert bundle["description"].count("[redacted]") == 2  # the passage and the name


def test_attachments_are_listed_by_hash_and_copied_without_their_metadata(
    referred: tuple[Console, str, bytes], tmp_path: Path
) -> None:
    console, case_id, photo = referred
    package = _export(console, case_id, tmp_path)
    with zipfile.ZipFile(package) as archive:
        bundle = json.loads(archive.read("referral.json"))
        listed = {entry["sha256"]: entry for entry in bundle["attachments"]}
        assert hashlib.sha256(photo).hexdigest() in listed  # the original's hash, as evidence
        jpeg, png, film, text = bundle["attachments"]
        assert jpeg["name"] == "[redacted] camera 4.jpg"
        assert jpeg["copy"]["removed"] == ["EXIF/XMP", "comment", "data after the end of the image"]
        copy = archive.read(jpeg["copy"]["path"])
        assert hashlib.sha256(copy).hexdigest() == jpeg["copy"]["sha256"]
        shown = Image.open(io.BytesIO(copy))
        assert dict(shown.getexif()) == {}
        assert shown.tobytes() == Image.open(io.BytesIO(photo)).tobytes()  # same pixels
        assert b"Whitlock" not in copy
        assert b"SERIAL" not in copy
        assert b"Whitlock" not in archive.read(png["copy"]["path"])
        film_copy = archive.read(film["copy"]["path"])
        assert len(film_copy) == film["size"]  # same size: no sample offset moved
        assert b"+51.4517" not in film_copy
        assert b"FRAMES" * 50 in film_copy
        assert text["copy"] is None
        assert "cannot remove metadata" in text["note"]
        assert not any(name.startswith("originals/") for name in archive.namelist())
        sums = archive.read("SHA256SUMS").decode().splitlines()
        for line in sums:
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
        assert {line.split("  ", 1)[1] for line in sums} == set(archive.namelist()) - {"SHA256SUMS"}


def test_originals_come_only_when_asked_for_and_match_the_reported_hash(
    referred: tuple[Console, str, bytes], tmp_path: Path
) -> None:
    console, case_id, photo = referred
    package = _export(console, case_id, tmp_path, originals=True)
    with zipfile.ZipFile(package) as archive:
        bundle = json.loads(archive.read("referral.json"))
        original = archive.read(bundle["attachments"][0]["original"])
    assert original == photo
    assert console.audit_entries()[-1]["originals"] is True


def test_the_export_is_audited_without_the_passages(
    referred: tuple[Console, str, bytes], tmp_path: Path
) -> None:
    console, case_id, _ = referred
    package = _export(console, case_id, tmp_path)
    entry = console.audit_entries()[-1]
    assert entry["action"] == "export referral"
    assert entry["case"] == case_id
    assert entry["unit"] == "police_liaison"
    assert entry["passages"] == 1
    assert entry["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert entry["files"] == 4
    assert entry["stripped"] == 3
    assert "laundry" not in json.dumps(console.audit_entries())
    console.verify_audit()


@pytest.mark.parametrize(
    ("passages", "unit", "reason", "problem"),
    [
        (["the laundry cupbord"], "police_liaison", "asked", "do not appear in the case"),
        (["C"], "police_liaison", "asked", "too short to redact safely"),
        ([PASSAGE], "the_press", "asked", "choose the unit"),
        ([PASSAGE], "police_liaison", " ", "say why"),
    ],
)
def test_a_package_that_would_mislead_is_refused_with_the_reason(
    referred: tuple[Console, str, bytes],
    tmp_path: Path,
    passages: list[str],
    unit: str,
    reason: str,
    problem: str,
) -> None:
    console, case_id, _ = referred
    before = len(console.audit_entries())
    with pytest.raises(ReferralError, match=problem):
        export_referral(
            console,
            case_id,
            unit=unit,
            reason=reason,
            passages=passages,
            out=io.BytesIO(),
        )
    assert len(console.audit_entries()) == before
    assert list(tmp_path.glob("referral-*")) == []  # no decrypted scratch left behind


def test_a_passage_is_found_across_case_and_line_breaks() -> None:
    from triage.redaction import Redactor

    redact = Redactor(["Laundry Cupboard BEHIND the"])
    assert (
        redact("into the laundry\n  cupboard behind  the servery") == "into the [redacted] servery"
    )
    assert redact.missing() == []


def test_what_an_identity_names_is_redacted_but_not_common_words() -> None:
    found = identity_passages("Dana Whitlock, night officer on C wing, staff number 40417")
    assert {"Dana Whitlock", "Dana", "Whitlock", "40417"} <= set(found)
    assert not {"officer", "wing", "C", "on", "night"} & set(found)
    assert "محمد" in identity_passages("محمد, wing 3")  # a script without capitals


def test_an_investigator_exports_for_their_own_unit_through_the_page(
    site: Site, tmp_path: Path
) -> None:
    submit_report(
        site.portal.client(),
        category="staff_sexual_misconduct",
        description=DESCRIPTION,
        identity=IDENTITY,
    )
    site.console.sync(site.portal.url)
    case_id = case_ids(site.console)[0]
    triage, _ = enrol(site, "tara", "triage")
    page = triage.get(f"/cases/{case_id}").text
    routed = triage.post(
        f"/cases/{case_id}/route",
        data={
            **action_fields(page, f"/cases/{case_id}/route"),
            "unit": "police_liaison",
            "reason": "sexual offence",
        },
        follow_redirects=True,
    )
    assert "Case routed" in routed.text
    police, _ = enrol(site, "pat", "investigator", "police_liaison")
    page = police.get(f"/cases/{case_id}").text
    assert 'action="/cases/' + case_id + '/referral"' in page
    form = {
        **action_fields(page, f"/cases/{case_id}/referral"),
        "unit": "police_liaison",
        "reason": "for the police investigation",
        "passages": PASSAGE + "\n",
    }
    response = police.post(f"/cases/{case_id}/referral", data=form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"referral-{case_id}-police_liaison" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "servery" not in archive.read("referral.json").decode()
    # Sent again (a double click): no second package.
    again = police.post(f"/cases/{case_id}/referral", data=form)
    assert again.status_code == 303
    assert "This was already done." in police.get(again.headers["location"]).text
    # A misspelt passage: the page again, with the reason and what was typed, and nothing
    # exported.
    page = police.get(f"/cases/{case_id}").text
    form = {
        **form,
        **action_fields(page, f"/cases/{case_id}/referral"),
        "passages": "the laundry cupbord",
    }
    refused = police.post(f"/cases/{case_id}/referral", data=form)
    assert refused.status_code == 422
    assert "do not appear in the case" in refused.text
    assert ">the laundry cupbord</textarea>" in refused.text
    # No CSRF token, no package.
    assert police.post(f"/cases/{case_id}/referral", data={**form, "csrf": ""}).status_code == 403
    # Another unit's investigator, the auditor and the admin may not export.
    for username, role, unit in [
        ("gina", "investigator", "governor"),
        ("aud", "auditor", None),
        ("adam", "admin", None),
    ]:
        other, _ = enrol(site, username, role, unit)
        assert other.post(f"/cases/{case_id}/referral", data=form).status_code == 403
    exports = [e for e in site.console.audit_entries() if e["action"] == "export referral"]
    assert [e["who"] for e in exports] == ["officer:pat"]


def test_the_command_line_writes_the_package_and_refuses_a_misspelt_passage(
    referred: tuple[Console, str, bytes], tmp_path: Path
) -> None:
    from .conftest import PASSPHRASES

    console, case_id, _ = referred
    (tmp_path / "passages.txt").write_text(PASSAGE + "\n\n", encoding="utf-8")
    env = {
        **os.environ,
        "LANTHORN_DATABASE_URL": console.settings.database_url,
        "LANTHORN_UNSEAL_PASSPHRASES": ",".join(PASSPHRASES[:2]),
    }
    base = [LANTHORN, "triage", "referral", "--data", console.settings.data_dir, case_id]
    base += ["--unit", "police_liaison", "--reason", "police request"]

    def run(*extra: object) -> subprocess.CompletedProcess[str]:
        command = [str(part) for part in (*base, *extra)]
        return subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, env=env, check=False, cwd=tmp_path
        )

    wrong = run("--redact", "the laundry cupbord")
    assert wrong.returncode == 1
    assert "do not appear in the case" in wrong.stderr
    assert list(tmp_path.glob("*.zip*")) == []  # nothing half-written is left
    done = run("--redact-file", tmp_path / "passages.txt", "--out", tmp_path / "out.zip")
    assert done.returncode == 0, done.stderr
    assert "not encrypted" in done.stdout
    assert "3 places redacted" in done.stdout  # the passage; the name in the text and a file
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert "servery" not in archive.read("referral.json").decode()
    again = run("--out", tmp_path / "out.zip")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_the_pdf_draws_every_script_the_kiosk_offers() -> None:
    from triage.referral_pdf import render_pdf

    words = ["ضربني الضابط", "ਅਫ਼ਸਰ ਨੇ ਮਾਰਿਆ", "অফিসার আমাকে", "źdźbło żółć", "Tiếng Việt"]
    bundle = {
        "case": "X1",
        "unit_name": "Police liaison",
        "exported_on": "2026-11-27",
        "reason": "request",
        "facility": "HMP Demo",
        "category": "use_of_force",
        "category_label": "Use of force",
        "reported_category": "use_of_force",
        "severity": None,
        "urgent": False,
        "received_on": "2026-11-27",
        "channel": "kiosk",
        "identity": None,
        "description": " / ".join(words),
        **dict.fromkeys(["location", "occurred", "subjects", "witnesses"], ""),
        "conversation": [],
        "history": [],
        "attachments": [],
    }
    text = PdfReader(io.BytesIO(render_pdf(bundle))).pages[0].extract_text()
    text = "".join(c for c in text if c >= " " or c == "\n")  # shaping leaves marks behind
    for word in words[1:]:  # Arabic comes out reordered by the extractor, not lost
        assert word.split()[0] in text, word
    assert "الضابط" in text


# -- the strippers on their own ------------------------------------------------------------


def test_damaged_pictures_are_not_copied_rather_than_half_stripped() -> None:
    photo, _ = _photo()
    for damaged in (photo[:200], photo[:2] + b"\xff\xe1\xff\xff" + photo[6:40]):
        with pytest.raises(NotStrippable, match="damaged"):
            strip(damaged)
    png = _png()
    with pytest.raises(NotStrippable, match="checksum"):
        strip(png[:40] + bytes([png[40] ^ 1]) + png[41:])


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400),
    st.sampled_from([b"\xff\xd8\xff", strip_pictures.PNG_SIGNATURE, b"ftyp"]),
)
def test_any_bytes_either_strip_or_are_refused_cleanly(tail: bytes, head: bytes) -> None:
    data = (b"\x00\x00\x00\x10" + head if head == b"ftyp" else head) + tail
    try:
        result = strip(data)
    except NotStrippable:
        return
    assert result.format in {"JPEG", "PNG", "MP4"}


def test_the_package_says_which_language_the_reporter_wrote_in_and_uses_words(
    pair: tuple[Portal, Console], tmp_path: Path
) -> None:
    portal, console = pair
    reporter = portal.client()
    reporter.get("/language/pl", params={"next": "/report/third-party"})
    submit_report(reporter, channel="third-party", category="use_of_force")
    console.sync(portal.url)
    [case_id] = case_ids(console)
    console.assess(case_id, category="use_of_force", severity="critical", urgent=False)
    console.record(case_id, "police_contacted")
    package = _export(console, case_id, tmp_path, passages=[])
    with zipfile.ZipFile(package) as archive:
        bundle = json.loads(archive.read("referral.json"))
        pdf = PdfReader(io.BytesIO(archive.read("referral.pdf")))
        flat = " ".join("\n".join(page.extract_text() for page in pdf.pages).split())
    assert (bundle["language"], bundle["language_name"]) == ("pl", "Polski (Polish)")
    assert (bundle["channel"], bundle["severity"]) == ("third_party", "critical")  # for systems
    assert "Reporter's language Polski (Polish)" in flat
    assert "Reported through Third party: someone reporting for a person inside" in flat
    assert "Severity Critical" in flat
    assert "Contacted the police" in flat  # the case history, in words
    for value in ("third_party", "police_contacted", "critical"):
        assert value not in flat, value
