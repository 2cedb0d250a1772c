"""Where output goes: Rich's console on a terminal, a console that keeps lines whole elsewhere."""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from ..experts import strip_terminal_escapes

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters (newlines and tabs stay)."""


class VisibleText:
    """A text stream that drops terminal control sequences and control characters on the way
    out: what a person typed or a review holds is echoed into logs and pipes as plain text,
    never as a clear-screen or a window title (Rich itself writes none to a non-terminal)."""

    def __init__(self, stream: IO[str] | None = None, *, stderr: bool = False) -> None:
        self._given, self._stderr = stream, stderr

    @property
    def _stream(self) -> IO[str]:  # looked up at each write, as Rich does: tests and runners swap sys.stdout
        return self._given or (sys.stderr if self._stderr else sys.stdout)

    def write(self, text: str) -> int:
        return self._stream.write(_CONTROL.sub("", strip_terminal_escapes(text)))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """The console for stdout (or stderr): Rich's own on a terminal, a :class:`PlainConsole` elsewhere."""
    options.setdefault("highlight", False)
    console = Console(stderr=stderr, **options)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = options.pop("width", None) or (int(columns) if columns.isdigit() else max(console.width, PLAIN_WIDTH))
    return PlainConsole(file=VisibleText(options.pop("file", None), stderr=stderr), width=width, **options)
