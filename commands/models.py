"""``reason4rec model|adapters|config ...``: base models, the compiled engine's files, adapters, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..app import models
from .options import (
    AdaptersOption,
    ConfigOption,
    DeviceOption,
    DtypeOption,
    EngineModeChoice,
    FourBitOption,
    HomeOption,
    ModelOption,
    QuantChoice,
    console,
    flags_config,
)

model_app = typer.Typer(help="Fetch, convert and check base models.", no_args_is_help=True)
adapters_app = typer.Typer(help="Inspect and export expert adapters.", no_args_is_help=True)
config_app = typer.Typer(help="Show the resolved configuration.", no_args_is_help=True)


@model_app.command("fetch")
def model_fetch(
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    four_bit: FourBitOption = None,
    prompt: Annotated[str, typer.Option(help="Prompt for the smoke generation.")] = "Name one musical instrument.",
) -> None:
    """Fetch and convert the base model (once), load it, and generate a few tokens."""
    config = flags_config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit)
    models.smoke_test(config, console, prompt)


@model_app.command("export")
def model_export(
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    adapters: AdaptersOption = None,
    quant: Annotated[QuantChoice | None, typer.Option(help="Weights of the exported base (default: engine.quant).",
                                                         show_default=False)] = None,
    mode: Annotated[EngineModeChoice | None, typer.Option(help="LoRA files switched per call, or one merged "
                                                             "model per expert (default: engine.mode).",
                                                             show_default=False)] = None,
    rebuild: Annotated[bool, typer.Option(help="Delete the export folder and write everything again.")] = False,
) -> None:
    """Export the base and the experts for the compiled engine (llama.cpp GGUF files), then load them.

    Done automatically on first use; this command does it ahead of time, rebuilds a damaged or
    foreign export folder (--rebuild), and prints where the files are.
    """
    models.export_engine(flags_config(config_file, home=home, model=model), console, adapters,
                         quant=quant.value if quant else None, mode=mode.value if mode else None, rebuild=rebuild)


@model_app.command("tiny")
def model_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the tiny model to.")],
    layers: Annotated[int, typer.Option(min=1, max=8)] = 2,
    hidden_size: Annotated[int, typer.Option(min=16, max=512)] = 64,
) -> None:
    """Build a tiny random model (real tokenizer, ChatML template) for tests and smoke runs."""
    models.build_tiny(console, out_dir, layers, hidden_size)



@adapters_app.command("show")
def adapters_show(
    path: Annotated[
        Path | None,
        typer.Argument(help="A run folder or adapters folder (default: the shipped ones).", show_default=False),
    ] = None,
) -> None:
    """List adapters with their cards (recipe, data, steps, loss, time)."""
    models.show_adapters(console, path)


@adapters_app.command("export")
def adapters_export(
    run: Annotated[Path, typer.Argument(help="A training run folder.")],
    to: Annotated[
        Path | None,
        typer.Option(help="Destination (default: the package's shipped adapters).", show_default=False),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Copy a run's adapters, cards and history summaries (its own and eval's) into a shippable folder."""
    models.export_adapters(flags_config(None, home=home), console, run, to)


@adapters_app.command("redo-summaries")
def adapters_redo_summaries(
    folder: Annotated[
        Path | None,
        typer.Argument(help="An adapters folder with summaries.jsonl.gz (default: the shipped one).",
                       show_default=False),
    ] = None,
    ids: Annotated[
        Path | None,
        typer.Option("--ids", help="A file of review ids (one per line) to summarise again as well, e.g. "
                                   "reviews a change of the cleaning rules reads differently.", show_default=False),
    ] = None,
    config_file: ConfigOption = None,
) -> None:
    """Write the summary cache's malformed summaries again with today's decoding (the rest are kept)."""
    models.redo_summaries(flags_config(config_file), console, folder, ids)


@config_app.command("show")
def config_show(config_file: ConfigOption = None) -> None:
    """Print the configuration after defaults, file, environment and flags are applied."""
    config = flags_config(config_file)
    console.print_json(data=config.shown())
