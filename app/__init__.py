"""The application layer: what a person asks of reason4rec, for the CLI, the chat and the demo alike.

The front ends (``cli.py``, ``demo.py``, the ``chat`` command) map what a person typed to these
modules, and render what they return:

- :mod:`.service`: :class:`~.service.Service` opens the memory and the experts once and offers the
  operations (why, rate, recommend, a user's profile turn, adding a review, profiles, searches,
  catalog lookups of ids and titles); every turn goes through :meth:`Agent.turn
  <reason4rec.agent.session.Agent.turn>` and every review through :meth:`AgentContext.add_review
  <reason4rec.agent.context.AgentContext.add_review>`, as the chat's do.
- :mod:`.resources`: opening the memory, the experts and the configured reviews, with a status line.
- :mod:`.upkeep`: building the memory from a dataset and finishing what was left pending.
- :mod:`.datasets`, :mod:`.evaluation`, :mod:`.train`, :mod:`.calibration`, :mod:`.models`: the data
  audit, the evaluations, training, a category's rating calibration, and the base model, engine,
  adapter and serving chores.
- :mod:`.conversation`: ``reason4rec chat``, the chat on what :mod:`.resources` opens.
- :mod:`.views`: how results read (a turn streamed then answered, or JSON; tables and panels).
- :mod:`.console`: the consoles (Rich on a terminal, whole lines on a pipe).

Heavy libraries are imported where used, so importing a module here stays cheap (``--help``).
"""

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes

__all__ = [
    "Service",
    "calibration",
    "console",
    "conversation",
    "datasets",
    "doctor",
    "evaluation",
    "make_console",
    "models",
    "open_agent",
    "quiet_transformers",
    "resources",
    "run_checks",
    "service",
    "train",
    "upkeep",
    "views",
]


_LAZY = {
    "Service": ".service",
    "make_console": ".console",
    "open_agent": ".resources",
    "quiet_transformers": ".resources",
    "run_checks": ".doctor",
}
"""Names loaded on first use (their modules are not needed to import the package)."""

if TYPE_CHECKING:
    from .console import make_console
    from .doctor import run_checks
    from .resources import open_agent, quiet_transformers
    from .service import Service


__getattr__ = lazy_attributes(__name__, _LAZY)
