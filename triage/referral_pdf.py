"""A referral package's `referral.pdf`: the case as a person reads it (A4, Noto fonts,
its text extractable, so that tests and units can search it)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from foundation.categories import CATEGORIES

from . import labels
from .redaction import REDACTED, ReferralError

#: Where Debian's fonts-noto-core (and other distributions' Noto packages) put the fonts.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto"),
    Path("/usr/share/fonts/google-noto"),
)
#: Fallbacks for scripts Noto Sans itself does not draw: Arabic and Urdu, Gurmukhi, Bengali.
FALLBACK_FONTS = (
    "NotoSansArabic-Regular.ttf",
    "NotoSansGurmukhi-Regular.ttf",
    "NotoSansBengali-Regular.ttf",
)


def _fonts() -> tuple[Path, Path, list[Path]]:
    for folder in FONT_DIRS:
        regular, bold = folder / "NotoSans-Regular.ttf", folder / "NotoSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            fallbacks = [folder / name for name in FALLBACK_FONTS if (folder / name).is_file()]
            return regular, bold, fallbacks
    raise ReferralError(
        "the referral PDF needs the Noto fonts on the console host "
        "(Debian: apt-get install fonts-noto-core)"
    )


def render_pdf(bundle: dict[str, Any]) -> bytes:
    """The package's content as a PDF (A4, Noto fonts, text extractable)."""
    from fpdf import FPDF  # imported here: only exports need it

    regular, bold, fallbacks = _fonts()
    footer = (
        f"Lanthorn referral · case {bundle['case']} · for {bundle['unit_name']} · "
        f"exported {bundle['exported_on']} · CONFIDENTIAL · page {{nb}}"
    )

    class Referral(FPDF):
        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Noto", "", 8)
            self.cell(0, 5, footer.replace("{nb}", f"{self.page_no()} of {{nb}}"), align="C")

    pdf = Referral(format="A4")
    pdf.set_title(f"Referral of case {bundle['case']}")
    pdf.set_creator("Lanthorn console")
    pdf.set_creation_date(
        datetime.datetime.fromisoformat(bundle["exported_on"]).replace(tzinfo=datetime.UTC)
    )
    pdf.add_font("Noto", "", str(regular))
    pdf.add_font("Noto", "B", str(bold))
    for number, path in enumerate(fallbacks):
        pdf.add_font(f"Fallback{number}", "", str(path))
    pdf.set_fallback_fonts([f"Fallback{n}" for n in range(len(fallbacks))], exact_match=False)
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(True, margin=18)

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Noto", "B", 12)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font("Noto", "", 10)

    def field(label: str, value: Any) -> None:
        text = str(value) if value not in (None, "") else "—"
        pdf.set_font("Noto", "B", 10)
        pdf.multi_cell(0, 5.5, label, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font("Noto", "", 10)
        pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1)

    pdf.add_page()
    pdf.set_font("Noto", "B", 16)
    pdf.multi_cell(
        0, 9, f"Referral of case {bundle['case']}", new_x="LMARGIN", new_y="NEXT", align="L"
    )
    pdf.set_font("Noto", "", 10)
    pdf.multi_cell(
        0,
        5.5,
        f"For: {bundle['unit_name']}. Exported {bundle['exported_on']} by the oversight "
        "body. Confidential: the reporter's identity is withheld, and passages marked "
        f"{REDACTED} were removed to protect them.",
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )
    heading("The case")
    field("Reason for referral", bundle["reason"])
    field("Prison", bundle["facility"])
    field("Category (assessed)", bundle["category_label"])
    if bundle["reported_category"] and bundle["reported_category"] != bundle["category"]:
        reported = bundle["reported_category"]
        field("Category (as reported)", CATEGORIES.get(reported, reported))
    field("Severity", labels.word(labels.SEVERITIES, bundle["severity"]))
    field("Urgent", "yes" if bundle["urgent"] else "no")
    field("Received by the oversight body", bundle["received_on"])
    field("Reported through", labels.word(labels.CHANNELS, bundle["channel"]))
    field("Reporter's language", bundle.get("language_name"))
    field("Reporter's identity", "withheld" if bundle["identity"] else "not given")
    heading("The report")
    field("What happened", bundle["description"])
    field("Where", bundle["location"])
    field("When", bundle.get("occurred_dates", bundle["occurred"]))
    field("Who was involved", bundle["subjects"])
    field("Witnesses", bundle["witnesses"])
    if bundle["conversation"]:
        heading("Conversation with the reporter")
        for entry in bundle["conversation"]:
            who = {
                "message": "Reporter",
                "unsigned": "Unsigned message (not shown to be the reporter's)",
            }.get(entry["kind"], "Oversight body")
            field(f"{who}, {entry['on']}", entry["text"])
    if bundle["history"]:
        heading("Case history")
        for event in bundle["history"]:
            line = f"{event['on']}  {labels.word(labels.EVENTS, event['event'])}"
            pdf.multi_cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT", align="L")
    heading("Attachments")
    if not bundle["attachments"]:
        pdf.multi_cell(0, 5.5, "None.", new_x="LMARGIN", new_y="NEXT", align="L")
    for entry in bundle["attachments"]:
        field(entry["name"], f"{entry['size']} bytes")
        pdf.set_font("Noto", "", 8)
        pdf.multi_cell(
            0, 4.5, f"Original SHA-256: {entry['sha256']}", new_x="LMARGIN", new_y="NEXT", align="L"
        )
        if entry["copy"]:
            pdf.multi_cell(
                0,
                4.5,
                f"Copy without metadata: {entry['copy']['path']}, SHA-256 "
                f"{entry['copy']['sha256']}; removed: {', '.join(entry['copy']['removed'])}",
                new_x="LMARGIN",
                new_y="NEXT",
                align="L",
            )
        if entry.get("original"):
            pdf.multi_cell(
                0, 4.5, f"Original: {entry['original']}", new_x="LMARGIN", new_y="NEXT", align="L"
            )
        if entry["note"]:
            pdf.multi_cell(0, 4.5, entry["note"], new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font("Noto", "", 10)
        pdf.ln(1)
    return bytes(pdf.output())
