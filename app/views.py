"""How the operations' results read on a console: the same for every command and the demo.

A turn streams its deliberation as it happens, then its answer (or one JSON object for scripts);
memory queries are tables and panels (see :mod:`reason4rec.chat.printer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ..agent import EventHandler, Turn
    from ..memory import SalvageReport, UpdateResult
    from .service import Portrait

TURN_FIELDS = ("intent", "user_id", "item_id", "item_title", "item_name", "already_rated", "query", "like_item",
               "like_title", "reason", "reason_check", "evidence", "rating", "collab", "verdict", "recommendations",
               "candidates", "answer", "error", "timings")
"""What ``--json`` prints of a turn's final state (with its ``thread_id``)."""

_OUTCOMES = {"created": "stored", "unchanged": "already stored", "replaced": "replaced (old version kept)"}


def deliberation(console: Console, verbose: bool = False, names: Mapping[str, str] | None = None) -> EventHandler:
    """Prints a turn's events as they arrive: steps with timings, progress, tokens, the rating;
    ``names`` (item id -> title or label, e.g. ``Catalog.names``) names items the events give by id."""
    from ..chat import DeliberationPrinter

    return DeliberationPrinter(console, verbose, names)


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


def salvaged(console: Console, report: SalvageReport) -> None:
    """What a salvage recovered of what the damaged store held, and what to do next."""
    tables, written = report.tables, report.written
    found = "some pages were damaged" if report.damaged else "no damaged page was met: every row was read"
    console.print(f"salvaged {escape(str(report.source))} into {escape(str(report.out))} in {report.seconds:.1f} s "
                  f"({found}; the store was only read)")

    def of(table: str, recovered: int, what: str) -> str:
        counted = tables[table].counted
        if counted is None:
            return f"{what}: {recovered:,} (how many the store held could not be counted)"
        lost = f" ({counted - recovered:,} lost with damaged pages)" if counted > recovered else ""
        return f"{what}: {recovered:,} of {counted:,}{lost}"

    reviews = of("reviews", written.reviews, "reviews")
    console.print(f"{reviews}; all stored pending, so the memory is derived from them again")
    users = of("users", written.users + written.recreated_users, "users")
    items = of("items", written.items + written.recreated_items, "items")
    console.print(f"{users}; {items}; {of('review_history', written.history, 'earlier versions of reviews')}")
    if written.recreated_users or written.recreated_items:
        console.print(f"{written.recreated_users:,} users and {written.recreated_items:,} items were recreated from "
                      "the ids in their reviews (their own rows were on damaged pages; an item's title went with it)")
    if written.refused:
        console.print(f"{written.refused:,} rows read from damaged pages did not fit the store's schema and were "
                      "left out")
    out, source = escape(str(report.out)), escape(str(report.source))
    console.print(f"next: set memory.store_path to {out} (the config file's \\[memory] section, or "
                  f"REASON4REC_MEMORY__STORE_PATH), or with no reason4rec running move {source} and any -wal or -shm "
                  f"file beside it elsewhere and {out} in its place; then run `reason4rec memory build --rebuild` "
                  "(with the dataset the memory was built from: lost imported reviews come back from it) so the "
                  "vector memory matches the recovered reviews")


def portrait(console: Console, found: Portrait) -> None:
    """A profile and the recent reviews behind it, items named by title where known."""
    from ..chat import profile_panel

    console.print(profile_panel(found.kind, found.entity_id, found.profile, found.records, found.titles))


def matches(console: Console, found: Sequence[Any], title: str) -> None:
    """Matched profiles, best first."""
    from ..chat import matches_table

    console.print(matches_table(found, title=title))


def memory_status(console: Console, status: dict[str, Any]) -> None:
    """Both halves of the memory side by side."""
    from ..chat import memory_table

    console.print(memory_table(status))
