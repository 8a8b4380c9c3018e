#!/usr/bin/env python3
"""Keep the kiosk catalogues in step with the pages.

    .venv/bin/python scripts/translations.py        # extract, then update every .po

Extracts the messages (babel.cfg) into portal/translations/messages.pot and updates
each portal/translations/<lang>/LC_MESSAGES/messages.po from it, keeping what is already
translated. A string with no translation shows in English on the page.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POT = ROOT / "portal" / "translations" / "messages.pot"


def main() -> int:
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            pybabel,
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-o",
            str(POT),
            "--no-location",
            "--omit-header",
            ".",
        ],
        check=True,
        cwd=ROOT,
    )
    subprocess.run(  # noqa: S603
        [pybabel, "update", "-i", str(POT), "-d", str(POT.parent), "--no-fuzzy-matching"],
        check=True,
        cwd=ROOT,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
