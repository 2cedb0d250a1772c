"""The operations a person asks for, on one configuration, for every front end.

A :class:`Service` opens the memory and the experts when an operation first needs them, once,
and closes them with itself. Turns (why, rate, recommend, a user's profile) run through
:meth:`Agent.turn <reason4rec.agent.session.Agent.turn>`, the chat's turn runner; a review goes
through :meth:`AgentContext.add_review <reason4rec.agent.context.AgentContext.add_review>`, the
path the chat's ``update`` step takes; the memory is read through its narrow queries.

Example:
    >>> with Service(load_config(), Console()) as service:              # doctest: +SKIP
    ...     service.why("A1", "B0002E1G5C", on_event=print).state["answer"]
    ...     service.add_review("A1", "B0002E1G5C", 4, "Warm tone, a little hum.").outcome
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.markup import escape

from ..config import Config
from . import resources

if TYPE_CHECKING:
    from ..agent import Agent, AgentContext, EventHandler, Intent, Turn
    from ..chat import Catalog
    from ..memory import HistoryRecord, Match, Memory, Profile, UpdateResult

Kind = Literal["user", "item"]


@dataclass(frozen=True, slots=True)
class Portrait:
    """A user's or an item's profile with its recent reviews, and the titles they name."""

    kind: Kind
    entity_id: str
    profile: Profile | None
    records: list[HistoryRecord]
    titles: dict[str, str]


class Service:
    """One configuration's memory and experts, opened on first need, and what can be asked of them."""

    def __init__(self, config: Config, console: Console) -> None:
        self.config = config
        self.console = console
        """Where status lines go while things open (stderr when stdout carries JSON)."""
        self._memory: Memory | None = None
        self._agent: Agent | None = None
        self._reviewer: AgentContext | None = None

    # ------------------------------------------------------------------ resources
    def memory(self, category: str | None = None, *, rebuild: bool = False) -> Memory:
        """The memory, opened on first use (``category`` and ``rebuild`` count only then)."""
        if self._agent is not None:
            return self._agent.memory
        if self._memory is None:
            self._memory = resources.open_memory(self.config, category, rebuild=rebuild, console=self.console)
        return self._memory

    def agent(self) -> Agent:
        """The memory and the experts, opened on first use (an open memory is handed over)."""
        if self._agent is None:
            with self.console.status("opening the memory and the experts ...") as status:
                self._agent = resources.open_agent(self.config, memory=self._memory,
                                                   status=lambda m: status.update(escape(m)))
            self._memory = None  # the agent owns it now
        return self._agent

    def close(self) -> None:
        try:
            if self._agent is not None:
                self._agent.close()
            elif self._memory is not None:
                self._memory.close()
        finally:
            self._agent = self._memory = self._reviewer = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ turns
    def turn(self, intent: Intent, *, thread: str | None = None, on_event: EventHandler | None = None,
             **fields: Any) -> Turn:
        """One turn of the agent, each event handed to ``on_event`` as it comes. An unknown user or
        item is refused from the memory alone, before the experts load."""
        from ..agent import check_request
        from ..memory import check_reachable

        if self._agent is None:
            check_reachable(self.config)  # every database first: its setting named, not a missing user
            check_request(self.memory(), intent, fields.get("user_id"), fields.get("item_id"), fields.get("like_item"))
        return self.agent().turn(intent, thread_id=thread, on_event=on_event, **fields)

    def why(self, user_id: str, item_id: str | None = None, *, about: str | None = None, thread: str | None = None,
            on_event: EventHandler | None = None) -> Turn:
        """Why ``item_id`` (or the item described in words: ``about``) would or would not suit ``user_id``."""
        return self.turn("explain", thread=thread, on_event=on_event, user_id=user_id, item_id=item_id,
                         item_query=about)

    def rate(self, user_id: str, item_id: str | None = None, *, about: str | None = None,
             thread: str | None = None, on_event: EventHandler | None = None) -> Turn:
        """The rating ``user_id`` would give ``item_id``, reasoned first."""
        return self.turn("predict", thread=thread, on_event=on_event, user_id=user_id, item_id=item_id,
                         item_query=about)

    def recommend(self, user_id: str, k: int = 5, query: str | None = None, *, like_item: str | None = None,
                  thread: str | None = None, on_event: EventHandler | None = None) -> Turn:
        """Top ``k`` unreviewed items, steered by a need in words or by an item they should be like."""
        return self.turn("recommend", thread=thread, on_event=on_event, user_id=user_id, k=k, query=query,
                         like_item=like_item)

    # ------------------------------------------------------------------ reviews
    def add_review(self, user_id: str, item_id: str, rating: float, text: str, *, title: str = "",
                   item_title: str | None = None, timestamp: int | None = None,
                   adapters: Path | None = None, summaries: Literal["summarizer", "lexicon"] = "summarizer",
                   ) -> UpdateResult:
        """Store a review durably, summarize it and refresh its profiles; bad input is refused
        before anything opens. Work an earlier run left pending is finished after it: the new
        review is stored before anything that could fail (an earlier review's summary) runs.
        ``summaries="lexicon"``: the keyword lexicon summarizes instead of the Summarizer (no
        model loads; what many processes adding reviews at once use, see docs/deployment.md).

        A damaged review store is refused as the memory opens (its integrity check), before
        anything is written or the Summarizer loads; damage met later raises too, saying what was stored, rather
        than a "pending" result a sync could not finish.
        """
        from ..memory import StoreError, UpdateResult, check_review

        check_review(user_id, item_id, rating, text, title=title, item_title=item_title, timestamp=timestamp)
        try:  # a damaged store is found as the memory opens (its integrity check), before any write
            memory = self.memory()
        except StoreError as err:
            raise StoreError(f"the review was not stored: {err}") from err
        started = time.perf_counter()
        try:
            added = memory.store_review(user_id, item_id, rating, text, timestamp=timestamp, title=title,
                                        item_title=item_title)
        except StoreError as err:  # add is one transaction: refused or failed, nothing of it is stored
            raise StoreError(f"the review was not stored: {err}") from err
        stored = f"review {added.review.review_id} was stored ({added.outcome})"
        try:  # stored: loading the Summarizer (minutes on a first run) can fail or be interrupted now
            reviewer = self._review_context(adapters, lexicon=summaries == "lexicon")
        except Exception as err:
            return UpdateResult(added.review, added.outcome, None, True,
                                f"the Summarizer could not be opened ({type(err).__name__}: {err})",
                                time.perf_counter() - started)
        try:
            result = reviewer.add_review(user_id, item_id, rating, text, title=title, item_title=item_title,
                                         timestamp=timestamp, stored=added)
        except StoreError as err:
            raise StoreError(f"{stored}, then: {err}") from err
        if result.pending and memory.damage:  # a sync cannot finish it: say so, not "pending"
            raise StoreError(f"{stored} but not summarized: {memory.damage}")
        if not result.pending:  # the Summarizer and the memory work: finish what an earlier run left
            try:
                reviewer.finish_pending()
            except Exception as err:  # those reviews are durable; they stay pending for the next run
                if memory.damage:
                    raise StoreError(f"{stored} and summarized; finishing the reviews an earlier run left "
                                     f"pending then met: {memory.damage}") from err
                self.console.print(f"[yellow]reviews an earlier run left pending are still pending "
                                   f"({escape(type(err).__name__)}: {escape(str(err))}); "
                                   "`reason4rec memory sync` finishes them[/]")
        return result

    def _review_context(self, adapters: Path | None, lexicon: bool = False) -> AgentContext:
        """The open agent's context, else the memory with the Summarizer alone (no other expert
        loads), or with the lexicon (no model at all)."""
        if lexicon:
            return resources.open_lexicon_reviewer(self.memory())
        if self._agent is not None:
            return self._agent.context
        if self._reviewer is None:
            memory = self.memory()
            self._reviewer = resources.open_reviewer(self.config, memory, adapters, console=self.console)
        return self._reviewer

    # ------------------------------------------------------------------ the memory
    def profile(self, kind: Kind, entity_id: str, history: int = 5) -> Portrait:
        """The profile of a user or an item and its last ``history`` reviews with their summaries."""
        memory = self.memory()
        profile = memory.profile(kind, entity_id)  # first: a stranger is named as such
        records = (memory.user_history if kind == "user" else memory.item_history)(entity_id, history)
        items = [entity_id] if kind == "item" else [r.review.item_id for r in records]
        return Portrait(kind, entity_id, profile, records, self.titles(items))

    def search(self, text: str | None = None, user: str | None = None, k: int = 5) -> list[Match]:
        """Items whose profiles match a need in words, a user's preferences (items they reviewed
        left out), or both."""
        memory = self.memory()
        return memory.items_for_user(user, k, query=text) if user else memory.search_items(text or "", k)

    def similar_users(self, user: str, k: int = 5) -> list[Match]:
        return self.memory().similar_users(user, k)

    def status(self) -> dict[str, Any]:
        """Counts in the review store and the vector memory (they should agree)."""
        return self.memory().status()

    def titles(self, items: list[str]) -> dict[str, str]:
        """Item id -> what a panel calls it: its title, else the label made from its reviews (an item
        with neither is named by its id)."""
        from ..memory import item_names

        names = item_names(self.memory(), items)
        return {item: names.get(item, item) for item in items}

    def catalog(self) -> Catalog:
        """The user and item ids and the item titles the memory knows (the chat's fuzzy lookup)."""
        from ..chat import Catalog

        return Catalog.from_memory(self.memory())
