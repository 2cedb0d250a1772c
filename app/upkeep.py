"""Keeping the memory whole: import a dataset, summarize what is pending, refresh stale profiles.

Both jobs resume where an interrupted one stopped. Summaries come from the Summarizer cache
first, then the lexicon (imported reviews, seconds for thousands) or the Summarizer (reviews
people added, and imports when ``memory.bulk_summaries`` asks for it); the Summarizer is loaded
only when something needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import resources
from .service import Service

if TYPE_CHECKING:
    from ..data import ReviewDataset
    from ..memory import Memory


def build(service: Service, dataset: ReviewDataset, adapters: Path | None, *, rebuild: bool = False) -> None:
    """Import ``dataset`` into the memory and summarize what is pending, saying what was done."""
    from ..training import progress_bars

    console = service.console
    memory = service.memory(dataset.category, rebuild=rebuild)
    sources = _sources(service, memory, dataset.category, adapters)
    with progress_bars(console) as bars:
        report = memory.build(dataset, **sources, bars=bars)
    if report.upgraded:
        console.print(f"{report.upgraded:,} summaries made by the lexicon or an older Summarizer replaced with "
                      f"those of {sources['cache_version']} from the summary cache")
    if report.imported or report.summarized or report.profiles:
        console.print(f"imported {report.imported:,} new reviews; summaries: {report.from_cache:,} reused from "
                      f"the Summarizer cache, {_counts(report.summarized)}; {report.profiles:,} profiles written "
                      f"in {report.seconds:.0f} s")


def sync(service: Service, adapters: Path | None, *, lexicon: bool = False) -> None:
    """Finish what an interrupted or failed update left: pending reviews and stale profiles,
    summarized exactly as ``build`` would have (the Summarizer cache first); ``lexicon``: reviews
    people added by the lexicon too (no model), as ``memory add-review --summaries lexicon``."""
    from ..training import progress_bars

    console = service.console
    memory = service.memory()
    category = memory.category
    pending = memory.pending()
    with progress_bars(console) as bars:
        sources = _sources(service, memory, category, adapters, lexicon=lexicon)
        report = memory.sync(**sources, bars=bars)
    cached = f"{report.from_cache:,} reused from the Summarizer cache, " if report.from_cache else ""
    console.print(f"{len(pending):,} pending reviews: {cached}{_counts(report.summarized)}; "
                  f"{report.profiles:,} profiles refreshed in {report.seconds:.1f} s")


def _sources(service: Service, memory: Memory, category: str, adapters: Path | None, *,
             lexicon: bool = False) -> dict[str, Any]:
    """Where build and sync take summaries from (one path for both): the Summarizer cache first,
    then the lexicon for imported reviews (or the Summarizer when ``memory.bulk_summaries`` says
    so) and the Summarizer, loaded only when something needs it, for reviews people added."""
    from ..memory import LexiconSummarizer, cached_summaries

    config = service.config
    needs_expert = config.memory.bulk_summaries == "summarizer" or any(not r.from_dataset for r in memory.pending())
    if lexicon:
        summarizer = LexiconSummarizer()
    else:
        summarizer = resources.open_summarizer(config, adapters, category, console=service.console) \
            if needs_expert else None
    bulk = summarizer if config.memory.bulk_summaries == "summarizer" else LexiconSummarizer()
    cache, version = cached_summaries(config, adapters)
    return {"summarizer": summarizer, "bulk": bulk, "cache": cache, "cache_version": version}


def _counts(by_version: dict[str, int]) -> str:
    return ", ".join(f"{count:,} by {version}" for version, count in by_version.items()) or "none new"
