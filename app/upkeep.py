"""Keeping the memory whole: import a dataset, summarize what is pending, refresh stale profiles.

Both jobs resume where an interrupted one stopped. Summaries come from the Summarizer cache
first, then the lexicon (imported reviews, seconds for thousands) or the Summarizer (reviews
people added, and imports when ``memory.bulk_summaries`` asks for it); the Summarizer is loaded
only when something needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import resources
from .service import Service

if TYPE_CHECKING:
    from ..data import ReviewDataset


def build(service: Service, dataset: ReviewDataset, adapters: Path | None, *, rebuild: bool = False) -> None:
    """Import ``dataset`` into the memory and summarize what is pending, saying what was done."""
    from ..memory.summarizers import LexiconSummarizer, cached_summaries
    from ..training.reports import progress_bars

    config, console = service.config, service.console
    memory = service.memory(dataset.category, rebuild=rebuild)
    needs_expert = config.memory.bulk_summaries == "summarizer" or any(not r.from_dataset for r in memory.pending())
    summarizer = resources.open_summarizer(config, adapters, dataset.category, console=console) \
        if needs_expert else None
    bulk = summarizer if config.memory.bulk_summaries == "summarizer" else LexiconSummarizer()
    cache, version = cached_summaries(config, adapters)
    with progress_bars(console) as bars:
        report = memory.build(dataset, summarizer=summarizer, bulk=bulk, cache=cache, cache_version=version,
                              bars=bars)
    if report.upgraded:
        console.print(f"{report.upgraded:,} summaries made by the lexicon or an older Summarizer replaced with "
                      f"those of {version} from the summary cache")
    if report.imported or report.summarized or report.profiles:
        console.print(f"imported {report.imported:,} new reviews; summaries: {report.from_cache:,} reused from "
                      f"the Summarizer cache, {_counts(report.summarized)}; {report.profiles:,} profiles written "
                      f"in {report.seconds:.0f} s")


def sync(service: Service, adapters: Path | None) -> None:
    """Finish what an interrupted or failed update left: pending reviews and stale profiles."""
    from ..memory.summarizers import LexiconSummarizer
    from ..training.reports import progress_bars

    config, console = service.config, service.console
    category = resources.default_category(config)
    memory = service.memory(category)
    pending = memory.pending()
    summarizer = resources.open_summarizer(config, adapters, category, console=console) if any(
        not r.from_dataset for r in pending) else None
    bulk = summarizer if config.memory.bulk_summaries == "summarizer" else LexiconSummarizer()
    with progress_bars(console) as bars:
        report = memory.sync(summarizer, bulk=bulk, bars=bars)
    console.print(f"{len(pending):,} pending reviews: {_counts(report.summarized)}; "
                  f"{report.profiles:,} profiles refreshed in {report.seconds:.1f} s")


def _counts(by_version: dict[str, int]) -> str:
    return ", ".join(f"{count:,} by {version}" for version, count in by_version.items()) or "none new"
