"""Who writes the memory's review summaries: the Summarizer expert, or the keyword lexicon.

The memory asks a :class:`ReviewSummarizer` for summaries batch by batch and makes each batch
durable before the next (a killed build resumes where it stopped). Two kinds:

* :class:`ExpertSummarizer`: the trained Summarizer adapter through any
  :class:`~reason4rec.experts.backend.Backend` (local CPU/GPU or a remote server). Used for every
  review a person adds, and for bulk builds on a GPU.
* :class:`LexiconSummarizer`: aspects without the Summarizer (:mod:`~reason4rec.experts.aspects`:
  spaCy noun phrases, VADER polarity); 10k reviews in a few minutes on a CPU (about 50 a second on
  two shared cores), where the Summarizer would take hours. Its summaries carry the version
  :data:`~reason4rec.experts.LEXICON_VERSION` (``lexicon-2+aspects-3``), so the agent knows them apart.

Example:
    >>> summarizer = LexiconSummarizer()
    >>> summarizer.version()
    'lexicon-2+aspects-3'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from ..config import Config, Expert
from ..experts import LEXICON_VERSION, Backend, SummaryCache, lexicon_summary, summary_batches, summary_version
from .store import StoredReview

Batches = Iterator[tuple[Sequence[StoredReview], list[str]]]


class ReviewSummarizer(Protocol):
    def version(self) -> str:
        """Recorded with every summary it writes (an adapter version or the lexicon's)."""
        ...

    def summarize(self, reviews: Sequence[StoredReview], title: Callable[[str], str]) -> Batches:
        """Yield ``(batch, summaries)`` pairs covering ``reviews`` in order."""
        ...


class ExpertSummarizer:
    """The Summarizer adapter, batched (prompt size from its card)."""

    def __init__(self, backend: Backend, category: str, *, batch_size: int = 8,
                 max_review_chars: int = 600) -> None:
        self.backend, self.category = backend, category
        self.batch_size, self.max_review_chars = batch_size, max_review_chars

    def version(self) -> str:
        return summary_version(self.backend.version(Expert.SUMMARIZER))

    def summarize(self, reviews: Sequence[StoredReview], title: Callable[[str], str]) -> Batches:
        by_id = {r.review_id: r for r in reviews}
        batches = summary_batches(self.backend, [r.as_review() for r in reviews], self.category, title,
                                  batch_size=self.batch_size, max_review_chars=self.max_review_chars)
        for chunk, summaries in batches:
            yield [by_id[r.review_id] for r in chunk], summaries


class LexiconSummarizer:
    """Aspect noun phrases with their sentence's side: no expert model, deterministic, fast."""

    def __init__(self, batch_size: int = 256) -> None:
        self.batch_size = batch_size

    def version(self) -> str:
        return LEXICON_VERSION

    def summarize(self, reviews: Sequence[StoredReview], title: Callable[[str], str]) -> Batches:
        for start in range(0, len(reviews), self.batch_size):
            chunk = reviews[start:start + self.batch_size]
            yield chunk, [lexicon_summary(r.text, r.rating).render() for r in chunk]


def load_expert_summarizer(config: Config, adapters: Path | None = None, *, category: str,
                           status: Callable[[str], None] | None = None) -> ExpertSummarizer:
    """The Summarizer adapter (shipped, or from ``adapters``) on the configured base model."""
    from ..experts import adapter_dirs, open_experts

    loaded = open_experts(config, {Expert.SUMMARIZER: adapter_dirs(adapters, with_one_step=False)[Expert.SUMMARIZER]},
                          status=status)
    return ExpertSummarizer(loaded.backend, category, max_review_chars=loaded.shape.max_review_chars)


def cached_summaries(config: Config, adapters: Path | None = None) -> tuple[SummaryCache, str]:
    """The Summarizer summaries made before (shipped ones, and the local cache) and the adapter
    version they must carry to be reused, read from the adapter card without loading a model."""
    from ..experts import adapter_dirs, adapter_version, summary_cache

    folder = adapter_dirs(adapters, with_one_step=False)[Expert.SUMMARIZER]
    return summary_cache(config.home, adapters), summary_version(adapter_version(folder))
