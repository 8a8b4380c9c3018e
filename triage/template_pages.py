"""The reply templates page: the answers officers give often (an acknowledgement, "we need
more detail about when", an outcome), kept per language, so that a reply reaches the
reporter in the language they wrote in (triage/notes.py keeps them sealed).

Triage officers read and edit them: they are the ones who reply. Investigators do not
write to reporters, and admins manage people, not what is said to reporters; both are
refused (403, audited). A case page offers the templates of the reporter's language.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.forms import small_form
from foundation.languages import LANGUAGES

from . import labels, notes
from .console import Console
from .notices import Notice
from .pages import officer, perform, render
from .settings import ConsoleError


async def templates_page(
    request: Request, *, error: str = "", kept: dict[str, str] | None = None, status: int = 200
) -> Response:
    console, _ = await officer(request, "triage")
    found = await run_in_threadpool(notes.templates, console)
    languages = {code: labels.language(code)["text"] for code in LANGUAGES}
    return render(
        request,
        "reply_templates.html",
        {
            "templates": found,
            "languages": languages,
            "typed": kept or {},
            "title_chars": notes.TITLE_CHARS,
            "text_chars": notes.TEMPLATE_CHARS,
            **({"notice": Notice(error, error=True)} if error else {}),
        },
        status=status,
    )


def _template_id(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise ConsoleError("there is no such template")
    return int(value)


async def templates_submit(request: Request) -> Response:
    """Add (no `id`), change (`id`) or delete (`delete` set) one template."""
    console, _ = await officer(request, "triage")
    form = await small_form(request, "templates")

    async def work(acting: Console) -> str:
        lang, title, text = form.get("lang", ""), form.get("title", ""), form.get("text", "")
        if form.get("delete"):
            await run_in_threadpool(notes.delete_template, acting, _template_id(form.get("id", "")))
            return "Template deleted."
        given = form.get("id", "")
        template_id = _template_id(given) if given else None
        await run_in_threadpool(notes.save_template, acting, lang, title, text, template_id)
        return "Template saved." if template_id else "Template added."

    async def refused(text: str, status: int) -> Response:
        return await templates_page(request, error=text, kept=form, status=status)

    return await perform(request, console, form, "templates", "/templates", work, refused)


routes = [
    Route("/templates", templates_page, methods=["GET"]),
    Route("/templates", templates_submit, methods=["POST"]),
]
