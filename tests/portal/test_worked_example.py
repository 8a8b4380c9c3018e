"""The worked example of docs/protocol.md §9.12 runs as written against a portal: a v2
client reports, reads the console's reply through its own checks, and writes back."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from typing import Any

import crypto
from tests.conftest import ROOT

from .conftest import Portal


def worked_example() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("### 9.12 Worked example") : text.index("### 9.13")]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return code


def test_the_worked_example_speaks_to_a_portal(portal: Portal) -> None:
    code = worked_example()
    code = code.replace('"https://portal.example"', repr(portal.url))
    code = code.replace("crypto.V1_KDF", "CHEAP_KDF")  # the test portal's cheap KDF
    before, after = code.split("\n\ndef signed(")
    namespace: dict[str, Any] = {"CHEAP_KDF": portal.settings.kdf}
    exec(before, namespace)  # noqa: S102 - the documentation's own example
    portal.stack.callback(namespace["http"].close)  # the example's client, closed after
    console = portal.console()
    [item] = console.outbox()["items"]
    signed = item["signed"].encode()
    console.heads[item["case"]] = crypto.Head(0, hashlib.sha256(signed).digest())
    console.reply(item["case"], console.open(item), "We have your report.")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec("def signed(" + after, namespace)  # noqa: S102
    assert "We have your report." in printed.getvalue()
    assert "warning" not in printed.getvalue()
    [message] = console.outbox()["items"][1:]
    assert console.open(message)["text"] == "One more thing."
