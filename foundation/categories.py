"""What a report can be about: docs/design.md §3's routing table, in a reporter's words.

The values inside a sealed report (category, channel, the kiosk's place and time) and the
words for them: the portal shows them to reporters, the console to officers."""

from __future__ import annotations

from .languages import N_

CATEGORIES: dict[str, str] = {
    "staff_sexual_misconduct": N_(
        "Sexual misconduct by staff, or a sexual or close relationship between staff and a prisoner"
    ),
    "trafficking": N_("Staff bringing in drugs, phones or other banned items"),
    "corruption": N_("Bribes, or staff leaking information"),
    "use_of_force": N_("Violence or too much force by staff"),
    "bullying": N_("Bullying, threats or harassment"),
    "discrimination": N_("Discrimination (race, religion, sex, disability, sexuality or other)"),
    "healthcare": N_("Healthcare: treatment refused, delayed or unsafe"),
    "self_harm_risk": N_("Someone is at risk of harming themselves"),
    "retaliation": N_("Being punished for reporting or complaining"),
    "other": N_("Something else"),
}

#: The public status a reporter sees, in their words.
STATUS_TEXT: dict[str, str] = {
    "received": N_("Received — waiting to be read"),
    "acknowledged": N_("Read by the oversight body"),
    "in_review": N_("Being looked into"),
    "action_taken": N_("Action has been taken"),
    "closed": N_("Closed"),
}

CHANNELS: dict[str, str] = {
    "staff": N_("I work in a prison"),
    "third-party": N_("I am reporting for someone inside"),
}
#: URL spelling → the `channel` value inside the sealed report.
CHANNEL_VALUES = {"staff": "staff", "third-party": "third_party", "kiosk": "kiosk"}

#: The same categories in words a nine-year-old can read, for the wing kiosks.
KIOSK_CATEGORIES: dict[str, str] = {
    "staff_sexual_misconduct": N_("Staff did sexual things, or want to go out with someone"),
    "trafficking": N_("Staff bring in drugs or phones"),
    "corruption": N_("Staff take money or gifts, or tell secrets"),
    "use_of_force": N_("Staff hurt someone"),
    "bullying": N_("Someone bullies me or says they will hurt me"),
    "discrimination": N_("I am treated badly because of who I am"),
    "healthcare": N_("I cannot get the health care I need"),
    "self_harm_risk": N_("Someone wants to hurt themselves"),
    "retaliation": N_("I am in trouble because I complained"),
    "other": N_("Something else"),
}
KIOSK_STATUS: dict[str, str] = {
    "received": N_("Sent. Nobody has read it yet."),
    "acknowledged": N_("Read by the people outside the prison"),
    "in_review": N_("They are looking into it"),
    "action_taken": N_("Something has been done about it"),
    "closed": N_("Finished"),
}
KIOSK_PLACES: dict[str, str] = {
    "wing": N_("In a cell or on the wing"),
    "healthcare": N_("Healthcare"),
    "visits": N_("Visits"),
    "work": N_("Work, classes or the gym"),
    "reception": N_("Reception, the seg or a van"),
    "elsewhere": N_("Somewhere else"),
}
KIOSK_WHEN: dict[str, str] = {
    "now": N_("It is happening now"),
    "today": N_("Today"),
    "week": N_("In the last 7 days"),
    "earlier": N_("Before that"),
}
