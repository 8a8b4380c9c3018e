"""Referral packages: a case exported for the unit that must act on it (the police, say).

A package is one zip file:

- `referral.pdf`: the case as a person reads it, for the unit's case file;
- `referral.json`: the same content for their systems (format `lanthorn-referral/1`);
- `attachments/`: a copy of each file with its metadata removed where the format allows
  (`triage.strip`); a file that cannot be stripped is listed, not copied;
- `originals/`: the files exactly as the reporter sent them, only when asked for;
- `SHA256SUMS`: a hash of every other file in the package.

The reporter's identity section is never included, and whatever it names (parts of it,
names, numbers) is redacted wherever else it appears. The officer chooses further
passages to redact; each must be found, so that a misspelt passage cannot leave the real
one in. Redaction happens before any text is written, so the redacted words are nowhere
in the package (the tests extract the PDF's text and look). Every export is in the audit
log with its unit, reason, counts and the package's SHA-256, never with the passages.

The package is plaintext by design: it is where a case leaves the oversight body. So it,
and every decrypted attachment and copy, is built in memory files (`ram_file`), never
in the console's data directory or temporary directory: nothing of it is left on the
console's disk, even by a crash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from sqlalchemy import select

import crypto
from foundation.categories import CATEGORIES

from . import labels
from . import units as units_module
from .console import Console
from .db import CaseEvent, Item
from .not_strippable import NotStrippable
from .redaction import Redactor, identity_passages
from .redaction import ReferralError as ReferralError  # what export_referral raises
from .referral_pdf import render_pdf
from .strip import strip_file

FORMAT = "lanthorn-referral/1"
_UNSAFE_NAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class Package:
    filename: str
    sha256: str
    size: int
    redactions: int  # occurrences replaced
    files: int  # attachments in the case
    stripped: int  # of which a metadata-free copy is in the package
    originals: bool


# -- the package ---------------------------------------------------------------------------


def export_referral(
    console: Console,
    case_id: str,
    *,
    unit: str,
    reason: str,
    passages: Iterable[str],
    out: IO[bytes],
    originals: bool = False,
) -> Package:
    """Write the package for `unit` into `out` (readable too: it is hashed) and record the
    export in the audit log.

    Each attachment is decrypted into memory while its copy is made (`ram_file`): never
    into a file on a disk, where its bytes could be read back after it was deleted, or
    found after a crash."""
    known = units_module.units(console)
    if unit not in known:
        raise ReferralError(f"choose the unit the package is for: one of {', '.join(known)}")
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise ReferralError("say why the case is being referred (it goes in the audit log)")
    with console.sessions() as session:
        case = console._case(session, case_id)
        items = session.scalars(
            select(Item).where(Item.case_id == case.id).order_by(Item.seq)
        ).all()
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        ).all()
        opened = [(item, console._open(item.content)) for item in items]
        history = [(event.kind, event.on) for event in events]
    if any(kind == "purged" for kind, _ in history):
        raise ReferralError("this case was purged at the end of its retention period")
    report = next((c["document"] for i, c in opened if i.kind == "report"), None)
    if report is None:
        raise ReferralError("this case has no report to refer")
    identity = str(report.get("identity") or "")
    redact = Redactor(passages, identity_passages(identity))
    reason = redact(reason)
    today = console._today()

    texts = {name: redact(str(report.get(name) or "")) for name in _REPORT_FIELDS}
    conversation = [
        {
            "kind": item.kind,
            "on": item.on.isoformat(),
            "text": redact(str(c["document"].get("text") or "")),
        }
        for item, c in opened
        if item.kind != "report" and "document" in c
    ]
    descriptors = [
        (d, c.get("files", {}).get(d["blob_id"], "missing"))
        for item, c in opened
        for d in c.get("document", {}).get("attachments", [])
    ]
    missing = redact.missing()
    if missing:
        raise ReferralError(
            "these passages do not appear in the case, so nothing was redacted for them: "
            + "; ".join(repr(p) for p in missing)
            + ". Check the spelling and copy the passage from the case page."
        )

    category = case.category
    language = labels.language(str(report.get("lang") or ""))
    reached = labels.sent_day(next(c for i, c in opened if i.kind == "report"), case.received_on)
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "case": case.id,
        "unit": unit,
        "unit_name": known[unit],
        "exported_on": today.isoformat(),
        "reason": reason,
        "facility": case.facility,
        "category": category,
        "category_label": CATEGORIES.get(category, category),
        "reported_category": report.get("category", ""),
        "severity": case.severity,
        "urgent": case.urgent,
        "channel": report.get("channel", ""),
        "language": language["code"],
        "language_name": language["text"],
        "received_on": case.received_on.isoformat(),
        "sent_on": report.get("sent_on", ""),
        **texts,
        # The kiosk's "Today" with the date it meant (the day the report reached the portal).
        "occurred_dates": labels.occurred({**report, "occurred": texts["occurred"]}, reached),
        "identity": "withheld" if identity else None,
        "history": [{"event": kind, "on": on.isoformat()} for kind, on in history],
        "conversation": conversation,
        "attachments": [],
        "redacted_occurrences": redact.total,
    }
    sums: list[tuple[str, str]] = []
    stripped_count = 0
    names: set[str] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        for number, (descriptor, state) in enumerate(descriptors, start=1):
            with ram_file("referral-copy") as copy:
                entry = _attachment(console, descriptor, state, number, redact, names, copy)
                if entry["copy"] is not None:
                    stripped_count += 1
                    copy.seek(0)
                    info = zipfile.ZipInfo(entry["copy"]["path"], date_time=_ZIP_TIME)
                    with package.open(info, "w", force_zip64=True) as member:
                        while block := copy.read(1 << 20):
                            member.write(block)
                    sums.append((entry["copy"]["sha256"], entry["copy"]["path"]))
                if originals and state == "stored":
                    path = f"originals/{entry['member']}"
                    with package.open(path, "w", force_zip64=True) as member:
                        _decrypt(console, descriptor, member)
                    entry["original"] = path
                    sums.append((descriptor["sha256"], path))
                del entry["member"]
                bundle["attachments"].append(entry)
        document = json.dumps(bundle, ensure_ascii=False, indent=2).encode()
        pdf = render_pdf(bundle)
        package.writestr("referral.json", document)
        package.writestr("referral.pdf", pdf)
        sums += [
            (hashlib.sha256(document).hexdigest(), "referral.json"),
            (hashlib.sha256(pdf).hexdigest(), "referral.pdf"),
        ]
        package.writestr(
            "SHA256SUMS",
            "".join(f"{digest}  {path}\n" for digest, path in sorted(sums, key=lambda s: s[1])),
        )
    size = out.tell()
    digest = _sha256_of(out, size)
    filename = f"referral-{case.id}-{unit}-{today.isoformat()}.zip"
    with console.sessions() as session:
        console._event(session, case.id, "referred", {"unit": unit})
        console.audit(
            session,
            "export referral",
            case.id,
            unit=unit,
            reason=reason[:500],
            redacted=redact.total,
            passages=len(redact.chosen),
            files=len(descriptors),
            stripped=stripped_count,
            originals=originals,
            package_sha256=digest,
        )
        session.commit()
    return Package(
        filename, digest, size, redact.total, len(descriptors), stripped_count, originals
    )


_REPORT_FIELDS = ("description", "location", "occurred", "subjects", "witnesses")


#: The time written for each copy in the zip (the time the copy was made says nothing the
#: unit needs, and a zip entry's time is read as the file's).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def ram_file(name: str) -> BinaryIO:
    """A file in memory alone (Linux `memfd_create`): no name in any directory, gone once
    closed or when the process ends, however it ends; the console's unit forbids swap
    (MemorySwapMax=0), so it never reaches a disk. Elsewhere, a BytesIO."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return io.BytesIO()
    return open(create(name, os.MFD_CLOEXEC), "w+b")  # noqa: SIM115 - the caller closes it


def _attachment(
    console: Console,
    descriptor: dict[str, Any],
    state: str,
    number: int,
    redact: Redactor,
    names: set[str],
    handle: BinaryIO,
) -> dict[str, Any]:
    name = redact(str(descriptor.get("name") or "attachment"))
    member = _member_name(number, name, names)
    entry: dict[str, Any] = {
        "name": name,
        "size": descriptor.get("size"),
        "sha256": descriptor.get("sha256"),
        "member": member,
        "copy": None,
        "note": "",
    }
    if state != "stored":
        entry["note"] = f"not on the console ({state}): only its description is listed"
        return entry
    _decrypt(console, descriptor, handle)
    try:
        kind, removed = strip_file(handle)
    except NotStrippable as exc:
        entry["note"] = (
            f"no copy: {exc}. The original is kept on the console as evidence; "
            "export it with the originals if the unit needs it, after checking it"
        )
        return entry
    handle.flush()
    size = handle.seek(0, 2)
    entry["copy"] = {
        "path": f"attachments/{member}",
        "format": kind,
        "size": size,
        "sha256": _sha256_of(handle, size),
        "removed": list(removed) or ["nothing: it carried no metadata"],
    }
    return entry


def _decrypt(console: Console, descriptor: dict[str, Any], out: IO[bytes]) -> None:
    """Write the attachment's plaintext into `out`, checking it against the report's hash."""
    reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"], length=32))
    with console.blobs.path(descriptor["blob_id"]).open("rb") as handle:
        while block := handle.read(crypto.BLOB_STORED_CHUNK):
            out.write(reader.feed(block))
    summary = reader.finish()
    if summary.sha256 != descriptor["sha256"]:
        raise ReferralError(f"the stored file {descriptor['blob_id']} is not the one reported")


def _sha256_of(handle: IO[bytes], size: int) -> str:
    handle.seek(0)
    digest = hashlib.sha256()
    left = size
    while left > 0 and (block := handle.read(min(left, 1 << 20))):
        digest.update(block)
        left -= len(block)
    handle.seek(size)
    return digest.hexdigest()


def _member_name(number: int, name: str, taken: set[str]) -> str:
    safe = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", name)).strip("._")[:80]
    member = f"{number:02d}-{safe or 'attachment'}"
    taken.add(member)
    return member
