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
CHANNEL_VALUES = {"staff": "staff", "third-party": "third_party"}
