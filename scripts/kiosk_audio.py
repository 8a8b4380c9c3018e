"""Make the kiosk's spoken clips from the catalogues (run through scripts/kiosk-audio).

    ./scripts/kiosk-audio           # make every stale or missing clip, drop unused ones
    ./scripts/kiosk-audio --check   # say which clips are stale; exit 1 if any
    ./scripts/kiosk-audio --list pl # each message's recording name and words in Polish

Clips are synthesised offline with espeak-ng and encoded with opusenc (Debian packages
espeak-ng and opus-tools), mono at 12 kbit/s: speech stays clear and the whole set small.
A human recording in portal/recordings/<lang>/<key>.opus is used instead while the words
in <key>.txt beside it are still the string's (docs/translations.md says how to make one).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal import kiosk_audio  # noqa: E402
from portal.i18n import load_catalogues  # noqa: E402

BITRATE = "12"


def encode(words: str, voice: str, speed: int, target: Path, work: Path) -> None:
    wav = work / "clip.wav"
    # Debian's tools, on PATH; the catalogue's words are one argument, after "--".
    speak = ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), "--", words]
    subprocess.run(speak, check=True)  # noqa: S603, S607
    target.parent.mkdir(parents=True, exist_ok=True)
    opus = ["opusenc", "--quiet", "--bitrate", BITRATE, "--serial", "1", str(wav), str(target)]
    subprocess.run(opus, check=True)  # noqa: S603, S607


def build() -> int:
    for tool in ("espeak-ng", "opusenc"):
        if shutil.which(tool) is None:
            print(f"kiosk-audio: {tool} is missing: apt-get install espeak-ng opus-tools")
            return 1
    catalogues = load_catalogues()
    old = kiosk_audio.manifest()
    clips: dict[str, dict[str, dict[str, str]]] = {}
    digits: dict[str, list[str]] = {}
    made = 0
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        for lang, messages in kiosk_audio.wanted(catalogues).items():
            voice = kiosk_audio.VOICES[lang]
            clips[lang] = {}
            for message, (words, digest) in messages.items():
                name = f"{lang}/{digest}.opus"
                target = kiosk_audio.AUDIO / name
                key = kiosk_audio.clip_key(message)
                recording = kiosk_audio.RECORDINGS / lang / f"{key}.opus"
                source = "espeak-ng"
                if digest == kiosk_audio.recording_hash(words):
                    source = "recording"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(recording, target)
                elif not target.is_file():
                    if recording.is_file():
                        print(f"kiosk-audio: {lang} recording {key} is for older words: set aside")
                    encode(words, voice, kiosk_audio.SPEED, target, work)
                    made += 1
                if old["clips"].get(lang, {}).get(message, {}).get("hash") not in (None, digest):
                    print(f"kiosk-audio: {lang}: remade the stale clip for {message!r}")
                clips[lang][message] = {"file": name, "hash": digest, "source": source}
            digits[lang] = []
            for digit in "0123456789":
                digest = kiosk_audio.words_hash(digit, voice, kiosk_audio.DIGIT_SPEED)
                name = f"{lang}/digit-{digit}-{digest[:12]}.opus"
                if not (kiosk_audio.AUDIO / name).is_file():
                    encode(digit, voice, kiosk_audio.DIGIT_SPEED, kiosk_audio.AUDIO / name, work)
                    made += 1
                digits[lang].append(name)
    used = {entry["file"] for entry in (e for m in clips.values() for e in m.values())}
    used.update(name for names in digits.values() for name in names)
    removed = 0
    for file in sorted(kiosk_audio.AUDIO.glob("*/*.opus")):
        if file.relative_to(kiosk_audio.AUDIO).as_posix() not in used:
            file.unlink()
            removed += 1
    manifest = {
        "about": "Made by scripts/kiosk-audio from the catalogues; do not edit by hand.",
        "text_only": list(kiosk_audio.TEXT_ONLY),
        "clips": clips,
        "digits": digits,
    }
    kiosk_audio.MANIFEST.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8"
    )
    size = sum(file.stat().st_size for file in kiosk_audio.AUDIO.glob("*/*.opus"))
    print(f"kiosk-audio: made {made} clips, removed {removed}; all clips {size / 1e6:.1f} MB")
    return 0


def check() -> int:
    problems = kiosk_audio.stale(load_catalogues())
    for problem in problems:
        print(f"kiosk-audio: {problem}")
    if problems:
        print("kiosk-audio: run ./scripts/kiosk-audio to make them again")
    return 1 if problems else 0


def listing(lang: str) -> int:
    catalogues = load_catalogues()
    gettext = catalogues[lang].gettext
    for message in kiosk_audio.kiosk_messages():
        print(f"{kiosk_audio.clip_key(message)}\t{gettext(message)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say what is stale")
    parser.add_argument("--list", metavar="LANG", help="recording names and words")
    args = parser.parse_args()
    if args.list:
        return listing(args.list)
    return check() if args.check else build()


if __name__ == "__main__":
    sys.exit(main())
