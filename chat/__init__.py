"""The terminal chat over the deliberation graph (``reason4rec chat``).

:mod:`~reason4rec.chat.intents` turns a typed line into a command, :mod:`~reason4rec.chat.catalog`
knows the ids and titles it may name, :mod:`~reason4rec.chat.view` renders a turn's events live,
and :mod:`~reason4rec.chat.session` runs the loop (input history, Ctrl-C, threads).
"""

from .catalog import Catalog
from .intents import Command, parse

__all__ = ["Catalog", "Command", "parse"]
