"""Terminal output where every string is literal text: no markup, no escape sequences.

Tags, resource ids, names and error messages come from the store and from clouds, and anyone
who can tag a resource controls them.  Printed through Rich's defaults they are markup
(``a[/b]c`` crashes the command, ``[link=…]`` becomes a hyperlink) and their control characters
reach the terminal raw (an ESC sequence can recolour, retitle or rewrite the screen).  The
consoles here parse no markup, emoji or highlighting, and every string they render has its
control characters (C0, DEL, C1 and the bidirectional overrides) shown as ``\\x1b``-style
escapes.  Styling is done with :class:`rich.text.Text` spans, never with markup in strings.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character (newline and tab kept) as a visible escape."""
    return _CONTROL.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class LiteralConsole(Console):
    """A Rich console that renders strings as the literal text they are."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs["markup"] = False
        kwargs["emoji"] = False
        kwargs["highlight"] = False
        return super().render_str(visible(text), **kwargs)


def styled(text: str, style: str) -> Text:
    """Literal ``text`` in ``style`` (the way to colour output without markup)."""
    return Text(visible(text), style=style)
