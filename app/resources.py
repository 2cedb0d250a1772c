"""Opening what the operations run on: the memory, the experts, the configured reviews.

Each is opened here and nowhere else, with a status line while it loads (a first run fetches the
sentence model or writes the engine files: minutes on a CPU). The memory comes first wherever
both are needed, so a memory in use is refused in a second, not after the models loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ..config import Config
from .console import make_console

if TYPE_CHECKING:
    from ..agent import Agent, AgentContext
    from ..data import ReviewDataset
    from ..memory import ExpertSummarizer, Memory

Status = Callable[[str], None]


def quiet_transformers() -> None:
    """Our own Rich status replaces transformers' tqdm bars and info logs."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # Raised from inside transformers/peft on every adapter load; nothing for a user to act on.
    warnings.filterwarnings("ignore", message=".*(is_)?gradient_checkpointing.* is deprecated")


def open_memory(config: Config, category: str | None = None, *, rebuild: bool = False,
                console: Console) -> Memory:
    """The memory named by ``config`` (created on first use; ``rebuild`` moves the vectors aside)."""
    from ..memory import Memory

    quiet_transformers()
    with console.status("opening the memory ...") as status:
        return Memory.open(config, category=category, rebuild=rebuild, status=lambda m: status.update(escape(m)))


def open_agent(config: Config, *, status: Status | None = None, memory: Memory | None = None) -> Agent:
    """The memory (or ``memory``, handed over) and the experts, for turns: the chat's opener too."""
    from ..agent import Agent
    from ..data import configured_category

    quiet_transformers()
    say_category(config, configured_category(config.data), config.agent.adapters)
    agent = Agent.open(config, memory=memory, status=status)
    for note in agent.context.notes:
        make_console(stderr=True).print(f"[yellow]note:[/] {escape(note)}")
    return agent


def say_category(config: Config, category: str, adapters: Path | None, console: Console | None = None) -> None:
    """Say once, plainly (on stderr unless ``console`` is given), when ``category`` is not one the
    experts were trained on, with the command that fits them to it (see ``category_notice``)."""
    from ..experts import category_notice

    notice = category_notice(category, adapters)
    if notice:
        (console if console is not None else make_console(stderr=True)).print(f"[yellow]note:[/] {escape(notice)}")


def open_summarizer(config: Config, adapters: Path | None, category: str, *, console: Console) -> ExpertSummarizer:
    """The Summarizer alone (shipped, or from ``adapters``): bulk builds and syncs."""
    from ..memory import load_expert_summarizer

    with console.status("loading the Summarizer ...") as status:
        return load_expert_summarizer(config, adapters, category=category, status=lambda m: status.update(escape(m)))


def open_reviewer(config: Config, memory: Memory, adapters: Path | None, *, console: Console) -> AgentContext:
    """``memory`` with the Summarizer alone: what adding a review runs on when no turn is asked
    for (the same :class:`~reason4rec.agent.context.AgentContext` the chat's turns run on)."""
    from ..agent import AgentContext

    summarizer = open_summarizer(config, adapters, memory.category, console=console)
    return AgentContext(memory, summarizer.backend, summarizer.category,
                        max_review_chars=summarizer.max_review_chars)


def open_lexicon_reviewer(memory: Memory) -> AgentContext:
    """``memory`` with the keyword lexicon summarizing (``memory add-review --summaries lexicon``):
    no model loads, and the review still takes the one path (``AgentContext.add_review``). The
    agent upgrades lexicon summaries with the Summarizer when it reasons over them
    (``agent.resummarize_lexicon``)."""
    from ..agent import AgentContext
    from ..memory import LexiconSummarizer

    class LexiconContext(AgentContext):
        @property
        def summarizer(self) -> LexiconSummarizer:  # type: ignore[override]
            return LexiconSummarizer()

    return LexiconContext(memory, None, memory.category)  # type: ignore[arg-type]  # no backend: no model


def load_dataset(config: Config) -> ReviewDataset:
    """The configured reviews; what the loader worked around is printed as warnings, never silent."""
    from ..data import dataset_of

    dataset = dataset_of(config.data)
    stderr = make_console(stderr=True)
    for note in dataset.report.notes():
        stderr.print(f"[yellow]warning:[/] {escape(note)}")
    return dataset
