"""Where output goes: Rich's console on a terminal, a console that keeps lines whole elsewhere."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.text import Text

PLAIN_WIDTH = 160
"""Columns for tables, panels and Markdown when output goes to a pipe or a file ($COLUMNS wins)."""


class PlainConsole(Console):
    """A console for pipes and files, where nobody resizes a window: a line of text is written
    whole, never wrapped, so never inside a word (a path or an id stays whole and can be copied);
    tables, panels and Markdown are laid out :data:`PLAIN_WIDTH` wide instead of Rich's 80, which
    squeezes columns until words are cut."""

    def print(self, *objects: Any, **options: Any) -> None:
        if all(isinstance(item, (str, Text)) for item in objects):
            options.setdefault("soft_wrap", True)
        super().print(*objects, **options)


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """The console for stdout (or stderr): Rich's own on a terminal, a :class:`PlainConsole` elsewhere."""
    options.setdefault("highlight", False)
    console = Console(stderr=stderr, **options)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = options.pop("width", None) or (int(columns) if columns.isdigit() else max(console.width, PLAIN_WIDTH))
    return PlainConsole(stderr=stderr, width=width, **options)
