"""Rich rendering for the CLI: tables and progress bars. The library layers never print."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .memory.store import item_label
from .training.data import DatasetStats, ReviewDataset
from .training.evaluate import MetricRow, ProgressFactory
from .training.splits import Split


def dataset_table(dataset: ReviewDataset, stats: DatasetStats) -> Table:
    table = Table(title=f"Dataset: {dataset.category}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    day = lambda ts: datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()  # noqa: E731
    rows = [
        ("source", dataset.source),
        ("reviews / users / items", f"{stats.reviews:,} / {stats.users:,} / {stats.items:,}"),
        ("mean rating", f"{stats.mean_rating:.3f}"),
        (
            "rating shares 1..5",
            "  ".join(f"{k}: {v:.1%}" for k, v in stats.rating_shares.items()),
        ),
        (
            "words per review",
            f"mean {stats.mean_words:.0f}, median {stats.median_words:.0f}, max {stats.max_words:,}",
        ),
        ("empty reviews", f"{stats.empty_texts}"),
        ("time span", f"{day(stats.first_timestamp)} .. {day(stats.last_timestamp)}"),
        ("items with titles", f"{stats.titled_items:,} (others are named by id)"),
    ]
    if dataset.dropped_duplicates:
        rows.append(("duplicates dropped", f"{dataset.dropped_duplicates} (kept the latest)"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def splits_table(splits: Sequence[Split], leaks: dict[str, int]) -> Table:
    table = Table(title="Splits and histories", title_justify="left")
    for column in ("split", "train", "valid", "test", "history leaks"):
        table.add_column(column, justify="right" if column != "split" else "left")
    for split in splits:
        sizes = split.sizes()
        table.add_row(
            split.name,
            f"{sizes['train']:,}",
            f"{sizes['valid']:,}",
            f"{sizes['test']:,}",
            str(leaks.get(split.name, 0)),
        )
    return table


def _interval(bounds: tuple[float, float] | None) -> str:
    return f"\n[dim]{bounds[0]:.3f}-{bounds[1]:.3f}[/]" if bounds else ""


def metrics_table(rows: Sequence[MetricRow], title: str = "Rating baselines") -> Table:
    """One row per method under a heading per split; the 95% interval sits under each error, so
    the table fits 80 columns."""
    table = Table(title=title, title_justify="left")
    table.add_column("method", no_wrap=True)
    table.add_column("MAE\n95% CI", justify="right", no_wrap=True)
    table.add_column("RMSE\n95% CI", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("notes", min_width=10)
    best: dict[str, float] = {}
    for row in rows:
        best[row.split] = min(best.get(row.split, float("inf")), row.mae)
    previous = None
    for row in rows:
        if row.split != previous:
            if previous is not None:
                table.add_section()
            table.add_row(f"[bold]{row.split}[/] ({row.targets:,})", "", "", "", "")
        previous = row.split
        mae_text = f"{row.mae:.4f}"
        if row.mae == best[row.split]:
            mae_text = f"[bold green]{mae_text}[/]"
        table.add_row(
            row.method,
            mae_text + _interval(row.mae_ci),
            f"{row.rmse:.4f}" + _interval(row.rmse_ci),
            f"{row.seconds:.1f} s",
            row.note,
        )
    return table


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[ProgressFactory]:
    """Yields a factory: ``factory(label)`` adds a bar and returns its ``(done, total)`` callback."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        speed_estimate_period=900,  # evaluation saves a chunk every minute or two: average over several
        transient=False,
    )

    def factory(label: str):
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return update

    with progress:
        yield factory


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
    """Matched profiles best first; items with a known title are named by it, the id beside it."""
    titled = any(match.profile.title for match in matches)
    table = Table(title=escape(title), title_justify="left")
    columns = (("item", "left"),) if titled else ()
    for column, justify in (*columns, ("id", "left"), ("similarity", "right"), ("reviews", "right"),
                            ("mean", "right"), ("profile", "left")):
        table.add_column(column, justify=justify, no_wrap=column not in ("item", "profile"))
    for match in matches:
        profile = match.profile
        name = (escape(profile.title or profile.entity_id),) if titled else ()
        table.add_row(*name, escape(profile.entity_id), f"{match.similarity:.3f}", str(profile.review_count),
                      f"{profile.mean_rating:.2f}", escape(profile.text))
    if not matches:
        table.add_row("-", "", "", "", "nothing matched")
    return table


def profile_panel(kind: str, entity_id: str, profile, records: Sequence,
                  titles: Mapping[str, str] | None = None) -> Panel:
    """A profile and the recent reviews behind it (summaries shown; review text is not); items are
    named by their ``titles`` (item id -> title) where known."""
    titles = titles or {}
    lines = [escape(profile.text) if profile else "[yellow]no profile yet (reviews pending: run "
             "`reason4rec memory sync`)[/]"]
    if profile:
        lines.append(f"[dim]{profile.review_count} reviews, mean rating {profile.mean_rating:.2f}[/]")
    for record in records:
        review = record.review
        other = item_label(review.item_id, titles.get(review.item_id)) if kind == "user" else review.user_id
        summary = escape(" | ".join(record.summary.splitlines())) if record.summary else "[yellow]pending[/]"
        lines.append(f"[bold]{escape(other)}[/] {review.rating:g}*: {summary} [dim]({escape(record.version or '')})[/]")
    name = item_label(entity_id, titles.get(entity_id)) if kind == "item" else entity_id
    return Panel("\n".join(lines), title=f"{kind} {escape(name)}", title_align="left")


STEP_LABELS = {"resolve": "resolving who and what", "recall": "recalling histories from memory",
               "summarize": "summarizing reviews the memory had no current summary for",
               "reason": "Reasoner", "predict": "Predictor", "recommend": "finding and weighing candidates",
               "update": "writing the review to memory", "profile": "reading the profile", "respond": "answer"}
"""What each step of a turn is called on screen."""


def progress_text(event: dict) -> str:
    """One line for a ``progress`` event: "reasoning 2/5: <title> (<id>)", "summarizing history
    reviews: 8/20 done, 12 left"."""
    done, total, unit = event["done"], event["total"], event["unit"]
    items = event.get("items") or []
    if items:
        span = f"{done + 1}" if len(items) == 1 else f"{done + 1}-{done + len(items)}"
        return f"reasoning {span}/{total}: " + ", ".join(item_label(i["id"], i.get("title")) for i in items)
    if unit == "candidates":
        return f"reasoned {done}/{total} candidates"
    if done >= total:
        return f"summarized {total} {unit}"
    return f"summarizing {unit}: {done}/{total} done, {total - done} left"


def already_rated_text(event: dict) -> str:
    """The line that says first that the user reviewed this item already."""
    from .agent.answers import rated_sentence

    return f"{rated_sentence(event['rating'], event.get('date'))} What follows is what the model would have predicted."


def record_label(record: dict) -> str:
    """How a ``retrieved`` record is named: an item by title and id, a history review by its title."""
    if "id" in record:
        return item_label(record["id"], record.get("title"))
    return str(record.get("title") or record.get("item_id"))


class DeliberationPrinter:
    """Renders a turn's stream events as they arrive: steps with timings, progress, the reason's
    tokens, the rating with a bar per star. Plain text when the console is not a terminal."""

    _LABELS = STEP_LABELS

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console, self.verbose = console, verbose
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
                self.console.print(f"  [dim]reasoning about {escape(candidate)} ...[/]")
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
                name = item_label(candidate, self._titles.get(candidate))
                self.console.print(f"  [bold]{escape(name)}[/]: {escape(' '.join(text.split()))}")
            self._candidates.clear()
            if event.get("error"):
                self.console.print(f"  [red]{escape(event['step'])} failed[/]")
            elif event["step"] != "respond":
                self.console.print(f"  [dim]{escape(event['step'])}: {event['seconds']:.2f} s[/]")


def rating_bars(rating: dict, width: int = 30) -> str:
    """The expected rating and a bar per star (the Predictor's distribution)."""
    lines = [f"[bold]predicted {rating['expected']:.2f} / 5[/] (confidence {rating['confidence']:.2f})"]
    for star, probability in rating["probabilities"].items():
        lines.append(f"  {star} {'#' * round(probability * width):<{width}} {probability:.2f}")
    return "\n".join(lines)


def evaluation_summary(result) -> Table:
    """What an expert evaluation says beyond the error table: the paired differences, whether the
    pipeline beats every baseline, and how grounded, decided and complete its reasons are."""
    from .training.evaluate_experts import FULL

    table = Table(title="What the evaluation can tell", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()

    def difference(values: dict) -> str:
        (mae, mae_low, mae_high), (rmse, rmse_low, rmse_high) = values["mae"], values["rmse"]
        return (f"MAE {mae:+.4f} [{mae_low:+.3f}, {mae_high:+.3f}], "
                f"RMSE {rmse:+.4f} [{rmse_low:+.3f}, {rmse_high:+.3f}]")

    comparison = result.comparison
    best = comparison["best_baseline"]
    table.add_row(f"{FULL} - {best}", difference(comparison["against_best"]) + "  (negative: pipeline better)")
    for name, values in comparison["ablations"].items():
        table.add_row(f"{FULL} - {name}", difference(values))
    verdict = ("[green]beats every baseline[/] (each interval below zero)" if result.beats_all_baselines()
               else "[red]does NOT beat every baseline[/] (some interval reaches zero or above)")
    table.add_row("verdict", verdict)
    quality = result.quality

    def reasons(values: dict) -> str:
        parts = [f"grounded {_share(values.get('grounding'))} ({values.get('with_aspects', 0)} with aspects)",
                 f"verdict agrees {_share(values.get('verdict_agreement'))} "
                 f"({_share(values.get('verdict_agreement_low_ratings'))} on the {values.get('low_ratings', 0)} "
                 "targets of 1-2 stars)",
                 f"complete {_share(values.get('complete'))}"]
        if "review_similarity" in values:
            parts.append(f"similarity to the real review {values['review_similarity']:.3f}"
                         + (f" (mismatched {values['mismatched_review_similarity']:.3f})"
                            if "mismatched_review_similarity" in values else ""))
        return "; ".join(parts)

    table.add_row("reasons", reasons(quality["reasons"]))
    if quality["reasons"].get("most_invented"):
        table.add_row("often invented", escape(", ".join(quality["reasons"]["most_invented"][:8])))
    if "one_step_reasons" in quality:
        table.add_row("one-step reasons", reasons(quality["one_step_reasons"]))
    summaries = quality["summaries"]
    table.add_row("summaries", f"well-formed {_share(summaries['well_formed'])} of {summaries['checked']:,}"
                  + (f"; problems: {escape(str(summaries['problems']))}" if summaries["problems"] else ""))
    if "judge" in quality:
        table.add_row("judge", f"{quality['judge']['model']}: mean {quality['judge']['mean_score']} / 10")
    return table


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
