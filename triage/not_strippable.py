"""`NotStrippable`: why a file cannot be copied without its metadata. Every stripper
(strip_pictures.py, strip_films.py) raises it, and triage/strip.py says what follows:
the file is not copied at all.
"""

from __future__ import annotations


class NotStrippable(ValueError):
    """This file cannot be copied without its metadata (the reason is the message)."""
