"""Looking for a run's canaries and receipts where the portal must never put them, and
for network addresses in logs.

Builds on tests/portal/test_leaks.py (one report, every field): here a whole run's worth
of reports is searched for at once. Every canary of a run starts with the run's prefix,
so one search for the prefix finds any of them; receipts are found by pattern (20 digits,
grouped or not) and checked against the set that was issued.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.portal.test_leaks import database_rows, files_written_since

__all__ = ["Findings", "addresses_in", "database_rows", "files_written_since"]

#: Each byte's shape: a digit is "9", a space " ", NUL "0", anything else "."; a receipt
#: is then a fixed shape that `bytes.find` finds fast (a regex over ciphertext is slow).
_SHAPE = bytes(
    ord("9") if chr(b).isdigit() and b < 128 else b if b in b" " else ord("0") if b == 0 else 46
    for b in range(256)
)
_GROUPED = b" ".join([b"9999"] * 5)
_RECEIPT_SHAPES = (
    b"9" * 20,
    _GROUPED,
    b"90" * 20,  # UTF-16
    b"".join(bytes([c, 0x30]) for c in _GROUPED),
)
#: A dotted quad, and the IPv6 loopback; the portal may log neither.
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")
_IPV6_LOOPBACK = re.compile(r"(?<![0-9A-Za-z:])::1(?![0-9A-Za-z:])|\[::1\]")


@dataclass
class Findings:
    """Where a run's secrets turned up; `searched` counts what was looked at."""

    prefix: str
    receipts: frozenset[str]
    extra: tuple[str, ...] = ()  # more needles (a user agent, a forwarded address)
    searched: dict[str, int] = field(default_factory=dict)
    bytes_searched: int = 0
    found: list[str] = field(default_factory=list)

    def _needles(self) -> list[bytes]:
        texts = [self.prefix, *self.extra]
        return [t.encode() for t in texts] + [t.encode("utf-16-le") for t in texts]

    def search(self, data: bytes, where: str) -> None:
        self.bytes_searched += len(data)
        for needle in self._needles():
            if needle in data:
                self.found.append(f"{needle.decode(errors='replace')!r} in {where}")
        if any(receipt in self.receipts for receipt in receipts_in(data)):
            self.found.append(f"a receipt in {where}")

    def search_files(self, kind: str, paths: Iterable[Path]) -> None:
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:  # gone since it was listed (another process's temporary file)
                continue
            self.searched[kind] = self.searched.get(kind, 0) + 1
            self.search(data, str(path))

    def search_database(self, kind: str, url: str) -> None:
        """Every row of every table, each value as the driver returns it."""
        rows = database_rows(url)
        self.searched[kind] = len(rows)
        for table, row in rows:
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    data = bytes(value)
                else:
                    data = str(value).encode()
                self.search(data, f"{kind}, table {table}")


def receipts_in(data: bytes) -> Iterator[str]:
    """Every run of 20 digits in `data`, plain or in groups of four, in UTF-8 or UTF-16."""
    shape = data.translate(_SHAPE)
    for pattern in _RECEIPT_SHAPES:
        start = 0
        while (at := shape.find(pattern, start)) != -1:
            found = data[at : at + len(pattern)]
            yield bytes(b for b in found if 0x30 <= b <= 0x39).decode()
            start = at + 1


def own_address_lines(url: str) -> list[str]:
    """What `lanthorn portal serve` at `url` logs about its own address as it starts (the
    banner; without LANTHORN_HOSTS, the names it answers signed requests for): addresses,
    but never a client's."""
    host_port = url.split("://", 1)[1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    names = [host_port, f"localhost:{port}"] if host in ("127.0.0.1", "[::1]") else [host_port]
    return [
        f"Lanthorn portal on {url}/ (Ctrl-C to stop)",
        f"LANTHORN_HOSTS is not set: signed requests are accepted for {','.join(names)} only.",
    ]


def addresses_in(log: str, allowed: Iterable[str] = ()) -> list[str]:
    """Lines of `log` that hold an IPv4 address or ::1, except the `allowed` lines."""
    exempt = set(allowed)
    return [
        line
        for line in log.splitlines()
        if line not in exempt and (_IPV4.search(line) or _IPV6_LOOPBACK.search(line))
    ]
