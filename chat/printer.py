"""Rich renderings for a person at a terminal: a turn's deliberation as it streams (plain lines when
the output is not a terminal), the memory's status, matched profiles and one profile."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

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


class DeliberationPrinter:
    """Renders a turn's stream events as they arrive: steps with timings, progress, the reason's
    tokens, the rating with a bar per star. Plain text when the console is not a terminal."""

    _LABELS = STEP_LABELS

    def __init__(self, console: Console, verbose: bool = False, names: Mapping[str, str] | None = None) -> None:
        self.console, self.verbose = console, verbose
        self.names: Mapping[str, str] = names or {}
        """Item id -> what it is called (title or label; see :attr:`Catalog.names
        <reason4rec.chat.catalog.Catalog.names>`), for items the events name by id alone."""
        self._in_tokens: str | None = None
        self._column = 0
        self._candidates: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        """Candidate id -> title, from the progress events that announced them."""

    def end(self) -> None:
        """End a line of streamed tokens left open by the last event (call when the turn ends)."""
        if self._in_tokens is not None:
            self.console.line()
            self._in_tokens = None

    def _write_wrapped(self, piece: str) -> None:
        """Stream a piece of text, breaking lines between words at the console's width."""
        for chunk in re.split(r"(\s+)", piece):
            if not chunk:
                continue
            if chunk.isspace():
                if "\n" in chunk:
                    self.console.line()
                    self._column = 0
                elif self._column:
                    self.console.out(" ", end="", highlight=False)
                    self._column += 1
                continue
            if self._column and self._column + len(chunk) > self.console.width:
                self.console.line()
                self._column = 0
            self.console.out(chunk, end="", highlight=False)
            self._column += len(chunk)

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind != "token":
            self.end()
        if kind == "step_started" and event["step"] != "respond":
            self.console.print(f"[bold cyan]{escape(self._LABELS.get(event['step'], event['step']))}[/] ...")
        elif kind == "token" and event.get("candidate") is not None:
            # A batch writes several reasons at once, a token each in turn: interleaved lines would
            # be unreadable, so each candidate's reason is printed whole when the step ends.
            candidate = event["candidate"]
            if candidate not in self._candidates and candidate not in self._titles:  # not announced
                self.console.print(f"  [dim]reasoning about {escape(self._name(candidate))} ...[/]")
            self._candidates[candidate] = self._candidates.get(candidate, "") + event["text"]
        elif kind == "token":
            if self._in_tokens is None:
                self._column = 0
            self._in_tokens = ""
            self._write_wrapped(event["text"])
        elif kind == "progress":
            self._titles.update({i["id"]: i.get("title") or i["id"] for i in event.get("items") or []})
            self.console.print(f"  [dim]{escape(progress_text(event))}[/]")
        elif kind == "already_rated":
            self.console.print(f"[bold]{escape(already_rated_text(event))}[/]")
        elif kind == "candidate_rated":  # printed as soon as it is rated: the first one comes early
            text = self._candidates.pop(event["candidate"], "")
            self.console.print(f"  [bold]{escape(self._name(event['candidate']))}[/] "
                               f"({shown_rating(event):.2f}/5): {escape(' '.join(text.split()))}")
        elif kind == "reason_revised" and event.get("candidate") is not None:
            self._candidates[event["candidate"]] = event["text"] + " (revised)"
        elif kind == "reason_revised":
            self.console.print(f"  [dim]{escape(revised_text(event))}:[/]")
            self._column = 0
            self._write_wrapped(event["text"])
            self.console.line()
        elif kind == "rating":
            self.console.print(rating_bars(event))
        elif kind == "retrieved" and self.verbose:
            for record in event["records"]:
                text = record.get("summary") or record.get("profile") or ""
                stars = f" {record['rating']:g}*" if "rating" in record else ""
                self.console.print(f"  [dim]{escape(event['kind'])}[/] {escape(record_label(record))}{stars}: "
                                   f"{escape(' | '.join(str(text).splitlines()))}")
        elif kind == "step_finished":
            for candidate, text in self._candidates.items():
                name = self._name(candidate)
                self.console.print(f"  [bold]{escape(name)}[/]: {escape(' '.join(text.split()))}")
            self._candidates.clear()
            if event.get("error"):
                self.console.print(f"  [red]{escape(event['step'])} failed[/]")
            elif event["step"] != "respond":
                self.console.print(f"  [dim]{escape(event['step'])}: {event['seconds']:.2f} s[/]")


    def _name(self, item: str) -> str:
        return item_name(item, self._titles.get(item), self.names.get(item))


def rating_bars(rating: dict, width: int = 30) -> str:
    """The expected rating and a bar per star (the Predictor's distribution)."""
    lines = [f"[bold]{escape(rating_headline(rating))}[/]"]
    for star, probability in rating["probabilities"].items():
        lines.append(f"  {star} {'#' * round(probability * width):<{width}} {probability:.2f}")
    return "\n".join(lines)


def memory_table(status: dict) -> Table:
    """Both halves of the memory side by side; a gap between them means a sync is due."""
    table = Table(title="Memory", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    versions = status.get("summary_versions", {})
    rows = [
        ("review store", escape(status["store"])),
        ("vector memory", escape(status["vectors"])),
        ("users / items / reviews", f"{status['users']:,} / {status['items']:,} / {status['reviews']:,}"),
        ("summaries / user profiles / item profiles",
         f"{status['summaries']:,} / {status['user_profiles']:,} / {status['item_profiles']:,}"),
        ("summaries by", ", ".join(f"{escape(str(v))}: {n:,}" for v, n in versions.items()) or "none"),
        ("pending reviews / stale profiles", f"{status['pending']:,} / {status['stale_profiles']:,}"
         + ("  [yellow](run `reason4rec memory sync`)[/]" if status["pending"] or status["stale_profiles"] else "")),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def matches_table(matches: Sequence, title: str) -> Table:
    """Matched profiles best first; items with a known title or label are named by it, the id
    beside it (an item with neither shows a dash there, not its id twice)."""
    titled = any(match.profile.title or match.profile.label for match in matches)
    table = Table(title=escape(title), title_justify="left")
    columns = (("item", "left"),) if titled else ()
    for column, justify in (*columns, ("id", "left"), ("similarity", "right"), ("reviews", "right"),
                            ("mean", "right"), ("profile", "left")):
        table.add_column(column, justify=justify, no_wrap=column not in ("item", "profile"))
    for match in matches:
        profile = match.profile
        name = (escape(profile.title or profile.label or "-"),) if titled else ()
        table.add_row(*name, escape(profile.entity_id), f"{match.similarity:.3f}", str(profile.review_count),
                      f"{profile.mean_rating:.2f}", escape(profile.text))
    if not matches:
        table.add_row("-", "", "", "", "nothing matched")
    return table


def profile_panel(kind: str, entity_id: str, profile, records: Sequence,
                  titles: Mapping[str, str] | None = None) -> Panel:
    """A profile and the recent reviews behind it (summaries shown; review text is not); items are
    named by their ``titles`` (item id -> title or label) where known, an item's own by its label."""
    titles = dict(titles or {})
    if kind == "item" and profile is not None and getattr(profile, "label", ""):
        titles.setdefault(entity_id, profile.label)
    lines = [escape(profile.text) if profile else "[yellow]no profile yet (reviews pending: run "
             "`reason4rec memory sync`)[/]"]
    if profile:
        lines.append(f"[dim]{profile.review_count} reviews, mean rating {profile.mean_rating:.2f}[/]")
    for record in records:
        review = record.review
        other = item_name(review.item_id, titles.get(review.item_id)) if kind == "user" else review.user_id
        summary = escape(" | ".join(record.summary.splitlines())) if record.summary else "[yellow]pending[/]"
        lines.append(f"[bold]{escape(other)}[/] {review.rating:g}*: {summary} [dim]({escape(record.version or '')})[/]")
    name = item_name(entity_id, titles.get(entity_id), profile.label if profile else None) if kind == "item" \
        else entity_id
    return Panel("\n".join(lines), title=f"{kind} {escape(name)}", title_align="left")
