"""How the operations' results read on a console: the same for every command and the demo.

A turn streams its deliberation as it happens, then its answer (or one JSON object for scripts);
memory queries are tables and panels (see :mod:`reason4rec.chat.printer`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ..agent.session import EventHandler, Turn
    from ..memory.service import UpdateResult
    from .service import Portrait

TURN_FIELDS = ("intent", "user_id", "item_id", "item_title", "already_rated", "query", "like_item", "like_title",
               "reason", "reason_check", "rating", "recommendations", "candidates", "answer", "error", "timings")
"""What ``--json`` prints of a turn's final state (with its ``thread_id``)."""

_OUTCOMES = {"created": "stored", "unchanged": "already stored", "replaced": "replaced (old version kept)"}


def deliberation(console: Console, verbose: bool = False) -> EventHandler:
    """Prints a turn's events as they arrive: steps with timings, progress, tokens, the rating."""
    from ..chat.printer import DeliberationPrinter

    return DeliberationPrinter(console, verbose)


def answer(console: Console, turn: Turn, as_json: bool = False) -> None:
    """The turn's answer in Markdown with its thread, or the state's fields as one JSON object."""
    from rich.markdown import Markdown

    state: Any = turn.state
    if as_json:
        console.print_json(json.dumps({"thread_id": turn.thread_id, **{key: state.get(key) for key in TURN_FIELDS}}))
        return
    console.print(Markdown(state.get("answer") or ""))
    console.print(f"[dim]thread {turn.thread_id}[/]")


def review_added(console: Console, result: UpdateResult, as_json: bool = False) -> None:
    """What became of an added review: stored, summarized (or pending, and how to finish it)."""
    if as_json:
        console.print_json(json.dumps(asdict(result)))
        return
    console.print(f"review {escape(result.review.review_id)} {_OUTCOMES[result.outcome]}")
    if result.pending:
        console.print(f"[yellow]summary pending[/]: {escape(result.error or 'not summarized yet')}; "
                      "the review is safe; `reason4rec memory sync` finishes it")
    else:
        console.print(escape(result.summary or ""))
        console.print(f"[dim]searchable after {result.seconds:.1f} s[/]")


def portrait(console: Console, found: Portrait) -> None:
    """A profile and the recent reviews behind it, items named by title where known."""
    from ..chat.printer import profile_panel

    console.print(profile_panel(found.kind, found.entity_id, found.profile, found.records, found.titles))


def matches(console: Console, found: Sequence[Any], title: str) -> None:
    """Matched profiles, best first."""
    from ..chat.printer import matches_table

    console.print(matches_table(found, title=title))


def memory_status(console: Console, status: dict[str, Any]) -> None:
    """Both halves of the memory side by side."""
    from ..chat.printer import memory_table

    console.print(memory_table(status))
