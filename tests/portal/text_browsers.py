"""lynx and w3m, the text browsers some staff use, against a portal on a loopback port.

`dump` shows a page as a reader of that browser sees it. `Lynx.send_form` drives an
interactive lynx through a form, as a reader at the keyboard does: a keystroke script
(`-cmd_script`) in a pseudo-terminal moves with the Down arrow from field to field, types,
chooses and presses the button, then saves the page that comes back with lynx's own
"Print → Save to a local file". Fields are found by their labels in lynx's numbered view
of the same page, so a test names what the reader reads, never the markup.

Both browsers are Debian packages that scripts/test installs; without them these tests
skip, or fail when LANTHORN_REQUIRE_DEPLOY_TOOLS is set (see tests/test_deploy.py).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.test_deploy import tool

#: Wide enough that a label and its field always share a line in the numbered view.
WIDTH = 1000
#: Seconds one lynx run may take before the test fails; a run takes about one.
TIMEOUT = 30


def _env(home: Path) -> dict[str, str]:
    # No reader's settings, cookies or bookmarks: HOME is the test's own folder.
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "vt100"}


def dump(browser: str, home: Path, url: str = "", html: str = "") -> str:
    """The page at `url` (or the page `html`) as `browser` ("lynx" or "w3m") shows it."""
    if browser == "lynx":
        source = ["-stdin", "-force_html"] if html else [url]
        args = [tool("lynx"), "-dump", "-nolist", "-width=100", "-display_charset=utf-8"]
    else:
        source = ["-T", "text/html"] if html else [url]
        args = [tool("w3m"), "-dump", "-cols", "100", "-O", "UTF-8", "-no-cookie"]
    done = subprocess.run(  # noqa: S603 - a test's own command line
        [*args, *source],
        input=html.encode(),
        capture_output=True,
        env=_env(home),
        cwd=home,
        timeout=TIMEOUT,
        check=True,
    )
    return done.stdout.decode()


def words(text: str) -> str:
    """Text with every run of white space made one space: what a reader reads."""
    return " ".join(text.split())


@dataclass
class Lynx:
    """An interactive lynx, with its own home folder and cookie jar across runs."""

    home: Path
    runs: int = field(default=0)

    def send_form(
        self,
        url: str,
        submit: str,
        text: dict[str, str] | None = None,
        choose: tuple[str, ...] = (),
    ) -> str:
        """Open `url`, type `text` (label → words) into its fields, choose the radio
        buttons labelled `choose`, press the button `submit`; the page lynx then shows."""
        numbered = self._numbered(url)
        targets = [
            (_field_after(numbered, label), list(value)) for label, value in (text or {}).items()
        ]
        targets += [(_choice(numbered, label), ["^J"]) for label in choose]
        targets.append((_button(numbered, submit), ["^J"]))
        keys, at = [], 1  # lynx starts on the page's first link
        for number, typed in sorted(targets, key=lambda target: target[0]):
            keys += ["Down Arrow"] * (number - at) + [_key(k) for k in typed]
            at = number
        self.runs += 1
        saved = f"page-{self.runs}.txt"
        # "p": print; the first choice is "Save to a local file"; ^U clears the name offered.
        keys += ["p", "^J", "^U", *map(_key, saved), "^J"]
        screen = self._run(url, keys)
        page = self.home / saved
        assert page.exists(), f"lynx saved no page; its screen ended with: {screen[-2000:]}"
        # lynx can split a character that a form field follows on the same line.
        return page.read_text(errors="replace")

    def _numbered(self, url: str) -> str:
        done = subprocess.run(  # noqa: S603 - a test's own command line
            [tool("lynx"), "-dump", "-number_fields", f"-width={WIDTH}", url],
            capture_output=True,
            env=_env(self.home),
            cwd=self.home,
            timeout=TIMEOUT,
            check=True,
        )
        return done.stdout.decode()

    def _run(self, url: str, keys: list[str]) -> str:
        script = self.home / "keys"
        script.write_text("".join(f"key {key}\n" for key in keys) + "exit\n")
        jar = self.home / "cookies"
        command = [
            tool("lynx"),
            "-accept_all_cookies",
            f"-cookie_file={jar}",
            f"-cookie_save_file={jar}",
            f"-cmd_script={script}",
            "-nopause",
            "-display_charset=utf-8",
            url,
        ]
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        process = subprocess.Popen(  # noqa: S603 - a test's own command line
            command,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=_env(self.home),
            cwd=self.home,
        )
        os.close(terminal)
        screen = bytearray()
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([controller], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(controller, 65536)
                    except OSError:  # lynx has gone and closed the terminal
                        break
                    screen.extend(chunk)
                elif process.poll() is not None:
                    break
            else:
                raise AssertionError(f"lynx did not finish within {TIMEOUT} s: {screen[-2000:]!r}")
        finally:
            os.close(controller)
            if process.poll() is None:
                process.kill()
            process.wait()
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", " ", screen.decode("utf-8", "replace"))


def _key(char: str) -> str:
    """A character as the keystroke script spells it: letters and digits as themselves,
    names such as "^J" and "Down Arrow" as given, anything else as its code."""
    if len(char) > 1 or char.isascii() and char.isalnum():
        return char
    if ord(char) > 0x7E:
        raise ValueError("type ASCII into lynx: other characters depend on the terminal")
    return f"0x{ord(char):02x}"


def _number_after(numbered: str, pattern: str, what: str) -> int:
    match = re.search(pattern, numbered, re.DOTALL)
    assert match, f"lynx shows no {what}"
    return int(match.group(1))


def _field_after(numbered: str, label: str) -> int:
    return _number_after(numbered, re.escape(label) + r".*?\[(\d+)\]", f"field after {label!r}")


def _choice(numbered: str, label: str) -> int:
    pattern = r"\[(\d+)\]\([ *]\) " + re.escape(label)
    return _number_after(numbered, pattern, f"radio button {label!r}")


def _button(numbered: str, label: str) -> int:
    return _number_after(numbered, r"\(\[(\d+)\]BUTTON\) " + re.escape(label), f"button {label!r}")
