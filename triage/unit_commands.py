"""`lanthorn triage units` and `routing`: the units cases are routed to, and which units
each category of report goes to (the web console's units page does the same).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from foundation.categories import CATEGORIES

from . import units
from .console import Console


def units_command(console: Console, args: Any) -> int:
    """`units list`, `add ID NAME`, `rename ID NAME`, `retire ID`, `restore ID`."""
    which, name = args.units_command, " ".join(getattr(args, "name", "").split())
    if which == "list":
        rows = units.summaries(console)
        if args.json:
            print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
            return 0
        for row in rows:
            print(
                f"{row.id:<24}{row.name:<28}{'active' if row.active else 'retired':<9}"
                f"{row.cases:>5} cases {row.investigators:>3} investigators"
            )
        return 0
    if which == "add":
        units.add_unit(console, args.unit, args.name)
        print(f"Unit {args.unit.strip()!r} added as {name!r}.")
        print("Send cases to it with `lanthorn triage routing set CATEGORY UNIT …`.")
    elif which == "rename":
        units.rename_unit(console, args.unit, args.name)
        print(f"Unit {args.unit!r} is now called {name!r}.")
    elif which == "retire":
        units.retire_unit(console, args.unit)
        print(
            f"Unit {args.unit!r} retired: its cases and investigators stay as they are; "
            "it is offered for nothing new."
        )
    else:
        units.restore_unit(console, args.unit)
        print(f"Unit {args.unit!r} restored.")
    return 0


def routing_command(console: Console, args: Any) -> int:
    """`routing show`, `set CATEGORY UNIT [UNIT …]`, `clear CATEGORY`."""
    if args.routing_command == "show":
        table = units.routing(console)
        if args.json:
            print(json.dumps({c: list(table.get(c, ())) for c in CATEGORIES}, indent=2))
            return 0
        for category in CATEGORIES:
            chain = table.get(category, ())
            print(f"{category:<26}{' then '.join(chain) if chain else '(no unit suggested)'}")
        return 0
    chosen = args.units if args.routing_command == "set" else []
    if not units.set_routing(console, args.category, chosen):
        print(f"Routing for {args.category} unchanged.")
    elif chosen:
        print(f"Cases about {args.category} now go to {' then '.join(chosen)}.")
    else:
        print(f"Cases about {args.category} now suggest no unit.")
    return 0
