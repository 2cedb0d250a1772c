"""The data audit: a review file validated, its statistics, its splits and the leak audit of histories."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console

from ..config import Config
from .resources import load_dataset

if TYPE_CHECKING:
    from ..data import ReviewDataset


def split_names(choice: str) -> list[str]:
    """The splits ``choice`` names: one, or every split for ``all``."""
    from ..data import SPLIT_NAMES

    return list(SPLIT_NAMES) if choice == "all" else [choice]


def audit(config: Config, console: Console, splits: list[str]) -> ReviewDataset:
    """Print the statistics and the leak audit; returns the dataset so callers need not reload it."""
    from ..data import build_targets, find_history_leaks, make_split
    from ..training import dataset_table, splits_table

    started = time.perf_counter()
    dataset = load_dataset(config)
    console.print(dataset_table(dataset, dataset.stats()))
    console.print(f"[dim]loaded and validated {len(dataset):,} reviews in {time.perf_counter() - started:.1f} s[/]")
    made, leaks = [], {}
    for name in splits:
        split = make_split(dataset, name, seed=config.data.seed)
        targets = [t for part in ("train", "valid", "test") for t in build_targets(split, part, config.data.history_k)]
        leaks[split.name] = len(find_history_leaks(split, targets))
        made.append(split)
    console.print(splits_table(made, leaks))
    console.print(
        f"[dim]histories: the user's and the item's last {config.data.history_k} training reviews "
        "strictly before each target (time order, ties by file order)[/]"
    )
    return dataset
