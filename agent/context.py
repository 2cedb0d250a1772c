"""What the graph's nodes run on: the memory, the expert backend and prompt sizes (LangGraph context).

The context is per run and never checkpointed (it holds live objects: an open memory, a loaded
model or an HTTP client). :func:`open_context` builds it from the configuration: a local backend
(CPU or GPU, the shipped or a given set of adapters) or a remote OpenAI-compatible server.

Example:
    >>> context = open_context(load_config())      # doctest: +SKIP
    >>> graph.invoke(turn_input("explain", user_id="A1", item_id="B01"), context=context)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, Expert
from ..errors import Reason4RecError
from ..experts import Backend, Calibration, VerdictRule, rule_in_use
from ..memory import AddResult, ExpertSummarizer, Memory, UpdateResult


class TurnCancelled(Reason4RecError, RuntimeError):
    """The person asked to stop this turn (Ctrl-C in the chat, :meth:`Agent.cancel` in a script)."""


@dataclass
class AgentContext:
    """Live resources for one graph run (see :func:`open_context`)."""

    memory: Memory
    backend: Backend
    category: str
    history_k: int = 3
    max_review_chars: int = 400
    candidates: int = 8
    resummarize_lexicon: bool = True
    reason_drafts: int = 1
    """Drafts per reason, the least invented kept (:mod:`~reason4rec.experts.quality.reason_drafts`; needs
    a backend that can sample). :func:`open_context` sets the configured number (4 by default)."""
    reason_temperature: float = 0.7
    reason_rounds: int = 1
    """Rounds of drafts (a reason still under 80% grounded gets more); :func:`open_context` sets
    the configured number (2 by default)."""
    predictor_estimates: bool = False
    """The Predictor learnt with the collaborative estimates in its prompt (its card says so), so
    it is given them; :func:`open_context` reads this off the adapters."""
    reasoner_stars: bool = False
    """The Reasoner learnt with each history line's stars in its prompt (its card says so)."""
    calibration: Calibration | None = None
    """The category's calibration for these experts (:mod:`~reason4rec.experts.calibration`): the
    rating a person is shown; None: the Predictor's expected rating as it is."""
    notes: list[str] = field(default_factory=list)
    """What a person should be told once when the context opens (a calibration that cannot be used)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set from any thread to stop the running turn at its next step or generated token."""

    def check_cancelled(self) -> None:
        """Raise :class:`TurnCancelled` when :attr:`cancel` is set (nodes call it between units
        of work; the turn then ends through ``respond`` like any other error)."""
        if self.cancel.is_set():
            raise TurnCancelled("cancelled: the deliberation was stopped before it finished")

    @property
    def verdict_rule(self) -> VerdictRule | None:
        """The verdict rule in use (the reason says "a poor match" where the ratings do): the
        calibration's where it placed a threshold, else the one the memory's ratings give
        (:func:`~reason4rec.experts.rule_in_use`)."""
        calibrated = self.calibration.verdict if self.calibration is not None else None
        return rule_in_use(calibrated, lambda: self.memory.collab.verdict_rule)

    @property
    def summarizer(self) -> ExpertSummarizer:
        """The Summarizer on this context's backend; it stops at the next token once cancelled."""
        return ExpertSummarizer(_Cancellable(self.backend, self), self.category,
                                max_review_chars=self.max_review_chars)

    def add_review(self, user_id: str, item_id: str, rating: float, text: str, *, title: str = "",
                   item_title: str | None = None, timestamp: int | None = None,
                   stored: AddResult | None = None) -> UpdateResult:
        """The one path a review a person writes takes into the memory, from every edge (the
        graph's ``update`` step for the chat and the scripting API, ``reason4rec memory
        add-review``): stored durably, then summarized by this context's Summarizer; a failure
        after storing leaves it pending (see ``Memory.add_review``, and its ``stored``: the CLI
        stores before it loads the Summarizer)."""
        return self.memory.add_review(user_id, item_id, rating, text, summarizer=self.summarizer,
                                      timestamp=timestamp, title=title, item_title=item_title, stored=stored)

    def finish_pending(self) -> None:
        """Finish the memory work an earlier run left pending (before this one adds its own)."""
        self.memory.finish_pending(self.summarizer)

    def close(self) -> None:
        self.memory.close()


class _Cancellable:
    """A backend whose ``generate`` checks the context's cancel flag at every generated token."""

    def __init__(self, backend: Backend, context: AgentContext) -> None:
        self._backend, self._context = backend, context

    def generate(self, expert: Expert, conversations: Any, *, max_new_tokens: int | None = None,
                 on_text: Any = None) -> list[str]:
        def check(row: int, piece: str) -> None:
            self._context.check_cancelled()
            if on_text is not None:
                on_text(row, piece)

        self._context.check_cancelled()
        return self._backend.generate(expert, conversations, max_new_tokens=max_new_tokens, on_text=check)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def open_context(config: Config, *, backend: Backend | None = None, memory: Memory | None = None,
                 status: Callable[[str], None] | None = None) -> AgentContext:
    """Open the memory and the backend named by ``config`` (either may be given ready-made).

    The memory first: a memory in use or damaged is refused in a second, not after the models
    loaded. A memory opened here is closed again if the backend then fails.
    """
    from ..data import configured_category
    from ..experts import SERVING_EXPERTS, calibrations_for, open_backend, shape_of

    category = configured_category(config.data)
    opened = None if memory is not None else Memory.open(config, category=category, status=status)
    try:
        if backend is None:
            backend, shape = open_backend(config, status)
        else:
            shape = shape_of(backend, config.data.history_k)
        history_k, review_chars = (shape.history_k, shape.max_review_chars) if shape else (3, 400)
        estimates, stars = bool(shape and shape.estimates), bool(shape and shape.reasoner_stars)
        # The category's calibration for the experts that run: a local engine's own adapter versions,
        # else (a remote server) those of the configured adapters whose cards gave the shape; a
        # backend with no adapter cards (a script's or a test's own) has no experts to match one to.
        local = getattr(backend, "experts", None) is not None
        calibrations = calibrations_for(config, config.agent.adapters, versions={
            e.value: backend.version(e) for e in SERVING_EXPERTS} if local else None) if shape else None
        calibration = calibrations.find(category) if calibrations else None
    except BaseException:
        if opened is not None:
            opened.close()
        raise
    return AgentContext(memory or opened, backend, category, history_k, review_chars, config.agent.candidates,
                        config.agent.resummarize_lexicon, config.agent.reason_drafts,
                        config.agent.reason_temperature, config.agent.reason_rounds, estimates, stars,
                        calibration=calibration, notes=list(calibrations.notes) if calibrations else [])
