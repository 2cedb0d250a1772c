"""Calibrating the experts to a category: the Predictor's expected rating mapped onto its stars.

``reason4rec calibrate --reviews FILE`` runs the experts on a sample of the file's validation
targets (minutes, not the hour adapting takes), fits the category's line and keeps it where
``why``, ``recommend`` and the chat find it (``<home>/calibrations``); the line is used only where
it beat the Predictor out of fold (:mod:`~reason4rec.experts.calibration`).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..config import Config
from ..errors import Reason4RecError
from .resources import load_dataset, quiet_transformers


def calibrate(config: Config, console: Console, adapters: Path | None, targets: int, out: Path | None) -> Path:
    """Fit and save ``config``'s category's calibration for ``adapters``; returns the file written."""
    from ..data import make_split
    from ..experts import CALIBRATION_DIR, MIN_CALIBRATION_TARGETS, adapter_dirs, file_slug, summary_cache
    from ..training import fit_calibration, progress_bars, validation_targets

    dataset = load_dataset(config)  # a file whose category is not known is refused here, before any model
    split = make_split(dataset, config.data.split, seed=config.data.seed)
    available = len(validation_targets(split, targets, config.data.seed))
    if available < MIN_CALIBRATION_TARGETS:  # said before any model loads
        raise Reason4RecError(f"{dataset.category}: {available} validation targets with user and item histories "
                              f"in the {config.data.split} split; a calibration needs at least "
                              f"{MIN_CALIBRATION_TARGETS} (a larger review file, or --split random)")
    quiet_transformers()
    dirs = adapter_dirs(adapters, with_one_step=False)
    folder = Path(out) if out is not None else config.home / CALIBRATION_DIR
    work = config.home / CALIBRATION_DIR / "work" / f"{file_slug(dataset.category)}-{config.data.split}"
    console.print(f"[bold]calibrating[/] the experts to {escape(dataset.category)} on {available} validation targets "
                  f"of the {config.data.split} split")
    with progress_bars(console) as bars:
        found = fit_calibration(config, dataset, split, dirs, targets, config.data.seed, work, bars=bars,
                                say=lambda m: console.print(f"[dim]{escape(m)}[/]"),
                                summaries=summary_cache(config.home, adapters))
    path = found.save(folder)
    console.print(escape(found.summary()))
    if found.verdict is not None:
        console.print(escape(f"verdict: {found.verdict.summary()}"))
    console.print(f"{found.spread_summary()}; written to {escape(str(path))}")
    return path
