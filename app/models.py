"""The base model, the compiled engine's files, tiny models and adapters: fetch, export, inspect."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..config import Config
from ..errors import Reason4RecError
from .resources import quiet_transformers


def smoke_test(config: Config, console: Console, prompt: str) -> None:
    """Fetch and convert the base model (once), load it, and generate a few tokens."""
    from ..experts import generate_text, load_base_model

    quiet_transformers()
    with console.status(f"loading base model {config.base_model.name_or_path} ...") as status:
        base = load_base_model(config.base_model, config.home, status=lambda m: status.update(escape(m)))
    console.print(f"[bold]base model[/] {base.describe()} from {base.path} ({base.load_seconds:.1f} s)")
    started = time.perf_counter()
    with console.status("generating a few tokens ..."):
        text = generate_text(base, prompt, max_new_tokens=24)
    console.print(f"[dim]prompt:[/] {escape(prompt)}")  # typed text and the model's reply are not markup
    console.print(f"[dim]untuned reply ({time.perf_counter() - started:.1f} s):[/] {escape(text.strip())}")


def export_engine(config: Config, console: Console, adapters: Path | None, *, quant: str | None = None,
                  mode: str | None = None, rebuild: bool = False) -> None:
    """Write the base and the experts as llama.cpp GGUF files (unless there), load them, list them."""
    from ..experts import LoadedExperts, adapter_dirs, open_llamacpp_backend

    engine = config.engine.model_copy(update={k: v for k, v in (("quant", quant), ("mode", mode)) if v})
    config = config.model_copy(update={"engine": engine})
    quiet_transformers()
    started = time.perf_counter()
    backend = open_llamacpp_backend(config, adapter_dirs(adapters, with_one_step=True), rebuild=rebuild,
                                    status=lambda line: console.print(escape(line)))
    try:
        loaded = LoadedExperts.of(backend)
        for path in sorted(loaded.files.glob("*.gguf")) if loaded.files else []:
            console.print(f"  {path.name}  {path.stat().st_size / 1e6:.1f} MB")
        console.print(f"[bold]ready[/] in {time.perf_counter() - started:.1f} s: {loaded.base}; "
                      f"experts {', '.join(loaded.names)} ({loaded.files})")
    finally:
        backend.close()


def build_tiny(console: Console, out_dir: Path, layers: int, hidden_size: int) -> None:
    """A tiny random model (real tokenizer, ChatML template) for tests and smoke runs."""
    from ..experts import build_tiny_checkpoint

    quiet_transformers()
    folder = build_tiny_checkpoint(out_dir, layers=layers, hidden_size=hidden_size)
    console.print(f"tiny model written to [bold]{folder}[/]")


def show_adapters(console: Console, path: Path | None) -> None:
    """Adapters with their cards (recipe, data, steps, loss, time)."""
    from ..experts import ESTIMATES_KEY, STARS_KEY, AdapterCard, find_adapters, shipped_adapters_root

    root = path or shipped_adapters_root()
    found = find_adapters(root)
    for name, folder in found.items():
        card = AdapterCard.load(folder)
        trained_on = ", ".join(card.categories) or "categories not recorded"
        console.print(f"[bold]{name}[/] {folder}: trained on {escape(trained_on)} reviews; recipe {card.recipe}, "
                      f"base {card.base_model}, prompts {card.prompt_version}, {card.training.get('examples')} "
                      f"examples, {card.training.get('steps')} steps, final loss {card.training.get('final_loss')}"
                      f"{'; reads the collaborative estimates' if ESTIMATES_KEY in card.data else ''}"
                      f"{'; sees the stars of each history line' if card.data.get(STARS_KEY) else ''}")
    if not found:
        raise Reason4RecError(f"no adapters under {root}")


def export_adapters(config: Config, console: Console, run: Path, to: Path | None) -> None:
    """Copy a run's adapters, cards and history summaries (its own and eval's) into a shippable folder."""
    from ..experts import export_run

    for line in export_run(run, to, extra_caches=(config.home / "cache" / "summaries.jsonl",)):
        console.print(line)


def redo_summaries(config: Config, console: Console, folder: Path | None, ids: Path | None = None) -> None:
    """Write the shipped summary cache's malformed summaries again with the Summarizer as it
    decodes today (:func:`~reason4rec.experts.summaries.redo_malformed`), and those of the review
    ids listed in ``ids`` (one per line); the cache is rewritten once every one is done, and an
    interrupted call continues from its scratch file."""
    from ..config import Expert
    from ..experts import (
        SHIPPED_SUMMARIES,
        SummaryCache,
        local_backend,
        redo_malformed,
        shipped_adapters_root,
        summary_problems,
        summary_version,
    )
    from .resources import load_dataset

    folder = Path(folder) if folder else shipped_adapters_root()
    shipped, scratch = folder / SHIPPED_SUMMARIES, folder / ".redo-summaries.jsonl"
    if not shipped.is_file() or not (folder / Expert.SUMMARIZER).is_dir():
        raise Reason4RecError(f"{folder} has no {SHIPPED_SUMMARIES} or no summarizer adapter to redo it with")
    also = _review_ids(ids) if ids else frozenset()
    quiet_transformers()
    dataset = load_dataset(config)
    backend = local_backend(config, {Expert.SUMMARIZER: folder / Expert.SUMMARIZER}, batch_size=16,
                            status=lambda message: console.print(f"[dim]{message}[/]"))
    version = summary_version(backend.version(Expert.SUMMARIZER))
    cache = SummaryCache(scratch, seeds=[shipped])
    ours = cache.of_version(version)
    if not ours:
        raise Reason4RecError(f"{shipped} holds no summary of this Summarizer ({version})")
    before = sum(1 for summary in ours.values() if summary_problems(summary))
    started = time.perf_counter()
    redone, still = redo_malformed(backend, cache, {r.review_id: r for r in dataset.reviews}, dataset.category,
                                   dataset.title, also=also, progress=lambda done, total: console.print(
                                       f"[dim]summarized again: {done} of {total}[/]"))
    count = cache.export(shipped, version)
    scratch.unlink(missing_ok=True)
    console.print(f"{shipped}: {count:,} summaries of {version}; {before} malformed before, {redone} written "
                  f"again in {time.perf_counter() - started:.0f} s, {still} still malformed "
                  f"({1 - still / count:.1%} well-formed)")


def _review_ids(path: Path) -> frozenset[str]:
    """Review ids, one per line (blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise Reason4RecError(f"cannot read review ids from {path}: {error}") from error
    return frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def serve(config: Config, *, host: str, port: int, api_key: str | None, status_console: Console) -> None:
    """The experts behind an OpenAI-compatible API until stopped (see docs/serving.md)."""
    from ..serving import serve as run_server

    quiet_transformers()
    run_server(config, host=host, port=port, api_key=api_key,
               status=lambda message: status_console.print(f"[dim]{escape(message)}[/]"))
