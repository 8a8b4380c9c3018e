"""What a report can be about: DESIGN.md §3's routing table, in a reporter's words."""

from __future__ import annotations

CATEGORIES: dict[str, str] = {
    "staff_sexual_misconduct": "Sexual misconduct by staff, or a sexual or close relationship "
    "between staff and a prisoner",
    "trafficking": "Staff bringing in drugs, phones or other banned items",
    "corruption": "Bribes, or staff leaking information",
    "use_of_force": "Violence or too much force by staff",
    "bullying": "Bullying, threats or harassment",
    "discrimination": "Discrimination (race, religion, sex, disability, sexuality or other)",
    "healthcare": "Healthcare: treatment refused, delayed or unsafe",
    "self_harm_risk": "Someone is at risk of harming themselves",
    "retaliation": "Being punished for reporting or complaining",
    "other": "Something else",
}

#: The public status a reporter sees, in their words.
STATUS_TEXT: dict[str, str] = {
    "received": "Received — waiting to be read",
    "acknowledged": "Read by the oversight body",
    "in_review": "Being looked into",
    "action_taken": "Action has been taken",
    "closed": "Closed",
}

CHANNELS: dict[str, str] = {
    "staff": "I work in a prison",
    "third-party": "I am reporting for someone inside",
}
#: URL spelling → the `channel` value inside the sealed report.
CHANNEL_VALUES = {"staff": "staff", "third-party": "third_party", "kiosk": "kiosk"}

#: The same categories in words a nine-year-old can read, for the wing kiosks.
KIOSK_CATEGORIES: dict[str, str] = {
    "staff_sexual_misconduct": "A member of staff did something sexual, or wants a relationship",
    "trafficking": "Staff bring in drugs or phones",
    "corruption": "Staff take money or gifts, or tell secrets",
    "use_of_force": "Staff hurt someone",
    "bullying": "Someone bullies or threatens me",
    "discrimination": "I am treated badly because of who I am",
    "healthcare": "I cannot get the health care I need",
    "self_harm_risk": "Someone wants to hurt themselves",
    "retaliation": "I am punished for complaining",
    "other": "Something else",
}
KIOSK_PLACES: dict[str, str] = {
    "wing": "In a cell or on the wing",
    "healthcare": "Healthcare",
    "visits": "Visits",
    "work": "Work, education or the gym",
    "reception": "Reception, segregation or a van",
    "elsewhere": "Somewhere else",
}
KIOSK_WHEN: dict[str, str] = {
    "now": "It is happening now",
    "today": "Today",
    "week": "In the last 7 days",
    "earlier": "Before that",
}
