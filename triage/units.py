"""Units and the routing table: which units act on a case of each category, in order.

Admins edit both, on the Units page or with `lanthorn triage units` and `… routing`. A
unit is never deleted, only retired: its cases and investigators keep pointing at it and
stay readable, but it is offered for no new routing and no new investigator. A unit
cannot be retired while the routing table still sends a category to it. Every change is
an audit entry, written in the same transaction as the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from foundation.categories import CATEGORIES

from .console import Console
from .db import Case, Officer, RoutingEntry, Unit
from .settings import ConsoleError

#: The units a new console starts with (migration 0005 holds a copy of these by value).
DEFAULT_UNITS = {
    "police_liaison": "Police liaison",
    "counter_corruption": "Counter-corruption",
    "governor": "Governor",
    "ombudsman": "Ombudsman",
    "equality_lead": "Equality lead",
    "healthcare_provider": "Healthcare provider",
    "safeguarding": "Safeguarding",
    "retaliation_monitor": "Retaliation monitor",
}
#: docs/design.md §3's default routing table: category → the units that must act, in order.
DEFAULT_ROUTING = {
    "staff_sexual_misconduct": ("police_liaison", "counter_corruption"),
    "trafficking": ("police_liaison", "counter_corruption"),
    "corruption": ("counter_corruption",),
    "use_of_force": ("governor", "ombudsman"),
    "bullying": ("governor", "ombudsman"),
    "discrimination": ("equality_lead", "ombudsman"),
    "healthcare": ("healthcare_provider",),
    "self_harm_risk": ("safeguarding",),
    "retaliation": ("retaliation_monitor",),
}
#: A category sends a case to at most this many units (the routing form's selects).
MAX_ROUTED = 4
_UNIT_ID = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True)
class UnitSummary:
    """One unit as the Units page lists it."""

    id: str
    name: str
    active: bool
    cases: int  # cases routed to it now, open or closed
    investigators: int  # active investigators working for it
    categories: tuple[str, ...]  # the categories the routing table sends to it


# -- reading ---------------------------------------------------------------------------


def units(console: Console, *, include_retired: bool = False) -> dict[str, str]:
    """Unit id → name, ordered by name; only active units unless `include_retired`."""
    with console.sessions() as session:
        query = select(Unit)
        if not include_retired:
            query = query.where(Unit.active.is_(True))
        rows = session.scalars(query).all()
    return {row.id: row.name for row in sorted(rows, key=_by_name)}


def routing(console: Console) -> dict[str, tuple[str, ...]]:
    """Category → its units in order, for the categories that have any, in category order."""
    with console.sessions() as session:
        return _routing(session)


def suggested(console: Console, category: str) -> tuple[str, ...]:
    """The units the routing table names for `category`, first one first."""
    with console.sessions() as session:
        return _chain(session, category)


def summaries(console: Console) -> list[UnitSummary]:
    """Every unit, retired ones too, with what still points at it."""
    with console.sessions() as session:
        rows = sorted(session.scalars(select(Unit)).all(), key=_by_name)
        routed = select(Case.unit, func.count()).where(Case.unit.is_not(None)).group_by(Case.unit)
        working = (
            select(Officer.unit, func.count())
            .where(Officer.role == "investigator", Officer.active.is_(True))
            .group_by(Officer.unit)
        )
        cases = {unit: count for unit, count in session.execute(routed)}
        investigators = {unit: count for unit, count in session.execute(working)}
        table = _routing(session)
    return [
        UnitSummary(
            id=row.id,
            name=row.name,
            active=row.active,
            cases=cases.get(row.id, 0),
            investigators=investigators.get(row.id, 0),
            categories=tuple(c for c, chain in table.items() if row.id in chain),
        )
        for row in rows
    ]


def _by_name(row: Unit) -> tuple[str, str]:
    # Sorted here, not by the database: SQLite and PostgreSQL collate names differently.
    return (row.name.casefold(), row.id)


def _chain(session: Session, category: str) -> tuple[str, ...]:
    query = (
        select(RoutingEntry.unit)
        .where(RoutingEntry.category == category)
        .order_by(RoutingEntry.position)
    )
    return tuple(session.scalars(query))


def _routing(session: Session) -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    query = select(RoutingEntry).order_by(RoutingEntry.category, RoutingEntry.position)
    for row in session.scalars(query):
        table.setdefault(row.category, []).append(row.unit)
    order = list(CATEGORIES)
    known = sorted(table, key=lambda c: (order.index(c) if c in order else len(order), c))
    return {category: tuple(table[category]) for category in known}


# -- changing ----------------------------------------------------------------------------


def add_unit(console: Console, unit_id: str, name: str) -> None:
    unit_id = unit_id.strip()
    if not (2 <= len(unit_id) <= 40 and _UNIT_ID.fullmatch(unit_id)):
        raise ConsoleError(
            "a unit id is 2 to 40 lower-case letters and digits in words joined by "
            "underscores, starting with a letter, e.g. prison_inspectorate"
        )
    name = _clean_name(name)
    with console.sessions() as session:
        existing = session.get(Unit, unit_id)
        if existing is not None:
            hint = " (it is retired: restore it instead)" if not existing.active else ""
            raise ConsoleError(f"there is already a unit {unit_id!r}{hint}")
        _check_name_free(session, name, unit_id)
        session.add(Unit(id=unit_id, name=name, active=True))
        console.audit(session, "add unit", unit=unit_id, name=name)
        _commit(session)


def rename_unit(console: Console, unit_id: str, name: str) -> None:
    name = _clean_name(name)
    with console.sessions() as session:
        unit = _unit(session, unit_id)
        if unit.name == name:
            raise ConsoleError(f"the unit {unit.id!r} is already called {name!r}")
        _check_name_free(session, name, unit.id)
        before, unit.name = unit.name, name
        console.audit(session, "rename unit", unit=unit.id, name=name, before=before)
        _commit(session)


def retire_unit(console: Console, unit_id: str) -> None:
    """Offer the unit for nothing new; its cases and investigators stay as they are."""
    with console.sessions() as session:
        unit = _unit(session, unit_id)
        if not unit.active:
            raise ConsoleError(f"the unit {unit.id!r} is already retired")
        categories = [c for c, chain in _routing(session).items() if unit.id in chain]
        if categories:
            raise ConsoleError(
                f"the routing table still sends {', '.join(categories)} to {unit.name} "
                f"({unit.id}): choose other units for "
                f"{'that category' if len(categories) == 1 else 'those categories'} first"
            )
        unit.active = False
        console.audit(session, "retire unit", unit=unit.id)
        _commit(session)


def restore_unit(console: Console, unit_id: str) -> None:
    with console.sessions() as session:
        unit = _unit(session, unit_id)
        if unit.active:
            raise ConsoleError(f"the unit {unit.id!r} is not retired")
        unit.active = True
        console.audit(session, "restore unit", unit=unit.id)
        _commit(session)


def set_routing(console: Console, category: str, unit_ids: Iterable[str]) -> bool:
    """Make `unit_ids` (first one first; none at all: no suggestion) the category's units.

    Returns whether anything changed; an unchanged table writes no audit entry."""
    if category not in CATEGORIES:
        raise ConsoleError(f"there is no category {category!r}: use one of {', '.join(CATEGORIES)}")
    chain = tuple(unit_id.strip() for unit_id in unit_ids)
    if len(chain) > MAX_ROUTED:
        raise ConsoleError(f"a category is routed to at most {MAX_ROUTED} units, not {len(chain)}")
    twice = sorted({unit_id for unit_id in chain if chain.count(unit_id) > 1})
    if twice:
        raise ConsoleError(f"{', '.join(twice)} is listed twice: name each unit once")
    with console.sessions() as session:
        for unit_id in chain:
            if not _unit(session, unit_id).active:
                raise ConsoleError(
                    f"the unit {unit_id!r} is retired: restore it first, or choose another"
                )
        before = _chain(session, category)
        if before == chain:
            return False
        session.execute(delete(RoutingEntry).where(RoutingEntry.category == category))
        session.add_all(
            RoutingEntry(category=category, position=position, unit=unit_id)
            for position, unit_id in enumerate(chain)
        )
        console.audit(
            session, "set routing", category=category, units=list(chain), before=list(before)
        )
        _commit(session)
    return True


def _unit(session: Session, unit_id: str) -> Unit:
    unit = session.get(Unit, unit_id.strip()) if unit_id.strip() else None
    if unit is None:
        raise ConsoleError(f"there is no unit {unit_id!r}")
    return unit


def _clean_name(name: str) -> str:
    name = " ".join(name.split())  # no leading, trailing or doubled spaces, no line breaks
    if not 2 <= len(name) <= 80:
        raise ConsoleError("a unit's name is 2 to 80 characters")
    return name


def _check_name_free(session: Session, name: str, unit_id: str) -> None:
    for other in session.scalars(select(Unit).where(Unit.id != unit_id)):
        if other.name.casefold() == name.casefold():
            raise ConsoleError(f"the unit {other.id!r} is already called {other.name!r}")


def _commit(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError:  # another admin made the same change at the same moment
        session.rollback()
        raise ConsoleError(
            "someone else changed the units at the same moment: look again and retry"
        ) from None
