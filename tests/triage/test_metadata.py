"""Referral copies without when, where and with what a file was made (issue 17, finding 8).

The corpus is made with the tools people's files come from: ffmpeg films (MP4 and
QuickTime) with a creation time and an encoder name, pictures whose EXIF, XMP, IPTC and
PNG text exiftool fills with a GPS position, camera make, model and serial number, dates
and software. Each copy is read back with exiftool: no date, time, place, device or
software name may remain, and the picture or film decodes to exactly what the original
does. Both tools are Debian packages that scripts/test installs; a missing one skips
these tests, unless LANTHORN_REQUIRE_DEPLOY_TOOLS is set (as scripts/test does).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import ImageCms

from triage.not_strippable import NotStrippable
from triage.strip import FORMATS, strip

WHEN = "2025-03-04T05:06:07Z"
#: What the corpus says about its maker; none of it may be in a copy.
TELLTALES = (
    *("GoPro", "HERO11", "SN123", "CamFirmware", "Dana", "2025", "Lavf", "Lavc", "51 deg"),
    *("Little CMS", "Apple Computer", "copyright"),  # the colour profile's maker, platform, notice
)
#: A date or a time of day, as exiftool prints them.
WHEN_PRINTED = re.compile(r"\d{4}:\d\d:\d\d|\b\d\d:\d\d:\d\d")
#: exiftool tag names (any group) that say where or with what.
TELLING_TAGS = (
    "GPS",
    "Make",
    "Model",
    "Serial",
    "Software",
    "CreatorTool",
    "Encoder",
    "Artist",
    "By-line",
    "CompressorName",
    "HandlerDescription",
    "VendorID",
    "Comment",
)
#: Groups exiftool makes up from the file on this disk (its name, size, dates) or derives.
NOT_IN_THE_FILE = {"System", "File", "ExifTool", "Composite"}
#: Zeroed times are still printed, as "no date".
ZERO_TIME = "0000:00:00 00:00:00"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (
            f"{name} is not installed: scripts/test installs it (Debian package), and sets "
            "LANTHORN_REQUIRE_DEPLOY_TOOLS=1 so that CI fails instead of skipping"
        )
        if os.environ.get("LANTHORN_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: object) -> bytes:
    done = subprocess.run(  # noqa: S603 - fixed tools, no shell
        [str(a) for a in args], capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ffmpeg, exiftool = _tool("ffmpeg"), _tool("exiftool")
    folder = tmp_path_factory.mktemp("corpus")
    picture = ["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1"]
    film = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1"]
    sound = ["-f", "lavfi", "-i", "sine=duration=1"]
    when = ["-metadata", f"creation_time={WHEN}", "-metadata:s", f"creation_time={WHEN}"]
    quiet = [ffmpeg, "-nostdin", "-v", "error", "-y"]
    files = {
        "photo.jpg": [*quiet, *picture],
        "still.png": [*quiet, *picture],
        "film.mp4": [
            *quiet,
            *film,
            *sound,
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            *when,
            "-metadata:s:v",
            "handler_name=GoPro AVC",
        ],
        # QuickTime, with the camera's name where cameras write it: the compressor name.
        "film.mov": [
            *quiet,
            *film,
            "-c:v",
            "mpeg4",
            *when,
            "-metadata:s:v",
            "encoder=GoPro HERO11 SN123",
        ],
    }
    for name, command in files.items():
        _run(*command, folder / name)
    tags = [
        "-GPSLatitude=51.4517",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=0.1847",
        "-GPSLongitudeRef=W",
        "-GPSDateStamp=2025:03:04",
        "-GPSTimeStamp=05:06:07",
        "-Make=GoPro",
        "-Model=HERO11 SN123",
        "-SerialNumber=SN123",
        "-DateTimeOriginal=2025:03:04 05:06:07",
        "-CreateDate=2025:03:04 05:06:07",
        "-ModifyDate=2025:03:04 05:06:07",
        "-Software=CamFirmware 1.2",
        "-Artist=Dana",
        "-XMP:CreatorTool=CamFirmware 1.2",
    ]
    # A colour profile as Little CMS makes one (through Pillow): it carries the time it
    # was made, its maker's name and a platform.
    profile = folder / "srgb.icc"
    profile.write_bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    extra = {
        "photo.jpg": ["-IPTC:By-line=Dana", "-Comment=taken by Dana", f"-ICC_Profile<={profile}"],
        "still.png": [
            "-PNG:CreationTime=2025:03:04 05:06:07",
            "-PNG:Software=CamFirmware 1.2",
            f"-ICC_Profile<={profile}",
        ],
        "film.mp4": [],
        "film.mov": [],
    }
    for name in files:
        _run(exiftool, "-q", "-overwrite_original", *tags, *extra[name], folder / name)
    return {name: folder / name for name in files}


def _telling(path: Path) -> dict[str, object]:
    """What exiftool reads from the file that says when, where or with what it was made."""
    [read] = json.loads(_run(_tool("exiftool"), "-j", "-a", "-G1", "-s", "-ee", path))
    found = {}
    for key, value in read.items():
        group, _, tag = key.rpartition(":")
        if group in NOT_IN_THE_FILE or key == "SourceFile":
            continue
        shown = str(value)
        if shown.startswith(ZERO_TIME) or shown.strip() == "":
            continue  # zeroed: no date, no name
        if (
            any(t in tag for t in TELLING_TAGS)
            or any(t in shown for t in TELLTALES)
            or WHEN_PRINTED.search(shown)
        ):
            found[key] = value
    return found


def _frames(path: Path) -> bytes:
    """The decoded pictures (every frame) and sound, as raw samples."""
    return _run(
        _tool("ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-map", "0", "-f", "framemd5", "-"
    )


@pytest.mark.parametrize("name", ["photo.jpg", "still.png", "film.mp4", "film.mov"])
def test_a_copy_tells_nothing_of_when_where_or_with_what_it_was_made(
    corpus: dict[str, Path], tmp_path: Path, name: str
) -> None:
    original = corpus[name]
    assert _telling(original), "the corpus file carries the metadata"
    copy = tmp_path / name
    copy.write_bytes(strip(original.read_bytes()).data)
    assert _telling(copy) == {}
    assert _frames(copy) == _frames(original)  # the same pictures and sound, bit for bit


def test_a_film_with_a_track_that_is_not_pictures_or_sound_is_not_copied(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:01,000\nB wing, 05:06\n")
    film = tmp_path / "subtitled.mp4"
    _run(
        _tool("ffmpeg"), "-nostdin", "-v", "error", "-i", corpus["film.mp4"], "-i", subtitles,
        "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text", film,
    )  # fmt: skip
    with pytest.raises(NotStrippable, match="cannot empty of metadata"):
        strip(film.read_bytes())


def test_the_formats_said_to_be_stripped_are_the_corpus() -> None:
    assert [f["name"] for f in FORMATS] == ["JPEG", "PNG", "MP4 and QuickTime"]
