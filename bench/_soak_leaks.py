"""Phase 4 of the soak: after everything else, look for what reporters sent where the
portal must never keep it.

Every canary of the run (text fields, file names, file bytes, messages), every receipt
issued, and the clients' user agent and forwarded address are searched for in: each
portal's database (every row of every table: PostgreSQL twice, SQLite once), each
portal's data directory, the private PostgreSQL cluster's data directory and server log,
each portal's log (stdout and stderr), the consoles' data directories (sealed) and
output, and every file written under /tmp during the run. The portals' logs must also
hold no IP address: no dotted quad, no ::1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from _report import fmt_size, progress, table
from _soak_common import AGENT, FORWARDED, SoakConsole, Verdicts

from tests.reliability.leaks import Findings, addresses_in, files_written_since, own_address_lines
from tests.reliability.postgres import PrivatePostgres
from tests.reliability.served import ServedPortal


def every_file(root: Path) -> Iterable[Path]:
    return files_written_since(root, 0)


def run(
    started: float,
    prefix: str,
    receipts: Iterable[str],
    portals: Sequence[ServedPortal],
    databases: Sequence[tuple[str, str]],
    consoles: Sequence[SoakConsole],
    postgres: PrivatePostgres | None,
    verdicts: Verdicts,
) -> str:
    findings = Findings(prefix, frozenset(receipts), (AGENT, FORWARDED))
    progress(f"leak scan: {len(findings.receipts):,} receipts and the run's canaries")
    for kind, url in databases:
        findings.search_database(f"database rows: {kind}", url)
    for portal in portals:
        findings.search_files("portal data directories", every_file(portal.data_dir))
        findings.search_files("portal logs", [portal.log_path])
    for console in consoles:
        findings.search_files("console data directories (sealed)", every_file(console.data_dir))
        for output in console.outputs:
            findings.search(output.encode(), "console output")
    address_lines: list[str] = []
    if postgres is not None:
        findings.search_files("PostgreSQL data directory", every_file(postgres.data_dir))
        findings.search_files("PostgreSQL server log", [postgres.log_path])
        server_log = postgres.log_path.read_text(errors="replace")
        # The server's own listening address is in its log at every start; no client's is.
        address_lines += [
            f"PostgreSQL log: {line}"
            for line in addresses_in(server_log)
            if "listening on IPv4 address" not in line
        ]
    tmp = Path("/tmp")  # noqa: S108 - searched on purpose: nothing may be spooled there
    findings.search_files(
        "files written under /tmp during the run", files_written_since(tmp, started)
    )
    for portal in portals:
        own = own_address_lines(portal.url)  # its listening address, never a client's
        address_lines += [
            f"{portal.data_dir.name} log: {line}" for line in addresses_in(portal.log(), own)
        ]

    rows = [(kind, f"{count:,}") for kind, count in findings.searched.items()]
    rows.append(("bytes searched", fmt_size(findings.bytes_searched)))
    rows.append(("canaries, receipts, user agent or address found", f"{len(findings.found)}"))
    rows.append(("IP addresses in the portals' logs", f"{len(address_lines)}"))
    verdicts.check(
        "leaks: nothing a reporter sent, anywhere searched",
        not findings.found,
        findings.found[:5] or "none",
    )
    verdicts.check(
        "leaks: no IP address in any portal log", not address_lines, address_lines[:3] or "none"
    )
    return table(("leak scan: searched", "files / rows"), rows)
