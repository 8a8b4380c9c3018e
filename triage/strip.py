"""Copies of attachments without the metadata that can name or place the person who made
them: camera serial numbers, GPS positions, authors, edit software, comments.

Each stripper walks the file's own structure and drops whole metadata blocks; it never
decodes or re-encodes the picture or the film, so what the copy shows is exactly what the
original shows (the tests compare decoded pixels). A file whose structure is not what its
format promises is not copied at all (`NotStrippable`): a half-stripped copy would be
worse than none, and the original stays on the console as evidence.

Formats: JPEG (EXIF, XMP, IPTC, comments, trailing data after the image), PNG (text
chunks, EXIF, timestamps, trailing data), and MP4/QuickTime (user data and metadata boxes,
overwritten in place by `free` boxes of the same size so that no sample offset moves; the
film's, tracks' and media's creation and modification times, handler names and the
encoder or camera name in each sample description, zeroed in place). A film with a track
other than pictures and sound (timed GPS, timecode, text) is refused. Every other format
(PDF, office documents, HEIC, WebP, audio…) is not copied (`NotStrippable`).

`FORMATS` below lists them for the console's pages (docs/operations.md says the same).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO


class NotStrippable(ValueError):
    """This file cannot be copied without its metadata (the reason is the message)."""


#: Pictures are stripped in memory; a larger one is not a photograph anyone sends.
MAX_PICTURE_BYTES = 256 * 1024 * 1024


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


# -- JPEG ------------------------------------------------------------------------------------

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
#: APPn segments kept because decoders need them to show the right colours; every other
#: APPn (EXIF and XMP in APP1, IPTC in APP13, maker data…) and every comment goes.
_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}
_JPEG_NAMES = {0xE1: "EXIF/XMP", 0xED: "IPTC", 0xFE: "comment", 0xE0: "JFIF extension"}


def _jpeg(data: bytes) -> tuple[bytes, list[str]]:
    out = bytearray(b"\xff\xd8")
    removed: list[str] = []
    icc: list[tuple[int, int]] = []  # where each ICC profile chunk's bytes are in `out`
    at = 2
    while True:
        if at + 2 > len(data) or data[at] != 0xFF:
            raise NotStrippable("the JPEG file is damaged: a segment is missing")
        while data[at + 1] == 0xFF:  # fill bytes before a marker
            at += 1
            if at + 2 > len(data):
                raise NotStrippable("the JPEG file is damaged: it ends early")
        marker = data[at + 1]
        if marker == _EOI:  # the end of the image: often the last two bytes of the file
            break
        if at + 4 > len(data):
            raise NotStrippable("the JPEG file is damaged: it ends early")
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            raise NotStrippable("the JPEG file is damaged: a segment runs past its end")
        segment = data[at:end]
        body = data[at + 4 : end]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            keep = _KEEP_APP.get(marker)
            if keep is not None and body.startswith(keep):
                if marker == 0xE0:
                    segment = _jfif_without_thumbnail(segment)
                if marker == 0xE2:  # "ICC_PROFILE\0", chunk number, count, then the bytes
                    icc.append((len(out) + 4 + len(keep) + 2, len(out) + len(segment)))
                out += segment
            else:
                removed.append(_JPEG_NAMES.get(marker, f"APP{marker - 0xE0}"))
            at = end
            continue
        out += segment
        at = end
        if marker == _SOS:  # entropy-coded data follows, up to the next real marker
            scan = at
            while True:
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= len(data):
                    raise NotStrippable("the JPEG file is damaged: the image data ends early")
                following = data[scan + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    scan += 2  # a stuffed byte or a restart marker: still image data
                    continue
                if following == 0xFF:
                    scan += 1
                    continue
                break
            out += data[at:scan]
            at = scan
    out += b"\xff\xd9"
    if at + 2 < len(data):
        removed.append("data after the end of the image")
    if icc:  # a profile may span several segments: scrubbed whole, written back in place
        profile = _icc_scrubbed(b"".join(out[start:end] for start, end in icc))
        for start, end in icc:
            out[start:end], profile = profile[: end - start], profile[end - start :]
        removed.append("colour profile's date and makers")
    return bytes(out), removed


#: In a colour profile's 128-byte header: the CMM (software) that made it, the date and
#: time it was made, the platform, the device's maker and model, the profile's creator,
#: and the profile ID (a hash of the rest, which zeroing leaves "not computed").
_ICC_HEADER = ((4, 8), (24, 36), (40, 44), (48, 56), (80, 100))
#: Tags that only name things (the device's maker and model, a copyright holder): their
#: text is zeroed, their type kept, so the profile still parses and renders the same.
_ICC_NAMES = {b"dmnd", b"dmdd", b"cprt"}
MAX_ICC_BYTES = 4 * 1024 * 1024


def _icc_scrubbed(profile: bytes) -> bytes:
    """The profile without when and by what it was made (same length; colours unchanged)."""
    if len(profile) < 132 or profile[36:40] != b"acsp":
        raise NotStrippable("the picture's colour profile is damaged")
    out = bytearray(profile)
    for start, end in _ICC_HEADER:
        out[start:end] = bytes(end - start)
    (count,) = struct.unpack(">I", profile[128:132])
    if 132 + 12 * count > len(profile):
        raise NotStrippable("the picture's colour profile is damaged")
    for number in range(count):
        signature, offset, size = struct.unpack(
            ">4sII", profile[132 + 12 * number : 144 + 12 * number]
        )
        if signature in _ICC_NAMES:
            if offset + size > len(profile) or size < 8:
                raise NotStrippable("the picture's colour profile is damaged")
            out[offset + 8 : offset + size] = bytes(size - 8)  # type and reserved kept
    return bytes(out)


def _jfif_without_thumbnail(segment: bytes) -> bytes:
    """The JFIF header with any embedded thumbnail removed (it can show the uncropped scene)."""
    if len(segment) < 18:
        return segment
    width, height = segment[16], segment[17]
    if width == 0 and height == 0:
        return segment
    header = bytearray(segment[:18])
    header[2:4] = struct.pack(">H", 16)
    header[16] = header[17] = 0
    return bytes(header)


# -- PNG -------------------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n"
#: Chunks that change how the picture looks; every other ancillary chunk (tEXt, zTXt, iTXt,
#: eXIf, tIME, private chunks) goes.
_PNG_KEEP = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"PLTE"}
_PNG_NAMES = {b"tEXt": "text", b"zTXt": "text", b"iTXt": "text", b"eXIf": "EXIF", b"tIME": "time"}


def _png(data: bytes) -> tuple[bytes, list[str]]:
    out = bytearray(_PNG)
    removed: list[str] = []
    at = len(_PNG)
    while True:
        if at + 12 > len(data):
            raise NotStrippable("the PNG file is damaged: it ends before its last chunk")
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data) or not kind.isalpha():
            raise NotStrippable("the PNG file is damaged: a chunk runs past its end")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[at + 4 : end - 4]) != crc:
            raise NotStrippable("the PNG file is damaged: a chunk's checksum is wrong")
        critical = kind[0:1].isupper()
        if critical and kind not in (b"IHDR", b"PLTE", b"IDAT", b"IEND"):
            raise NotStrippable(f"the PNG file uses a chunk Lanthorn does not know ({kind!r})")
        if kind == b"iCCP":
            out += _png_profile(data[at + 8 : end - 4])
            removed.append("colour profile's date and makers")
        elif critical or kind in _PNG_KEEP:
            out += data[at:end]
        else:
            removed.append(_PNG_NAMES.get(kind, "private data"))
        at = end
        if kind == b"IEND":
            break
    if at < len(data):
        removed.append("data after the end of the image")
    return bytes(out), removed


def _png_profile(body: bytes) -> bytes:
    """An iCCP chunk again, its profile scrubbed and named plainly (the name is free text)."""
    name_end = body.find(b"\0")
    if not 0 < name_end < 80 or body[name_end + 1 : name_end + 2] != b"\0":
        raise NotStrippable("the PNG file is damaged: its colour profile is malformed")
    inflate = zlib.decompressobj()
    try:
        profile = inflate.decompress(body[name_end + 2 :], MAX_ICC_BYTES)
    except zlib.error:
        raise NotStrippable("the PNG file is damaged: its colour profile is malformed") from None
    if inflate.unconsumed_tail:
        raise NotStrippable("the PNG file's colour profile is too large")
    chunk = b"iCCP" + b"ICC profile\0\0" + zlib.compress(_icc_scrubbed(profile))
    return struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))


# -- MP4 / QuickTime ---------------------------------------------------------------------------

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


def _mp4(handle: BinaryIO, stop: int) -> list[str]:
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


def _whole(
    transform: Callable[[bytes], tuple[bytes, list[str]]],
) -> Callable[[BinaryIO, int], list[str]]:
    """A stripper of whole pictures (read into memory: pictures are small) for strip_file."""

    def run(handle: BinaryIO, size: int) -> list[str]:
        if size > MAX_PICTURE_BYTES:
            raise NotStrippable("the picture is too large to copy here")
        handle.seek(0)
        out, removed = transform(handle.read())
        handle.seek(0)
        handle.write(out)
        handle.truncate()
        return removed

    return run


_FORMATS: tuple[tuple[str, Callable[[bytes], bool], Callable[[BinaryIO, int], list[str]]], ...] = (
    ("JPEG", lambda head: head.startswith(b"\xff\xd8\xff"), _whole(_jpeg)),
    ("PNG", lambda head: head.startswith(_PNG), _whole(_png)),
    ("MP4", lambda head: head[4:8] == b"ftyp", _mp4),
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
