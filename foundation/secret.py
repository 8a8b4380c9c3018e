"""A secret value both apps hold in their settings (keys, the relay's password)."""

from __future__ import annotations


class Secret:
    """Bytes that never show up in a `repr`, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"
