"""A sync over a faulty network loses no file and acknowledges nothing it does not hold.

Between the console and the portal sits a proxy that breaks half of all file downloads
(503s, resets mid-body, bodies cut short that look complete). The portal deletes what the
console acknowledged once its retention ends, so an item acknowledged before its files
were kept would lose them for good. After enough syncs every file must be on the
console, verified, and at no point may the portal hold an acknowledgement for an item
whose files the console does not have.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from sqlalchemy import select

import crypto
from portal.db import Item as PortalItem
from tests.faulty_network import faulty_proxy
from tests.portal.conftest import Portal
from tests.portal.forms import open_thread, receipt_of, send_message, submit_report
from tests.serving import host_of
from triage.console import Console
from triage.db import Item as ConsoleItem


def _acked_items(portal: Portal) -> set[str]:
    with portal.app.state.sessions() as session:
        return set(session.scalars(select(PortalItem.id).where(PortalItem.acked_on.is_not(None))))


def _files_by_item(console: Console) -> dict[str, dict[str, tuple[dict[str, Any], str]]]:
    """Each item the console holds: its files' descriptors and states, by blob id."""
    with console.sessions() as session:
        items = session.scalars(select(ConsoleItem)).all()
        contents = {item.id: console._open(item.content) for item in items}
    return {
        item: {
            d["blob_id"]: (d, content.get("files", {}).get(d["blob_id"], ""))
            for d in content["document"].get("attachments", [])
        }
        for item, content in contents.items()
    }


def _plaintext(console: Console, descriptor: dict[str, Any]) -> bytes:
    reader = crypto.BlobReader(crypto.b64u_decode(descriptor["key"], length=32))
    data = console.blobs.path(descriptor["blob_id"]).read_bytes()
    out = reader.feed(data)
    reader.finish()
    return out


def test_a_faulty_network_loses_no_file_and_acknowledges_nothing_early(
    pair: tuple[Portal, Console],
) -> None:
    portal, console = pair
    sent: dict[str, bytes] = {}
    for n in range(4):
        files = [(f"photo-{n}-{k}.jpg", os.urandom(150_000), "image/jpeg") for k in range(2)]
        sent.update({name: content for name, content, _ in files})
        browser = portal.client()
        receipt = receipt_of(submit_report(browser, files=files, description=f"report {n}"))
        if n == 0:
            reader = portal.client()
            open_thread(reader, receipt)
            later = ("later.pdf", os.urandom(120_000), "application/pdf")
            sent[later[0]] = later[1]
            send_message(reader, "and one more file", later)

    with faulty_proxy(portal.url, rate=0.5) as (url, faults):
        # The console's requests name the proxy's address, which the portal answers to.
        hosts = (*portal.settings.hosts, host_of(url))
        portal.app.state.settings = dataclasses.replace(portal.settings, hosts=hosts)
        for _ in range(40):
            console.sync(url)
            held = _files_by_item(console)
            for item in _acked_items(portal):  # acknowledged ⇒ every file is here
                assert item in held, f"{item} acknowledged but not on the console"
                states = [state for _, state in held[item].values()]
                assert all(state == "stored" for state in states), (item, states)
            if len(_acked_items(portal)) == 5:
                break
    assert sum(faults.broken.values()) > 0, "the proxy broke nothing: the test proves nothing"
    assert len(_acked_items(portal)) == 5
    files = [entry for item in _files_by_item(console).values() for entry in item.values()]
    assert sorted(d["name"] for d, _ in files) == sorted(sent)
    for descriptor, state in files:
        assert state == "stored"
        assert _plaintext(console, descriptor) == sent[descriptor["name"]]
