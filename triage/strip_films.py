"""Films without their metadata: MP4 and QuickTime.

User data and metadata boxes are overwritten in place by `free` boxes of the same size,
so that no sample offset moves; the film's, tracks' and media's creation and modification
times, handler names and the encoder or camera name in each sample description are zeroed
in place. A film with a track other than pictures and sound (timed GPS, timecode, text)
is refused. The file is changed where it lies (a film may be large): only box headers
and the few fields that are zeroed are read.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from .not_strippable import NotStrippable

#: Boxes that hold who, where and with what a film was made: user data (udta, with the
#: GPS position in ©xyz), iTunes-style metadata (meta) and XMP (uuid boxes).
_MP4_DROP = {b"udta": "user data", b"meta": "metadata", b"uuid": "XMP or vendor data"}
#: Containers walked into: the movie, its tracks, and the track's media description.
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"edts", b"dinf", b"stbl"}
#: Boxes kept at the top of the file; any other (a QuickTime preview `pnot` with its date
#: and `PICT` picture, a producer time `prft`, a maker's own box) becomes `free`.
_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"moof", b"mfra", b"sidx", b"ssix", b"styp"}
#: Padding, whose bytes nothing reads: zeroed, since a camera may leave anything there.
_MP4_PADDING = {b"free", b"skip", b"wide"}
#: Headers with the time the film (`mvhd`), a track (`tkhd`) or its media (`mdhd`) was
#: made and changed: seconds since 1904, written by the camera's clock.
_MP4_TIMES = {b"mvhd": "film time", b"tkhd": "track time", b"mdhd": "track time"}
#: The track kinds a copy is made of: pictures and sound. A track of timed metadata (a
#: GoPro's GPS, a phone's `mebx`), timecode (the time of day of each frame) or text is
#: not something Lanthorn can empty without rewriting the film, so such a film is refused.
_MP4_TRACKS = {b"vide", b"soun"}
_ZEROS = bytes(1 << 16)


def strip_mp4(handle: BinaryIO, stop: int) -> list[str]:
    removed: list[str] = []
    _mp4_walk(handle, 0, stop, removed, b"", None)
    return removed


def _mp4_walk(
    handle: BinaryIO,
    start: int,
    stop: int,
    removed: list[str],
    parent: bytes,
    track: list[bytes] | None,
) -> None:
    at = start
    while at < stop:
        handle.seek(at)
        head = handle.read(16)
        if at + 8 > stop or len(head) < 8:
            raise NotStrippable("the film file is damaged: a box header is cut short")
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1:
            if at + 16 > stop or len(head) < 16:
                raise NotStrippable("the film file is damaged: a box header is cut short")
            (size,) = struct.unpack(">Q", head[8:16])
            header = 16
        elif size == 0:
            size = stop - at  # to the end of the enclosing box
        end = at + size
        if size < header or end > stop:
            raise NotStrippable("the film file is damaged: a box runs past its end")
        body = at + header
        if kind in _MP4_DROP:
            removed.append(_MP4_DROP[kind])
            _free(handle, at, size)
        elif kind in _MP4_PADDING:
            _free(handle, at, size)
        elif not parent and kind not in _MP4_TOP:
            removed.append("other data")
            _free(handle, at, size)
        elif kind == b"trak":
            kinds: list[bytes] = []
            _mp4_walk(handle, body, end, removed, kind, kinds)
        elif kind in _MP4_CONTAINERS:
            _mp4_walk(handle, body, end, removed, kind, track)
        elif kind in _MP4_TIMES:
            _mp4_times(handle, body, end)
            removed.append(_MP4_TIMES[kind])
        elif kind == b"hdlr":
            handler = _mp4_handler(handle, body, end)
            if parent == b"mdia":
                if handler not in _MP4_TRACKS:
                    shown = handler.decode("latin-1").strip() or "unnamed"
                    raise NotStrippable(
                        f"the film has a track Lanthorn cannot empty of metadata ({shown!r}: "
                        "timed metadata such as GPS, a timecode or text)"
                    )
                if track is not None:
                    track.append(handler)
            removed.append("handler names")
        elif kind == b"stsd":
            if not track:
                raise NotStrippable("the film file is damaged: a track's kind comes too late")
            _mp4_sample_entries(handle, body, end, track[0])
            removed.append("encoder names")
        at = end


def _read_at(handle: BinaryIO, at: int, size: int) -> bytes:
    handle.seek(at)
    data = handle.read(size)
    if len(data) != size:
        raise NotStrippable("the film file is damaged: a box is cut short")
    return data


def _zero(handle: BinaryIO, at: int, size: int, end: int) -> None:
    if at + size > end:
        raise NotStrippable("the film file is damaged: a header box is too short")
    handle.seek(at)
    handle.write(bytes(size))


def _mp4_times(handle: BinaryIO, body: int, end: int) -> None:
    """Zero the creation and modification times (version 0: 32 bits each, 1: 64 bits)."""
    (version,) = _read_at(handle, body, 1) if body < end else (None,)
    if version not in (0, 1):
        raise NotStrippable("the film file is damaged: a header box has an unknown version")
    _zero(handle, body + 4, 8 if version == 0 else 16, end)


def _mp4_handler(handle: BinaryIO, body: int, end: int) -> bytes:
    """A handler box's type (vide, soun…); its maker (QuickTime's `appl`) and name zeroed."""
    if body + 24 > end:
        raise NotStrippable("the film file is damaged: a handler box is too short")
    handler = _read_at(handle, body + 8, 4)
    _zero(handle, body + 12, end - body - 12, end)  # reserved (maker, flags) and the name
    return handler


def _mp4_sample_entries(handle: BinaryIO, body: int, end: int, track: bytes) -> None:
    """In each sample description, zero the vendor (QuickTime: who wrote it) and, for a
    picture track, the compressor name (a camera writes its own name there)."""
    if body + 8 > end:
        raise NotStrippable("the film file is damaged: a sample description is too short")
    (count,) = struct.unpack(">I", _read_at(handle, body + 4, 4))
    at = body + 8
    for _ in range(count):
        if at + 8 > end:
            raise NotStrippable("the film file is damaged: a sample description is cut short")
        (size,) = struct.unpack(">I", _read_at(handle, at, 4))
        entry_end = at + size
        if size < 8 or entry_end > end:
            raise NotStrippable("the film file is damaged: a sample description runs past its end")
        if track == b"vide":
            _zero(handle, at + 20, 4, entry_end)  # vendor (ISO: pre_defined, zero)
            _zero(handle, at + 50, 32, entry_end)  # compressorname
        else:
            _zero(handle, at + 20, 4, entry_end)  # vendor (ISO: reserved, zero)
        at = entry_end


def _free(handle: BinaryIO, at: int, size: int) -> None:
    """Overwrite the box at `at` with a `free` box of the same size, its content zeroed."""
    handle.seek(at)
    if size >= 2**32:
        handle.write(struct.pack(">I4sQ", 1, b"free", size))
        left = size - 16
    else:
        handle.write(struct.pack(">I4s", size, b"free"))
        left = size - 8
    while left:
        left -= handle.write(_ZEROS[: min(left, len(_ZEROS))])
