"""One turn on screen: the steps as they run (spinner, time), the reason's tokens, the rating.

In a terminal a Rich ``Live`` region redraws the turn about ten times a second while it runs;
when the turn ends the region is replaced by a still record (the step timings, the rating's bars)
and the answer follows in Markdown. Anywhere else (a pipe, CI, ``NO_COLOR``) the same events are
printed as plain lines as they arrive (:class:`~reason4rec.chat.printer.DeliberationPrinter`), so a
log of a chat reads like the chat.

Example:
    >>> from rich.console import Console
    >>> console = Console(width=80, record=True, color_system=None)
    >>> view = TurnView(console, live=False)
    >>> with view:
    ...     view({"type": "step_started", "step": "predict"})
    ...     view({"type": "rating", "expected": 4.2, "confidence": 0.5,
    ...           "probabilities": {"1": 0.0, "2": 0.05, "3": 0.1, "4": 0.45, "5": 0.4}})
    ...     view({"type": "step_finished", "step": "predict", "seconds": 0.3})
    Predictor ...
    predicted 4.20 / 5 (confidence 0.50)
      1                                0.00
      2 ##                             0.05
      3 ###                            0.10
      4 ##############                 0.45
      5 ############                   0.40
      predict: 0.30 s
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ..agent import (
    STEP_LABELS,
    already_rated_text,
    progress_text,
    rating_headline,
    record_label,
    revised_text,
    shown_rating,
)
from ..memory import item_name
from .printer import DeliberationPrinter

MAX_CANDIDATE_LINES = 8
"""Recommendation reasons shown at once while they are generated (one line each)."""


@dataclass
class _Step:
    name: str
    started: float
    seconds: float | None = None
    error: str | None = None
    records: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    """The step's latest ``progress`` event (shown while it runs)."""


class TurnView:
    """Renders one turn's events; use as a context manager around the event loop."""

    def __init__(self, console: Console, *, verbose: bool = False, live: bool | None = None,
                 names: Mapping[str, str] | None = None) -> None:
        self.console, self.verbose = console, verbose
        self.names: Mapping[str, str] = names or {}
        """Item id -> what it is called (title or label), for items the events name by id alone."""
        self.live = live if live is not None else (console.is_terminal and not console.is_dumb_terminal
                                                   and console.color_system is not None)
        self.steps: list[_Step] = []
        self.reason = ""
        self.revised: str | None = None
        """Why the reason shown was replaced by another draft (None: the first draft was kept)."""
        self.candidates: dict[str, str] = {}
        self.titles: dict[str, str] = {}
        """Candidate id -> title, from the progress events that announced them."""
        self.candidate_ratings: dict[str, float] = {}
        """Candidate id -> the Predictor's expected rating, once it is known."""
        self.rating: dict[str, Any] | None = None
        self.already_rated: str | None = None
        self.notice: str | None = None
        self._plain = DeliberationPrinter(console, verbose, self.names)
        self._region: Live | None = None

    # ------------------------------------------------------------------ lifetime
    def __enter__(self) -> TurnView:
        if self.live:
            self._region = Live(self, console=self.console, refresh_per_second=10, transient=True,
                                vertical_overflow="crop")
            self._region.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._region is not None:
            self._region.stop()
            self._region = None
            self.console.print(self.record())
        else:
            self._plain.end()

    # ------------------------------------------------------------------ events
    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "step_started":
            self.steps.append(_Step(event["step"], time.perf_counter()))
        elif kind == "step_finished":
            step = self._running(event["step"])
            if step is not None:
                step.seconds, step.error = event["seconds"], event.get("error")
        elif kind == "token":
            if event.get("candidate") is not None:
                self.candidates[event["candidate"]] = self.candidates.get(event["candidate"], "") + event["text"]
            else:
                self.reason += event["text"]
        elif kind == "rating":
            self.rating = event
        elif kind == "retrieved" and self.steps:
            self.steps[-1].records.append((event["kind"], event["records"]))
        elif kind == "progress":
            self.titles.update({i["id"]: i.get("title") or i["id"] for i in event.get("items") or []})
            step = self._running(event["step"])
            if step is not None:
                step.progress = event
        elif kind == "already_rated":
            self.already_rated = already_rated_text(event)
        elif kind == "candidate_rated":
            self.candidate_ratings[event["candidate"]] = shown_rating(event)
        elif kind == "reason_revised" and event.get("candidate") is not None:
            self.candidates[event["candidate"]] = event["text"]
        elif kind == "reason_revised":
            self.reason, self.revised = event["text"], revised_text(event)
        if not self.live:
            self._plain(event)

    def say(self, message: str) -> None:
        """A line about the turn itself (e.g. "cancelling ..."), shown under the steps."""
        self.notice = message
        if not self.live:
            self.console.print(f"[yellow]{escape(message)}[/]")

    def _running(self, name: str) -> _Step | None:
        for step in reversed(self.steps):
            if step.name == name and step.seconds is None:
                return step
        return None

    # ------------------------------------------------------------------ drawing
    def __rich__(self) -> RenderableType:
        """The live region: every step so far, the tokens, the rating."""
        parts: list[RenderableType] = [Text(self.already_rated, style="bold")] if self.already_rated else []
        for step in self.steps:
            if step.name == "respond":
                continue
            if step.seconds is None:
                elapsed = time.perf_counter() - step.started
                parts.append(Spinner("dots", Text.assemble((_label(step.name), "bold cyan"),
                                                           (f"  {elapsed:.1f} s", "dim"))))
                if step.progress is not None:
                    parts.append(Text("  " + progress_text(step.progress), style="dim", no_wrap=True,
                                      overflow="ellipsis"))
            else:
                parts.append(_step_line(step))
            if self.verbose:
                parts.extend(_record_lines(step, self.console.width))
            if step.name == "reason" and self.revised:
                parts.append(Text("  " + self.revised + ":", style="dim"))
            if step.name == "reason" and self.reason:
                parts.append(Text("  " + self.reason.strip()))
            if step.name == "recommend" and self.candidates:
                for item, text in list(self.candidates.items())[-MAX_CANDIDATE_LINES:]:
                    name = item_name(item, self.titles.get(item), self.names.get(item))
                    rated = self.candidate_ratings.get(item)
                    parts.append(Text.assemble(("  " + name, "bold"), f" ({rated:.2f}/5): " if rated else ": ",
                                               " ".join(text.split()),
                                               no_wrap=True, overflow="ellipsis"))
        if self.rating:
            parts.append(rating_table(self.rating, self.console.width))
        if self.notice:
            parts.append(Text(self.notice, style="yellow"))
        return Group(*parts)

    def record(self) -> RenderableType:
        """What stays on screen after a live turn: timings on one line, the rating, and in
        verbose mode the histories and summaries that were used."""
        shown = [s for s in self.steps if s.name != "respond"]
        parts: list[RenderableType] = [Text(self.already_rated, style="bold")] if self.already_rated else []
        parts += _timing_lines(shown, self.console.width)
        if self.verbose:
            for step in shown:
                parts.extend(_record_lines(step, self.console.width))
        if self.rating:
            parts.append(rating_table(self.rating, self.console.width))
        return Group(*parts)


def rating_table(rating: dict[str, Any], width: int = 80) -> Table:
    """The expected rating over a bar per star (the Predictor's distribution), in 24+ columns."""
    bar_width = max(10, min(30, width - 20))
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="bold")
    table.add_column()
    table.add_column(justify="right", style="dim")
    table.title = rating_headline(rating)
    table.title_justify, table.title_style = "left", "bold"
    best = max(rating["probabilities"], key=rating["probabilities"].get)
    for star, probability in rating["probabilities"].items():
        filled = round(probability * bar_width)
        bar = Text("█" * filled, style="green" if star == best else "cyan")
        bar.append("·" * (bar_width - filled), style="dim")
        table.add_row(f"{star}★", bar, f"{probability:.2f}")
    return table


def _timing_lines(steps: list[_Step], width: int) -> list[Text]:
    """``✓ recall 0.12 s · ✓ reason 9.80 s ...``, wrapped between steps, never inside one."""
    lines: list[Text] = []
    line = Text("  ")
    for step in steps:
        mark, style = ("✗", "red") if step.error else ("✓", "green")
        unit = Text.assemble((f"{mark} ", style), step.name, (f" {step.seconds or 0:.2f} s", "dim"))
        if len(line) > 2 and len(line) + 3 + len(unit) > width:
            lines.append(line)
            line = Text("  ")
        if len(line) > 2:
            line.append(" · ", style="dim")
        line.append_text(unit)
    if len(line) > 2:
        lines.append(line)
    return lines


def _label(step: str) -> str:
    return STEP_LABELS.get(step, step)


def _step_line(step: _Step) -> Text:
    if step.error:
        return Text.assemble(("✗ ", "red"), (_label(step.name), "red"), (f"  {step.seconds:.2f} s", "dim"))
    return Text.assemble(("✓ ", "green"), _label(step.name), (f"  {step.seconds:.2f} s", "dim"))


def _record_lines(step: _Step, width: int) -> list[Text]:
    lines = []
    for kind, records in step.records:
        for record in records:
            text = record.get("summary") or record.get("profile") or ""
            stars = f" {record['rating']:g}★" if "rating" in record else ""
            lines.append(Text.assemble(("    " + kind.replace("_", " "), "dim"), f" {record_label(record)}{stars}: ",
                                       " | ".join(str(text).splitlines()), no_wrap=True, overflow="ellipsis"))
    return lines
