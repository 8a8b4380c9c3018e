"""A case's files: each decrypted as it streams, always as a download, under a name no
reporter can make into a path or a device. Every download is audited."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import crypto
from foundation.errors import NotFound

from .console import Console
from .db import Item
from .pages import (
    audit,
    case_for,
)


def case_files(console: Console, case_id: str) -> list[dict[str, Any]]:
    with console.sessions() as session:
        items = session.query(Item).filter(Item.case_id == case_id).order_by(Item.seq).all()
        contents = [console._open(item.content) for item in items]
    return [
        {**descriptor, "state": content["files"].get(descriptor["blob_id"], "")}
        for content in contents
        for descriptor in content.get("document", {}).get("attachments", [])
        if "files" in content
    ]


async def download(request: Request) -> Response:
    """An attachment, decrypted as it streams, always as a download, never shown inline."""
    console, _, case = await case_for(request, "triage", "investigator")
    blob_id = request.path_params["blob_id"]
    files = {f["blob_id"]: f for f in await run_in_threadpool(case_files, console, case.id)}
    descriptor = files.get(blob_id)
    if descriptor is None or descriptor["state"] != "stored":
        raise NotFound("There is no such file in this case.")
    await run_in_threadpool(audit, console, "download", case.id, descriptor["name"])
    path = console.blobs.path(blob_id)
    key = crypto.b64u_decode(descriptor["key"], length=32)

    async def plaintext() -> AsyncIterator[bytes]:
        reader = crypto.BlobReader(key)
        with path.open("rb") as handle:
            while block := handle.read(crypto.BLOB_STORED_CHUNK):
                yield reader.feed(block)
        reader.finish()

    return StreamingResponse(
        plaintext(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": attachment_disposition(descriptor["name"])},
    )


_DEVICE_NAME = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def attachment_disposition(name: str) -> str:
    """`attachment`, named so that no reporter-chosen name is read as a path, a hidden
    file or a device: letters and digits of any script, `.`, `_`, `-` and spaces, no
    leading dots, at most 100 characters; in ASCII (`filename`, others become `_`) and
    as written (`filename*`, RFC 6266; a header holds only Latin-1, so it is encoded)."""
    readable = "".join(c for c in name if c.isalnum() or c in "._- ").strip(" .")[:100]
    if not readable or _DEVICE_NAME.fullmatch(readable):
        readable = f"attachment {readable}".strip()
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in readable)
    disposition = f'attachment; filename="{plain}"'
    if readable != plain:
        disposition += f"; filename*=UTF-8''{quote(readable, safe='')}"
    return disposition


routes = [
    Route("/cases/{case}/files/{blob_id}", download, methods=["GET"]),
]
