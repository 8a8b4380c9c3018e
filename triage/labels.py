"""What the console's internal values mean, in the words an officer reads.

The database, the audit log and `--json` keep the values (`third_party`, `in_review`,
`police_contacted`); every page, the command line's text and the referral PDF show these
words instead. Also here: the reporter's language by name, dates written out, and the
kiosk's "when" answers turned into the dates they meant on the day the report was sent.
"""

from __future__ import annotations

import datetime
from typing import Any

from foundation.categories import CATEGORIES, KIOSK_WHEN, STATUS_TEXT
from foundation.languages import LANGUAGES, RTL

from .workflow import OUTCOMES, RECORDABLE

#: How the report came in.
CHANNELS = {
    "staff": "Staff: someone who works in the prison",
    "third_party": "Third party: someone reporting for a person inside",
    "kiosk": "Wing kiosk: a prisoner",
}
#: The status the reporter sees, in the words they see it in (foundation/categories.py).
STATUSES: dict[str, str] = dict(STATUS_TEXT)
#: Where the case is in the oversight body's own work.
STAGES = {
    "new": "New",
    "acknowledged": "Acknowledged",
    "assessed": "Assessed",
    "routed": "Routed to a unit",
    "investigating": "Being investigated",
    "closed": "Closed",
}
SEVERITIES = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
#: What was done on a case, as the case history lists it.
EVENTS = {
    "acknowledged": "Acknowledged",
    "reply": "Replied to the reporter",
    "feedback": "Told the reporter what was done",
    "closed": "Closed",
    "outcome_notified": "The outcome reached the reporter",
    "referred": "Referred to a unit",
    "purged": "Purged at the end of its retention period",
    **RECORDABLE,
}
#: A thread's entries.
ITEMS = {
    "report": "Report",
    "message": "Message from the reporter",
    "unsigned": "Unsigned message: not shown to be the reporter's (no signature)",
    "reply": "Reply to the reporter",
}
DEADLINE_STATES = {"due": "Due", "met": "Met", "overdue": "Overdue"}
ROLES = {
    "admin": "Administrator",
    "triage": "Triage officer",
    "investigator": "Investigator",
    "auditor": "Auditor",
    "custodian": "Custodian (approves identity requests)",
}
#: The portal's languages (foundation/languages.py names each in its own script), in English.
LANGUAGE_IN_ENGLISH = {
    "en": "English",
    "cy": "Welsh",
    "pl": "Polish",
    "ro": "Romanian",
    "sq": "Albanian",
    "lt": "Lithuanian",
    "es": "Spanish",
    "pt": "Portuguese",
    "ar": "Arabic",
    "ur": "Urdu",
    "pa": "Punjabi",
    "so": "Somali",
    "vi": "Vietnamese",
    "bn": "Bengali",
}
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def word(table: dict[str, str], value: object) -> str:
    """`value` in words; one the table lacks is shown as a sentence, never as_a_value."""
    if value is None or value == "":
        return "—"
    text = str(value)
    return table.get(text) or text.replace("_", " ").capitalize()


def day(value: datetime.date | str | None) -> str:
    """6 December 2026."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            return str(value)
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def _span(first: datetime.date, last: datetime.date) -> str:
    """29 November – 6 December 2026 (the year once when both share it)."""
    if first.year == last.year:
        start = f"{first.day} {MONTHS[first.month - 1]}"
        return f"{start} – {day(last)}"
    return f"{day(first)} – {day(last)}"


def language(code: str | None) -> dict[str, Any]:
    """The reporter's language: its own name, its English name, and its direction."""
    code = (code or "").strip()
    if not code:
        return {"code": "", "name": "", "english": "", "text": "Not recorded", "rtl": False}
    own, english = LANGUAGES.get(code), LANGUAGE_IN_ENGLISH.get(code)
    if own is None or english is None:
        text = f"{code} (a language code the portal does not offer)"
        return {"code": code, "name": code, "english": "", "text": text, "rtl": False}
    text = own if own == english else f"{own} ({english})"
    return {"code": code, "name": own, "english": english, "text": text, "rtl": code in RTL}


def occurred(report: dict[str, Any], sent_on: datetime.date) -> str:
    """The report's "when". A kiosk answer ("Today", "In the last 7 days") meant the day
    the report was sent, so the dates it stands for are added; words a reporter typed
    are shown as typed."""
    text = str(report.get("occurred") or "")
    if report.get("channel") != "kiosk":
        return text
    week_before = sent_on - datetime.timedelta(days=7)
    if text in (KIOSK_WHEN["now"], KIOSK_WHEN["today"]):
        return f"{text} ({day(sent_on)})"
    if text == KIOSK_WHEN["week"]:
        return f"{text} ({_span(week_before, sent_on)})"
    if text == KIOSK_WHEN["earlier"]:
        return f"{text} (before {day(week_before)})"
    return text


def sent_day(content: dict[str, Any], received_on: datetime.date) -> datetime.date:
    """The day a report reached the portal (the outbox says so), else the day the
    reporter's device dated it, else the day this console took it in."""
    for value in (content.get("portal_on"), content.get("document", {}).get("sent_on")):
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            continue
    return received_on


def audit_detail(key: str, value: object, units: dict[str, str] | None = None) -> str:
    """An audit entry's detail, `key: value`, in words where the value is one of the
    console's own (a status, an outcome, a unit's id); other values as recorded."""
    tables: dict[str, dict[str, str]] = {
        "state": STATUSES,
        "what": EVENTS,
        "outcome": OUTCOMES,
        "severity": SEVERITIES,
        "category": CATEGORIES,
        "reported_category": CATEGORIES,
        "role": ROLES,
        "kind": {"person": "Person", "place": "Place", **ITEMS},
        "unit": units or {},
        "units": units or {},
    }

    def shown(name: str, item: object) -> str:
        if isinstance(item, dict):
            return "(" + ", ".join(audit_detail(k, v, units) for k, v in item.items()) + ")"
        if isinstance(item, list):
            return ", ".join(shown(name, v) for v in item) or "none"
        if isinstance(item, bool):
            return "yes" if item else "no"
        if name in tables and isinstance(item, str):
            return word(tables[name], item)
        return "—" if item is None else str(item)

    return f"{key.replace('_', ' ')}: {shown(key, value)}"


def register(env: Any) -> None:
    """Make these available to the console's templates."""
    env.globals.update(
        channels=CHANNELS,
        statuses=STATUSES,
        stage_words=STAGES,
        severity_words=SEVERITIES,
        item_words=ITEMS,
        deadline_words=DEADLINE_STATES,
        role_words=ROLES,
        word=word,
        audit_detail=audit_detail,
    )
    env.filters["day"] = day
