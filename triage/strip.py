"""Copies of attachments without the metadata that can name or place the person who made
them: camera serial numbers, GPS positions, authors, edit software, comments.

Each stripper walks the file's own structure and drops whole metadata blocks; it never
decodes or re-encodes the picture or the film, so what the copy shows is exactly what the
original shows (the tests compare decoded pixels). A file whose structure is not what its
format promises is not copied at all (`NotStrippable`): a half-stripped copy would be
worse than none, and the original stays on the console as evidence.

Formats: JPEG and PNG (triage/strip_pictures.py), and MP4/QuickTime
(triage/strip_films.py). Every other format (PDF, office documents, HEIC, WebP, audio…)
is not copied (`NotStrippable`).

`FORMATS` below lists them for the console's pages (docs/operations.md says the same).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .not_strippable import NotStrippable
from .strip_films import strip_mp4
from .strip_pictures import PNG_SIGNATURE, strip_jpeg, strip_png


@dataclass(frozen=True)
class Stripped:
    data: bytes
    format: str
    removed: tuple[str, ...]  # what was taken out, e.g. ("EXIF", "comment")


def strip(data: bytes) -> Stripped:
    """A copy of `data` without its metadata, or `NotStrippable` saying why not."""
    handle = io.BytesIO(data)
    kind, removed = strip_file(handle)
    return Stripped(handle.getvalue(), kind, removed)


def strip_file(handle: BinaryIO) -> tuple[str, tuple[str, ...]]:
    """Strip the open, seekable, writable file in place; returns (format, what went).
    On `NotStrippable` the file may be half-changed: throw it away."""
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    head = handle.read(16)
    for name, matches, stripper in _FORMATS:
        if matches(head):
            return name, tuple(dict.fromkeys(stripper(handle, size)))
    raise NotStrippable("Lanthorn cannot remove metadata from this kind of file")


_FORMATS: tuple[tuple[str, Callable[[bytes], bool], Callable[[BinaryIO, int], list[str]]], ...] = (
    ("JPEG", lambda head: head.startswith(b"\xff\xd8\xff"), strip_jpeg),
    ("PNG", lambda head: head.startswith(PNG_SIGNATURE), strip_png),
    ("MP4", lambda head: head[4:8] == b"ftyp", strip_mp4),
)


#: What the console tells officers (the referral form, docs/operations.md): the formats a
#: copy without metadata is made of, and what goes. Any other file is not copied.
FORMATS: tuple[dict[str, str], ...] = (
    {
        "name": "JPEG",
        "removed": "EXIF (camera, serial number, GPS position, dates, software), XMP, IPTC, "
        "comments, thumbnails, data after the picture, and the colour profile's date and "
        "makers (the profile itself is kept, for the colours)",
    },
    {
        "name": "PNG",
        "removed": "text (author, software, dates), EXIF, XMP, timestamps, data after the "
        "picture, and the colour profile's name, date and makers",
    },
    {
        "name": "MP4 and QuickTime",
        "removed": "user data (GPS position, make, model, encoder), metadata and XMP boxes, "
        "the film's and tracks' creation and modification times, handler and compressor "
        "names (a camera writes its own there); a film with any track other than pictures "
        "and sound (timed GPS, timecode, text) is not copied",
    },
)
