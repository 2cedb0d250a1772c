"""The terminal chat over the deliberation graph (``reason4rec chat``).

:mod:`~reason4rec.chat.intents` turns a typed line into a command, :mod:`~reason4rec.chat.catalog`
knows the ids and titles it may name, :mod:`~reason4rec.chat.view` renders a turn's events live,
and :mod:`~reason4rec.chat.session` runs the loop (input history, Ctrl-C, threads).
"""

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes
from .catalog import Catalog
from .intents import Command, parse

__all__ = [
    "Catalog",
    "Chat",
    "Command",
    "DeliberationPrinter",
    "matches_table",
    "memory_table",
    "parse",
    "profile_panel",
    "read_line_factory",
]


_LAZY = {
    "Chat": ".session",
    "DeliberationPrinter": ".printer",
    "matches_table": ".printer",
    "memory_table": ".printer",
    "profile_panel": ".printer",
    "read_line_factory": ".session",
}
"""Names loaded on first use (their modules are not needed to import the package)."""

if TYPE_CHECKING:
    from .printer import DeliberationPrinter, matches_table, memory_table, profile_panel
    from .session import Chat, read_line_factory


__getattr__ = lazy_attributes(__name__, _LAZY)
