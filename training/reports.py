"""Rich tables and progress bars for training and evaluation reports (the CLI prints them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

from rich.console import Console
from rich.markup import escape
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

from ..data import DatasetStats, ReviewDataset, Split
from .eval_results import FULL
from .evaluate import MetricRow, ProgressFactory
from .progress import ProgressLines


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
    table.add_column("corr", justify="right", no_wrap=True)
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
            table.add_row(f"[bold]{row.split}[/] ({row.targets:,})", "", "", "", "", "")
        previous = row.split
        mae_text = f"{row.mae:.4f}"
        if row.mae == best[row.split]:
            mae_text = f"[bold green]{mae_text}[/]"
        table.add_row(
            row.method,
            mae_text + _interval(row.mae_ci),
            f"{row.rmse:.4f}" + _interval(row.rmse_ci),
            "-" if row.correlation is None else f"{row.correlation:.3f}",
            f"{row.seconds:.1f} s",
            row.note,
        )
    return table


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[ProgressFactory]:
    """Yields a factory: ``factory(label)`` adds a bar and returns its ``(done, total)`` callback.

    When ``console`` is not a terminal (a pipe, a log file), where bars show nothing until the end,
    each task prints plain lines instead (:class:`~reason4rec.training.progress.ProgressLines`):
    at its start, at least every 30 s and at its end, with done / total, rate and time left.
    """
    if not console.is_terminal:
        with ProgressLines(console) as lines:
            yield lines
        return
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


def evaluation_summary(result) -> Table:
    """What an expert evaluation says beyond the error table: the paired differences, whether the
    pipeline beats every baseline, and how grounded, decided and complete its reasons are."""
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
    if "blend" in comparison:
        blend = comparison["blend"]
        weights = blend["pipeline_weights"]
        table.add_row(f"extra: blend - {best}", difference(blend["against_best"])
                      + f"  (pipeline weight {min(weights):.2f}-{max(weights):.2f}, cross-fitted; not the verdict)")
    if "calibrated" in comparison:
        calibrated = comparison["calibrated"]
        table.add_row(f"calibrated - {best}", difference(calibrated["against_best"])
                      + f"  (spread {calibrated['spread']:.2f}; a line fitted on "
                        f"{calibrated['calibration']['targets']} validation targets)")
        table.add_row(f"calibrated - {FULL}", difference(calibrated["against_pipeline"]))
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
        if values.get("verdict_correlation") is not None:
            parts.insert(2, f"tone vs stars r={values['verdict_correlation']:+.3f}")
        if values.get("attributed") is not None:
            parts.insert(1, f"on the side they are said of {_share(values['attributed'])} "
                            f"({_share(values.get('with_misattributed'))} of reasons give one side the other's)")
        if "review_similarity" in values:
            parts.append(f"similarity to the real review {values['review_similarity']:.3f}"
                         + (f" (mismatched {values['mismatched_review_similarity']:.3f})"
                            if "mismatched_review_similarity" in values else ""))
        return "; ".join(parts)

    table.add_row("reasons", reasons(quality["reasons"]))
    if quality["reasons"].get("most_invented"):
        table.add_row("often invented", escape(", ".join(quality["reasons"]["most_invented"][:8])))
    if quality["reasons"].get("most_misattributed"):
        table.add_row("often on the wrong side", escape(", ".join(quality["reasons"]["most_misattributed"][:8])))
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
