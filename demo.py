"""``reason4rec demo``: the main job on the embedded default, section by section.

The shipped reviews audited and split, the rating baselines, the experts deliberating on real
test targets (Summarizer -> Reasoner, streamed -> Predictor), the memory built and queried, and a
short scripted chat. Each section is the operation a command runs (``data stats``, ``eval
--baselines``, ``memory build``, ``memory profile``, ``chat``), so the demo shows what they do.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from .app import Service, datasets, evaluation, open_agent, quiet_transformers, upkeep, views
from .config import Config, Expert
from .memory import LOCK_FILE, OWNER_FILE, dataset_item_names

if TYPE_CHECKING:
    from .data import ReviewDataset

NEED = "a quiet pedal for apartment practice"
"""The need in words the memory section steers a user's matches by."""


def run(config: Config, console: Console, *, targets: int = 2, adapters: Path | None = None,
        skip_model: bool = False, memory: bool = True) -> None:
    """Every section in turn; ``skip_model`` leaves out those that load the base model."""
    from .memory import check_reachable

    check_reachable(config)  # a PostgreSQL store that cannot be reached: one line, before any model loads
    console.rule("[bold]reason4rec[/] - shipped data, bundled base model, shipped adapters")
    splits = datasets.split_names("all")
    dataset = datasets.audit(config, console, splits)
    evaluation.baselines(config, console, splits, dataset=dataset, review_aware=False)
    if not skip_model and targets:
        _deliberations(config, console, dataset, targets, adapters)
    if not memory:
        return
    user = Counter(r.user_id for r in dataset.reviews).most_common(1)[0][0]
    with Service(config, console) as service:
        _memory(service, dataset, adapters, user)
        picks = [m.profile.entity_id for m in service.search(user=user, k=2)]
    if not skip_model:
        _chat(config, console, user, picks, adapters)


def _deliberations(config: Config, console: Console, dataset: ReviewDataset, count: int,
                   adapters: Path | None) -> None:
    """Summarizer -> Reasoner (streamed) -> Predictor on real leave-last-out test targets."""
    from .data import build_targets, make_split
    from .experts import (
        adapter_dirs,
        open_experts,
        predictor_messages,
        reasoner_messages,
        summary_cache,
        summary_line,
        target_contexts,
    )

    quiet_transformers()
    with console.status("loading the base model and the expert adapters ...") as status:
        loaded = open_experts(config, adapter_dirs(adapters, with_one_step=False), status=lambda m: status.update(m))
    backend, shape = loaded.backend, loaded.shape
    console.rule(f"[bold]deliberation[/] - {loaded.base}, adapters {', '.join(loaded.names)}")
    split = make_split(dataset, "leave-last-out", config.data.seed)
    chosen = [t for t in build_targets(split, "test", shape.history_k) if t.has_histories][:count]
    contexts = target_contexts(backend, chosen, summary_cache(config.home, adapters), dataset.category,
                               dataset.title, max_review_chars=shape.max_review_chars,
                               reasoner_stars=shape.reasoner_stars)
    if shape.estimates:  # the Predictor learnt with the collaborative estimates: held out, as the evaluation's
        from .training import attach_estimates, held_out_estimates

        contexts = attach_estimates(contexts, held_out_estimates(config, split, "test", [t.review for t in chosen]))
    names = dataset_item_names(dataset)  # the prompts keep the file's titles (ids here): what the experts learnt
    for target, ctx in zip(chosen, contexts):
        review = target.review
        console.print(f"\n[bold]user[/] {escape(review.user_id)}  [bold]item[/] {escape(names[review.item_id])}")
        for past, entry in zip(target.user_history, ctx.user_history, strict=True):
            console.print(f"  [dim]history[/] {escape(names[past.item_id])}: {escape(summary_line(entry.summary))}")
        console.print("[bold cyan]Reasoner:[/] ", end="")
        pieces = []
        for piece in backend.stream(Expert.REASONER, reasoner_messages(ctx)):
            pieces.append(piece)
            console.out(piece, end="", highlight=False)
        console.line()
        [dist] = backend.rate(Expert.PREDICTOR, [predictor_messages(ctx, "".join(pieces).strip())])
        bars = "  ".join(f"{star}:{p:.2f}" for star, p in zip(range(1, 6), dist.probabilities))
        console.print(Panel(f"predicted [bold]{dist.expected:.2f}[/] (confidence {dist.confidence:.2f}; {bars})\n"
                            f"true rating {review.rating:g}; the user wrote: {escape(review.text[:300])}",
                            title="Predictor", expand=False))


def _memory(service: Service, dataset: ReviewDataset, adapters: Path | None, user: str) -> None:
    """Build the memory on first run, then a profile and the items that match it (and a need)."""
    console = service.console
    console.rule("[bold]memory[/] - review store + Chroma profiles")
    if not service.memory(dataset.category).counts()["reviews"]:
        console.print(f"first run: building the memory of {len(dataset):,} shipped reviews "
                      "(lexicon + shipped Summarizer summaries, MiniLM embeddings) ...")
    upkeep.build(service, dataset, adapters)
    views.memory_status(console, service.status())
    views.portrait(console, service.profile("user", user, 3))
    views.matches(console, service.search(user=user, k=3), f"items matching {user}'s profile")
    views.matches(console, service.search(NEED, user=user, k=3), f"... steered by: {NEED}")


def _chat(config: Config, console: Console, user: str, picks: list[str], adapters: Path | None) -> None:
    """A short scripted chat: a why question, a new review that updates memory, a recommendation.

    The review is made up, so the chat runs on a scratch copy of the memory (and of the chat's
    checkpoints): the person's own store never gets it, however often the demo runs.
    """
    from .chat import Chat

    console.rule("[bold]chat[/] - `reason4rec chat`, scripted")
    if adapters:
        config.agent.adapters = adapters
    config.agent.candidates = 4  # each candidate is reasoned about: keep the CPU demo short
    lines = [f"would I like {picks[0]}?", f"I just bought {picks[1]}, 4 stars: bright tone but the clip broke",
             "recommend 2 things for home recording"]
    with _scratch_memory(config) as scratch:
        if scratch is None:  # a Chroma server: nothing to copy, and no made-up review goes into it
            console.print("[dim]the memory is a Chroma server: the scripted review is left out[/]")
            scratch, lines = config, [lines[0], lines[2]]
        else:
            console.print("[dim]on a scratch copy of the memory: the scripted review is not kept[/]")
        chat = Chat(scratch, console, user=user, opener=open_agent)
        try:
            chat.run_script(lines)
        finally:
            chat.close()
    console.print(f"[dim]your turn: reason4rec chat --user {user}[/]")


@contextmanager
def _scratch_memory(config: Config) -> Iterator[Config | None]:
    """``config`` on a temporary copy of its built memory (review store, Chroma folder, chat
    checkpoints), removed afterwards; None when the memory is a Chroma server."""
    if config.memory.chroma_url:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="reason4rec-demo-") as folder:
        root = Path(folder)
        store, chroma = root / "memory" / "reviews.sqlite", root / "memory" / "chroma"
        store.parent.mkdir()
        with closing(sqlite3.connect(config.store_path)) as source, closing(sqlite3.connect(store)) as copy:
            source.backup(copy)  # consistent even with a write-ahead log beside it
        shutil.copytree(config.chroma_path, chroma, ignore=shutil.ignore_patterns(LOCK_FILE, OWNER_FILE))
        yield config.model_copy(update={
            "memory": config.memory.model_copy(update={"store_path": store, "chroma_path": chroma}),
            "agent": config.agent.model_copy(update={"checkpoint_path": root / "agent" / "checkpoints.sqlite"})})
