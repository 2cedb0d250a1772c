"""Training: experts stage by stage into a run folder, resumed where an interrupted run stopped."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..config import Config
from .resources import load_dataset, quiet_transformers


def train(config: Config, console: Console, stages: list[str], recipe: str, run: Path | None, *,
          teacher: str = "offline", teacher_model: str = "gpt-3.5-turbo", teacher_base_url: str | None = None,
          force: bool = False, also: list[Path] | None = None) -> None:
    """Train ``stages`` with ``recipe``; the teacher (``offline`` or ``openai``) writes the targets.
    ``also``: more review files trained on together with the configured ones (their own categories)."""
    from ..experts import SERVING_EXPERTS
    from ..training import (
        OfflineTeacher,
        OpenAITeacher,
        OpenAITeacherSettings,
        TrainingPipeline,
        load_recipe,
        progress_bars,
        with_extra_reviews,
    )

    quiet_transformers()
    chosen = with_extra_reviews(load_recipe(recipe), list(also or []), config.data.on_duplicate)
    dataset = load_dataset(config)  # a file whose category is not known is refused here, before any model
    run_dir = run or default_run(config, chosen.name, chosen.start, dataset.category)
    if teacher == "openai":
        writer = OpenAITeacher(OpenAITeacherSettings(model=teacher_model, base_url=teacher_base_url))
    else:
        writer = OfflineTeacher()
    console.print(f"[bold]training[/] {', '.join(stages)} with recipe [bold]{chosen.name}[/], "
                  f"teacher {writer.name}, base {config.base_model.name_or_path} -> {escape(str(run_dir))}")
    started = time.perf_counter()
    with progress_bars(console) as bars:
        pipeline = TrainingPipeline(config, chosen, run_dir, writer, bars=bars,
                                    say=lambda m: console.print(escape(m)), dataset=dataset)
        cards = pipeline.run(stages, force=force)
    for name, card in cards.items():
        loss = card.training.get("final_loss")
        console.print(f"  {name:<11} {card.training.get('steps', 0):>4} steps  loss "
                      f"{loss if loss is None else round(loss, 3)}  {card.training.get('seconds', 0):.0f} s  "
                      f"-> {pipeline.adapter_dir(name)}")
    console.print(f"[dim]finished in {time.perf_counter() - started:.0f} s[/]")
    if chosen.start == "shipped" and all((pipeline.adapter_dir(e) / "card.json").is_file() for e in SERVING_EXPERTS):
        console.print(f"use the adapted experts with [bold]--adapters {escape(str(run_dir))}[/] (chat, why, recommend, "
                      f"eval, memory build), or for good in the config file: [bold]\\[agent] adapters = "
                      f"\"{escape(str(run_dir))}\"[/]")
        if not chosen.calibrate.validation_targets:  # else the run fitted it, and said so
            console.print(f"fit their ratings to this file's stars (minutes): [bold]reason4rec calibrate --reviews "
                          f"FILE --adapters {escape(str(run_dir))}[/]")


def default_run(config: Config, recipe: str, start: str, category: str) -> Path:
    """``<home>/runs/<recipe>``; a recipe that adapts the shipped experts to a person's file gets a
    folder per category (``runs/adapt-board-games``), so adapting to a second file keeps the first,
    and per starting experts when they are not the shipped ones (``adapt-board-games-from-<run>``)."""
    if start != "shipped":
        return config.home / "runs" / recipe
    from ..experts import file_slug

    name = f"{recipe}-{file_slug(category) or 'reviews'}"
    if config.agent.adapters:
        name += f"-from-{file_slug(Path(config.agent.adapters).expanduser().resolve().name) or 'adapters'}"
    return config.home / "runs" / name
