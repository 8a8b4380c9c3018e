"""Pictures without their metadata: JPEG (EXIF, XMP, IPTC, comments, thumbnails, trailing
data after the image) and PNG (text chunks, EXIF, timestamps, trailing data), and in both
the colour profile's date and makers (the profile itself is kept, for the colours).

Each picture is read into memory whole (they are small: `MAX_PICTURE_BYTES` at most) and
written back without the metadata segments or chunks; the image data itself is copied
byte for byte, never decoded (triage/strip.py says why).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

from .not_strippable import NotStrippable

#: Pictures are stripped in memory; a larger one is not a photograph anyone sends.
MAX_PICTURE_BYTES = 256 * 1024 * 1024


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

#: The eight bytes every PNG file begins with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks that change how the picture looks; every other ancillary chunk (tEXt, zTXt, iTXt,
#: eXIf, tIME, private chunks) goes.
_PNG_KEEP = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"PLTE"}
_PNG_NAMES = {b"tEXt": "text", b"zTXt": "text", b"iTXt": "text", b"eXIf": "EXIF", b"tIME": "time"}


def _png(data: bytes) -> tuple[bytes, list[str]]:
    out = bytearray(PNG_SIGNATURE)
    removed: list[str] = []
    at = len(PNG_SIGNATURE)
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


#: The strippers of triage/strip.py's `strip_file`.
strip_jpeg = _whole(_jpeg)
strip_png = _whole(_png)
