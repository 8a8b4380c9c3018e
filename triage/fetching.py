"""Fetching an item's files from the portal: each stored form downloaded, verified as it
arrives (the plaintext is not kept) and kept; one that could not be fetched yet (a 503,
a connection cut short) is fetched again by the next sync, and until then the item is
not acknowledged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

import crypto
from foundation.blobstore import is_blob_id

from .client import PortalClient, PortalError
from .db import (
    FileToFetch,
    Item,
)
from .outbox_page import TO_FETCH, SyncReport

if TYPE_CHECKING:
    from .console import Console


def fetch_files(
    console: Console,
    portal: PortalClient,
    document: dict[str, Any],
    blob_ids: list[str],
    report: SyncReport,
) -> dict[str, str]:
    """Download, verify and keep each attachment's stored form; note what failed."""
    states: dict[str, str] = {}
    for descriptor in document.get("attachments", []):
        blob_id = descriptor["blob_id"]
        if not is_blob_id(blob_id):
            states[blob_id] = "missing: not a blob id this portal could have issued"
        elif blob_id not in blob_ids:
            states[blob_id] = "missing: the portal did not list this file with the item"
        else:
            states[blob_id] = _fetch_file(console, portal, descriptor)
        _note_file(blob_id, states[blob_id], states, report)
    return states


def _note_file(blob_id: str, state: str, states: dict[str, str], report: SyncReport) -> None:
    states[blob_id] = state
    if state == "stored":
        report.files += 1
    elif state.startswith(TO_FETCH):
        report.files_to_fetch.append(f"{blob_id}: {state}")
    else:
        report.bad_files.append(f"{blob_id}: {state}")


def _fetch_file(console: Console, portal: PortalClient, descriptor: dict[str, Any]) -> str:
    if console.blobs.exists(descriptor["blob_id"]):
        return "stored"  # an interrupted earlier sync already verified and kept it
    pending = console.blobs.start()
    reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"], length=32))
    received = 0
    try:
        for chunk in portal.blob(descriptor["blob_id"]):
            pending.write(chunk)
            received += len(chunk)
            reader.feed(chunk)  # verify as it arrives; the plaintext is not kept
        summary = reader.finish()
    except PortalError as exc:
        # Unavailable or cut off on the way: the portal still holds it (it is not
        # acknowledged), so the next sync asks again.
        pending.abort()
        return f"{TO_FETCH}{exc}"
    except crypto.CryptoError:
        pending.abort()
        if received < crypto.stored_size(descriptor["size"]):
            return f"{TO_FETCH}it arrived cut short"  # the rest may come next time
        return "not kept: the file is damaged"  # all of it came, and it is not the file
    if summary.size != descriptor["size"] or summary.sha256 != descriptor["sha256"]:
        pending.abort()
        return "not kept: the file is not the one the report describes"
    pending.blob_id = descriptor["blob_id"]
    pending.commit(console._today())
    return "stored"


def fetch_again(console: Console, portal: PortalClient, item_id: str, report: SyncReport) -> bool:
    """Fetch the files an item stored by an earlier sync still lacks; True once it
    has them all (then it may be acknowledged)."""
    with console.sessions() as session:
        content = console._open(
            session.scalars(select(Item.content).where(Item.id == item_id)).one()
        )
    states: dict[str, str] = content["files"]
    for descriptor in content["document"].get("attachments", []):
        if states.get(descriptor["blob_id"], "").startswith(TO_FETCH):
            _note_file(
                descriptor["blob_id"], _fetch_file(console, portal, descriptor), states, report
            )
    whole = not any(state.startswith(TO_FETCH) for state in states.values())
    with console.sessions() as session:
        session.execute(
            update(Item).where(Item.id == item_id).values(content=console._seal(content))
        )
        if whole:
            session.execute(delete(FileToFetch).where(FileToFetch.item_id == item_id))
        session.commit()
    return whole
