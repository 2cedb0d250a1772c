"""The research commands: ``data stats``, ``eval`` and ``train`` (registered by :mod:`..cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..app import calibration, datasets, evaluation
from ..app import train as training
from .options import (
    AdaptersOption,
    AllowTruncatedOption,
    BackendOption,
    CategoryOption,
    ConfigOption,
    CoreOption,
    DeviceOption,
    HomeOption,
    MetaOption,
    ModelOption,
    OnDuplicateOption,
    ReviewsOption,
    SplitChoice,
    TeacherChoice,
    console,
    flags_config,
    loading_flags,
)

data_app = typer.Typer(help="Inspect and validate review data.", no_args_is_help=True)


@data_app.command("stats")
def data_stats(
    config_file: ConfigOption = None,
    reviews: ReviewsOption = None,
    meta: MetaOption = None,
    split: Annotated[SplitChoice, typer.Option(help="Which split(s) to audit.")] = SplitChoice.all,
    k: Annotated[int | None, typer.Option("-k", help="History length K.", show_default=False)] = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
    core: CoreOption = None,
) -> None:
    """Validate a review file, print its statistics, split it and audit histories for leaks."""
    config = flags_config(config_file, reviews=reviews, meta=meta, history_k=k,
                     **loading_flags(category, on_duplicate, allow_truncated, core))
    datasets.audit(config, console, datasets.split_names(split.value))


def evaluate(
    config_file: ConfigOption = None,
    home: HomeOption = None,
    reviews: ReviewsOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    baselines: Annotated[
        bool,
        typer.Option("--baselines", help="Only the rating baselines (fast; every split unless --split)."),
    ] = False,
    split: Annotated[
        SplitChoice | None,
        typer.Option(help="Split to score: the experts take one (default: the config's), "
                     "--baselines any (default: all).", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Score a seeded sample of N test targets (default: the whole test set).",
                     show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder: predictions saved as they are made, results.json, ratings.png "
                     "(default <home>/eval/<split>-<N>-<id>; the same command continues an interrupted run).",
                     show_default=False),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Discard what the run folder holds and score every target again."),
    ] = False,
    no_one_step: Annotated[bool, typer.Option("--no-one-step", help="Skip the one-step ablation.")] = False,
    hft: Annotated[
        bool | None,
        typer.Option("--hft/--no-hft", help="Fit HFT, the review-aware baseline (minutes per split on a CPU); "
                     "default: with the experts yes, with --baselines no.", show_default=False),
    ] = None,
    judge_model: Annotated[
        str | None,
        typer.Option(help="Judge LLM on $OPENAI_BASE_URL that scores reasons 1-10.", show_default=False),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the random split and of --limit sampling.", show_default=False),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="--baselines: also write the rows as JSON.", show_default=False),
    ] = None,
    backend: BackendOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
    core: CoreOption = None,
) -> None:
    """Score the expert pipeline, its ablations and every baseline on the same test targets."""
    config = flags_config(config_file, home=home, reviews=reviews, model=model, device=device, seed=seed,
                     backend=backend, **loading_flags(category, on_duplicate, allow_truncated, core))
    if baselines:
        evaluation.baselines(config, console, datasets.split_names((split or SplitChoice.all).value), json_path,
                             review_aware=bool(hft))
        return
    evaluation.experts(config, console, evaluation.ExpertRun(
        split.value if split else config.data.split, limit, adapters, out, restart, not no_one_step,
        config.baselines.hft if hft is None else hft, judge_model))


def train(
    stages: Annotated[list[str], typer.Argument(help="summarizer, reward, reasoner, predictor, one-step, or all.")],
    recipe: Annotated[str, typer.Option(help="Recipe name (cpu-small, cpu-full, cpu-collab: cpu-full's Predictor "
                                        "reading the collaborative estimates, gpu-paper; adapt: fine-tune the "
                                        "shipped experts on --reviews in about an hour; multi: on three "
                                        "categories at once) or TOML file.")] = "cpu-small",
    run: Annotated[
        Path | None,
        typer.Option(help="Run folder (default <home>/runs/<recipe>; adapt: <home>/runs/adapt-<category>).",
                     show_default=False),
    ] = None,
    teacher: Annotated[TeacherChoice, typer.Option(help="Who writes the training targets.")] = TeacherChoice.offline,
    teacher_model: Annotated[
        str,
        typer.Option(help="Teacher model name on the OpenAI-compatible endpoint."),
    ] = "gpt-3.5-turbo",
    teacher_base_url: Annotated[
        str | None,
        typer.Option(help="Endpoint (else $OPENAI_BASE_URL).", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option(help="Retrain stages that already have an adapter.")] = False,
    also: Annotated[
        list[Path] | None,
        typer.Option("--also", metavar="FILE", show_default=False,
                     help="Another review file to train on too, each item keeping its category (repeat for more; "
                          "McAuley's meta_* file beside it is read)."),
    ] = None,
    adapters: Annotated[
        Path | None,
        typer.Option(help="The experts a recipe that fine-tunes (adapt, multi, loco-*) starts from: adapters or "
                          "run folder (default: the config's [agent] adapters, else the shipped ones).",
                     show_default=False),
    ] = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    reviews: ReviewsOption = None,
    meta: MetaOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
    core: CoreOption = None,
) -> None:
    """Train experts stage by stage into a run folder; interrupted runs resume where they stopped."""
    config = flags_config(config_file, home=home, reviews=reviews, meta=meta, model=model, device=device,
                     **loading_flags(category, on_duplicate, allow_truncated, core))
    if adapters:
        config.agent.adapters = adapters
    training.train(config, console, stages, recipe, run, teacher=teacher.value, teacher_model=teacher_model,
                   teacher_base_url=teacher_base_url, force=force, also=also)


def calibrate(
    reviews: ReviewsOption = None,
    meta: MetaOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
    core: CoreOption = None,
    targets: Annotated[
        int,
        typer.Option(min=1, help="How many of the file's validation targets to run the experts on (a seeded "
                     "sample; about 2 s each on 2 cores)."),
    ] = 200,
    split: Annotated[
        SplitChoice | None,
        typer.Option(help="The split whose validation targets are used (default: the config's).",
                     show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write <category>.json to (default <home>/calibrations, where why, recommend "
                     "and the chat look).", show_default=False),
    ] = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    backend: BackendOption = None,
) -> None:
    """Fit the Predictor's rating to a category's stars on its own validation targets (used only where it helps)."""
    config = flags_config(config_file, home=home, reviews=reviews, meta=meta, model=model, device=device,
                     backend=backend, **loading_flags(category, on_duplicate, allow_truncated, core))
    if split is not None:
        if split is SplitChoice.all:
            raise typer.BadParameter("one split: leave-last-out, random or temporal", param_hint="--split")
        config.data.split = split.value
    if adapters:
        config.agent.adapters = adapters
    calibration.calibrate(config, console, config.agent.adapters, targets, out)
