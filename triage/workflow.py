"""Legal deadlines of a case, computed from what has been done and when.

Pure functions over a case's facts (received day, category, urgency, closure) and its
events (what an officer did, on which day): no database, no clock of their own, so a test
can walk a case through any calendar. Each deadline is `met` once the event that answers
it is recorded, `overdue` when its day has passed without one, and `due` until then.

Sources (docs/design.md §3): EU Directive 2019/1937 art. 9 (acknowledge within 7 days, feedback
within 3 months); the Crime in Prison Referral Agreement (police contact within 24 hours for
a sexual offence); same-day escalation of a risk to life or of self-harm; PREA 115.67
(retaliation monitoring for at least 90 days after a sexual-abuse report) and 115.73
(the reporter is told the outcome).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: What an officer can record as done on a case, besides replies and status changes.
RECORDABLE = {
    "escalated": "Escalated the same day (risk to someone's life or safety)",
    "police_contacted": "Contacted the police",
    "safeguarding_contacted": "Contacted safeguarding",
    "retaliation_check": "Checked for retaliation against the reporter",
}
#: Event kinds the console records itself.
AUTOMATIC = ("acknowledged", "reply", "feedback", "closed", "outcome_notified", "referred")
OUTCOMES = {
    "substantiated": "Substantiated",
    "unsubstantiated": "Unsubstantiated",
    "unfounded": "Unfounded",
    "referred": "Referred elsewhere",
}
SEVERITIES = ("low", "medium", "high", "critical")
SEXUAL_ABUSE = frozenset({"staff_sexual_misconduct"})
SELF_HARM = frozenset({"self_harm_risk"})
RETALIATION_CHECKS = (30, 60, 90)  # days after the report: at least 90 days of monitoring


@dataclass(frozen=True)
class Event:
    kind: str
    on: datetime.date


@dataclass(frozen=True)
class Deadline:
    name: str  # e.g. "acknowledge_by": stable, for --json and tests
    label: str
    date: datetime.date
    met_on: datetime.date | None
    state: str  # "due", "met" or "overdue"

    @property
    def late(self) -> bool:
        return self.met_on is not None and self.met_on > self.date

    def as_json(self) -> dict[str, str | bool | None]:
        return {
            "label": self.label,
            "date": self.date.isoformat(),
            "state": self.state,
            "met_on": self.met_on.isoformat() if self.met_on else None,
            "late": self.late,
        }


def _first(events: Iterable[Event], *kinds: str) -> datetime.date | None:
    days = [event.on for event in events if event.kind in kinds]
    return min(days) if days else None


def _state(date: datetime.date, met_on: datetime.date | None, today: datetime.date) -> str:
    if met_on is not None:
        return "met"
    return "overdue" if today > date else "due"


def deadlines(
    *,
    received_on: datetime.date,
    category: str,
    urgent: bool,
    events: Sequence[Event],
    today: datetime.date,
) -> list[Deadline]:
    """Every deadline that applies to the case, earliest first; none once its content has
    been purged at the end of its retention (nothing is owed on a case that is gone)."""
    if any(event.kind == "purged" for event in events):
        return []
    day = datetime.timedelta(days=1)
    rules: list[tuple[str, str, datetime.date, datetime.date | None]] = [
        (
            "acknowledge_by",
            "Acknowledge the report (7 days)",
            received_on + 7 * day,
            _first(events, "acknowledged", "reply", "feedback", "closed"),
        ),
        (
            "feedback_by",
            "Feedback to the reporter on what was done (3 months)",
            received_on + 91 * day,  # three months, counted as 13 weeks
            _first(events, "feedback", "closed"),
        ),
    ]
    if urgent or category in SELF_HARM:
        rules.append(
            (
                "escalate_by",
                "Escalate the same day: someone may be in danger",
                received_on,
                _first(events, "escalated", "safeguarding_contacted"),
            )
        )
    if category in SELF_HARM:
        rules.append(
            (
                "safeguarding_by",
                "Contact safeguarding the same day (self-harm risk)",
                received_on,
                _first(events, "safeguarding_contacted"),
            )
        )
    if category in SEXUAL_ABUSE:
        rules.append(
            (
                "police_contact_by",
                "Contact the police within 24 hours (sexual offence)",
                received_on + day,
                _first(events, "police_contacted"),
            )
        )
        checks = sorted(event.on for event in events if event.kind == "retaliation_check")
        for number, days in enumerate(RETALIATION_CHECKS):
            rules.append(
                (
                    f"retaliation_check_{number + 1}_by",
                    f"Retaliation check-in {number + 1} of {len(RETALIATION_CHECKS)} "
                    f"(monitor for at least 90 days)",
                    received_on + days * day,
                    checks[number] if number < len(checks) else None,
                )
            )
    closed_on = _first(events, "closed")
    if closed_on is not None:
        rules.append(
            (
                "outcome_notified_by",
                "Tell the reporter the outcome (recorded when sent to the portal)",
                closed_on + 7 * day,
                _first(events, "outcome_notified"),
            )
        )
    found = [
        Deadline(name, label, date, met_on, _state(date, met_on, today))
        for name, label, date, met_on in rules
    ]
    return sorted(found, key=lambda d: (d.date, d.name))


def open_deadlines(found: Iterable[Deadline]) -> list[Deadline]:
    """The ones still to meet: what a dashboard shows."""
    return [d for d in found if d.state != "met"]
