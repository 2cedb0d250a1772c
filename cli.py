"""The ``reason4rec`` command: one entry point, subcommands built from typed function signatures.

Thin by design: it parses flags into the config (flags win over env vars, which win over the
TOML file, which wins over defaults), calls the library, and renders with Rich. Errors a user can
fix print as one red line and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .config import Config, load_config
from .errors import Reason4RecError

app = typer.Typer(
    name="reason4rec",
    help="A recommendation assistant that reasons before it rates (Reason4Rec).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and validate review data.", no_args_is_help=True)
model_app = typer.Typer(help="Fetch, convert and check base models.", no_args_is_help=True)
config_app = typer.Typer(help="Show the resolved configuration.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.add_typer(config_app, name="config")
adapters_app = typer.Typer(help="Inspect and export expert adapters.", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")
memory_app = typer.Typer(help="The review store and the vector memory of preferences.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")

PLAIN_WIDTH = 160
"""Columns for tables, panels and Markdown when output goes to a pipe or a file ($COLUMNS wins)."""


class PlainConsole(Console):
    """A console for pipes and files, where nobody resizes a window: a line of text is written
    whole, never wrapped, so never inside a word (a path or an id stays whole and can be copied);
    tables, panels and Markdown are laid out :data:`PLAIN_WIDTH` wide instead of Rich's 80, which
    squeezes columns until words are cut."""

    def print(self, *objects: Any, **options: Any) -> None:
        if all(isinstance(item, (str, Text)) for item in objects):
            options.setdefault("soft_wrap", True)
        super().print(*objects, **options)


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """The console for stdout (or stderr): Rich's own on a terminal, a :class:`PlainConsole` elsewhere."""
    options.setdefault("highlight", False)
    console = Console(stderr=stderr, **options)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    width = options.pop("width", None) or (int(columns) if columns.isdigit() else max(console.width, PLAIN_WIDTH))
    return PlainConsole(stderr=stderr, width=width, **options)


console = make_console()


class SplitChoice(str, Enum):
    leave_last_out = "leave-last-out"
    random = "random"
    temporal = "temporal"
    all = "all"


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (else $REASON4REC_CONFIG).", show_default=False),
]
HomeOption = Annotated[
    Path | None, typer.Option(help="Cache/state folder (default ~/.cache/reason4rec).", show_default=False)
]
ReviewsOption = Annotated[
    Path | None,
    typer.Option("--reviews", help="Review file: shipped JSONL or McAuley 2014/2018 *_5.json(.gz).",
                 show_default=False),
]
MetaOption = Annotated[
    Path | None, typer.Option("--meta", help="McAuley meta_*.json(.gz) for item titles.", show_default=False)
]
CategoryOption = Annotated[
    str | None,
    typer.Option("--category", help="Product category named in prompts (default: data.category, else guessed "
                 "from a McAuley file name).", show_default=False),
]


class DuplicateChoice(str, Enum):
    error = "error"
    keep_latest = "keep-latest"


OnDuplicateOption = Annotated[
    DuplicateChoice | None,
    typer.Option("--on-duplicate", help="A second review of the same (user, item): error refuses the file, "
                 "keep-latest keeps the later one (default: data.on_duplicate).", show_default=False),
]
AllowTruncatedOption = Annotated[
    bool | None,
    typer.Option("--allow-truncated", help="Read the complete lines of a truncated .gz file instead of refusing "
                 "it (default: data.allow_truncated).", show_default=False),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="Base model: bundled alias, folder or HF id.", show_default=False)
]
AdaptersOption = Annotated[
    Path | None,
    typer.Option(help="Adapters folder or run folder (default: the shipped ones).", show_default=False),
]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N.", show_default=False)]
DtypeOption = Annotated[str | None, typer.Option(help="auto, float32, bfloat16, float16.", show_default=False)]
FourBitOption = Annotated[
    bool | None, typer.Option("--4bit/--no-4bit", help="Load NF4 4-bit weights (QLoRA path).", show_default=False)
]


class LocalEngine(str, Enum):
    auto = "auto"
    llamacpp = "llamacpp"
    transformers = "transformers"


BackendOption = Annotated[
    LocalEngine | None,
    typer.Option("--backend", help="Where the experts run here: auto (llama.cpp on a CPU), llamacpp, "
                 "transformers (default: agent.backend).", show_default=False),
]


def _config(
    config_file: Path | None,
    home: Path | None = None,
    reviews: Path | None = None,
    meta: Path | None = None,
    model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    four_bit: bool | None = None,
    backend: LocalEngine | None = None,
    **data: Any,
) -> Config:
    overrides = {
        "home": home,
        "data": {"reviews_path": reviews, "meta_path": meta, **data},
        "base_model": {"name_or_path": model, "device": device, "dtype": dtype, "load_in_4bit": four_bit},
        "agent": {"backend": backend.value if backend else None},
    }
    config = load_config(config_file, overrides)
    if config.base_model.hub_offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return config


def _loading(category: str | None, on_duplicate: DuplicateChoice | None,
             allow_truncated: bool | None) -> dict[str, Any]:
    """The data-loading flags as ``data`` overrides (an unset flag leaves the config's value)."""
    return {"category": category, "on_duplicate": on_duplicate.value if on_duplicate else None,
            "allow_truncated": allow_truncated}


def _load_dataset(config: Config):
    """The configured reviews; what the loader worked around is printed as warnings, never silent."""
    from .data import load_configured

    data = config.data
    dataset = load_configured(data.reviews_path, data.meta_path, data.category, on_duplicate=data.on_duplicate,
                              allow_truncated=data.allow_truncated)
    stderr = make_console(stderr=True)
    for note in dataset.report.notes():
        stderr.print(f"[yellow]warning:[/] {escape(note)}")
    return dataset


def _split_names(choice: SplitChoice) -> list[str]:
    from .data.splits import SPLIT_NAMES

    return list(SPLIT_NAMES) if choice == SplitChoice.all else [choice.value]


def _quiet_transformers() -> None:
    """Our own Rich status replaces transformers' tqdm bars and info logs."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # Raised from inside transformers/peft on every adapter load; nothing for a user to act on.
    warnings.filterwarnings("ignore", message=".*(is_)?gradient_checkpointing.* is deprecated")


# --------------------------------------------------------------------------- commands


@app.command()
def demo(
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    skip_model: Annotated[bool, typer.Option(help="Do not fetch/load the base model.")] = False,
    targets: Annotated[int, typer.Option(min=0, max=50, help="Test targets to deliberate on.")] = 2,
    adapters: Annotated[
        Path | None,
        typer.Option(help="Adapters folder or run folder (default: the shipped ones).", show_default=False),
    ] = None,
    memory: Annotated[
        bool,
        typer.Option("--memory/--no-memory",
                     help="Show the preference memory (built on first run, about 2-3 min on a CPU)."),
    ] = True,
) -> None:
    """The main job on the embedded default: data, baselines, the experts deliberating, the memory."""
    config = _config(config_file, home=home, model=model)
    console.rule("[bold]reason4rec[/] - shipped data, bundled base model, shipped adapters")
    dataset = _show_data(config, _split_names(SplitChoice.all))
    _show_baselines(config, _split_names(SplitChoice.all), json_path=None, dataset=dataset, review_aware=False)
    if not skip_model and targets:
        _show_deliberations(config, dataset, targets, adapters)
    if memory:
        _show_memory(config, dataset, adapters)
        if not skip_model:
            _show_chat(config, dataset, adapters)


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
) -> None:
    """Validate a review file, print its statistics, split it and audit histories for leaks."""
    config = _config(config_file, reviews=reviews, meta=meta, history_k=k,
                     **_loading(category, on_duplicate, allow_truncated))
    _show_data(config, _split_names(split))


@app.command("eval")
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
    adapters: Annotated[
        Path | None,
        typer.Option(help="Adapters folder or run folder (default: the shipped ones).", show_default=False),
    ] = None,
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
) -> None:
    """Score the expert pipeline, its ablations and every baseline on the same test targets."""
    config = _config(config_file, home=home, reviews=reviews, model=model, device=device, seed=seed,
                     backend=backend, **_loading(category, on_duplicate, allow_truncated))
    if baselines:
        _show_baselines(config, _split_names(split or SplitChoice.all), json_path, review_aware=bool(hft))
        return
    if split == SplitChoice.all:
        raise Reason4RecError("the expert evaluation scores one split at a time: --split leave-last-out, "
                              "random or temporal")
    _evaluate_experts(config, ExpertRun(split.value if split else config.data.split, limit, adapters, out,
                                        restart, not no_one_step, config.baselines.hft if hft is None else hft,
                                        judge_model))


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
    config = _config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit)
    _show_model(config, smoke_prompt=prompt)


class QuantChoice(str, Enum):
    f32 = "f32"
    f16 = "f16"
    q8_0 = "q8_0"


class EngineModeChoice(str, Enum):
    lora = "lora"
    merged = "merged"


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
    from .experts.llamacpp import open_llamacpp_backend
    from .experts.shipping import adapter_dirs

    config = _config(config_file, home=home, model=model)
    engine = config.engine.model_copy(update={k: v.value for k, v in (("quant", quant), ("mode", mode)) if v})
    config = config.model_copy(update={"engine": engine})
    _quiet_transformers()
    started = time.perf_counter()
    backend = open_llamacpp_backend(config, adapter_dirs(adapters, with_one_step=True), rebuild=rebuild,
                                    status=lambda line: console.print(line))
    try:
        files = sorted(backend.experts.base.file.parent.glob("*.gguf"))
        for path in files:
            console.print(f"  {path.name}  {path.stat().st_size / 1e6:.1f} MB")
        console.print(f"[bold]ready[/] in {time.perf_counter() - started:.1f} s: {backend.experts.base.describe()}; "
                      f"experts {', '.join(backend.experts.names)} ({backend.experts.base.file.parent})")
    finally:
        backend.close()


@model_app.command("tiny")
def model_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the tiny model to.")],
    layers: Annotated[int, typer.Option(min=1, max=8)] = 2,
    hidden_size: Annotated[int, typer.Option(min=16, max=512)] = 64,
) -> None:
    """Build a tiny random model (real tokenizer, ChatML template) for tests and smoke runs."""
    from .experts.tiny import build_tiny_checkpoint

    _quiet_transformers()
    folder = build_tiny_checkpoint(out_dir, layers=layers, hidden_size=hidden_size)
    console.print(f"tiny model written to [bold]{folder}[/]")


class TeacherChoice(str, Enum):
    offline = "offline"
    openai = "openai"


@app.command()
def train(
    stages: Annotated[list[str], typer.Argument(help="summarizer, reward, reasoner, predictor, one-step, or all.")],
    recipe: Annotated[str, typer.Option(help="Recipe name (cpu-small, gpu-paper) or TOML file.")] = "cpu-small",
    run: Annotated[
        Path | None,
        typer.Option(help="Run folder (default <home>/runs/<recipe>).", show_default=False),
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
    config_file: ConfigOption = None,
    home: HomeOption = None,
    reviews: ReviewsOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
) -> None:
    """Train experts stage by stage into a run folder; interrupted runs resume where they stopped."""
    from .training.pipeline import TrainingPipeline
    from .training.recipes import load_recipe
    from .training.reports import progress_bars
    from .training.teachers import OfflineTeacher, OpenAITeacher, OpenAITeacherSettings

    _quiet_transformers()
    config = _config(config_file, home=home, reviews=reviews, model=model, device=device,
                     **_loading(category, on_duplicate, allow_truncated))
    chosen = load_recipe(recipe)
    run_dir = run or config.home / "runs" / chosen.name
    if teacher == TeacherChoice.openai:
        writer = OpenAITeacher(OpenAITeacherSettings(model=teacher_model, base_url=teacher_base_url))
    else:
        writer = OfflineTeacher()
    console.print(f"[bold]training[/] {', '.join(stages)} with recipe [bold]{chosen.name}[/], "
                  f"teacher {writer.name}, base {config.base_model.name_or_path} -> {run_dir}")
    dataset = _load_dataset(config)
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


@adapters_app.command("show")
def adapters_show(
    path: Annotated[
        Path | None,
        typer.Argument(help="A run folder or adapters folder (default: the shipped ones).", show_default=False),
    ] = None,
) -> None:
    """List adapters with their cards (recipe, data, steps, loss, time)."""
    from .experts.adapters import AdapterCard, shipped_adapters_root
    from .experts.shipping import find_adapters

    root = path or shipped_adapters_root()
    found = find_adapters(root)
    for name, folder in found.items():
        card = AdapterCard.load(folder)
        console.print(f"[bold]{name}[/] {folder}: recipe {card.recipe}, base {card.base_model}, "
                      f"prompts {card.prompt_version}, {card.training.get('examples')} examples, "
                      f"{card.training.get('steps')} steps, final loss {card.training.get('final_loss')}")
    if not found:
        raise Reason4RecError(f"no adapters under {root}")


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
    from .experts.shipping import export_run

    config = _config(None, home=home)
    written = export_run(run, to, extra_caches=(config.home / "cache" / "summaries.jsonl",))
    for line in written:
        console.print(line)


@config_app.command("show")
def config_show(config_file: ConfigOption = None) -> None:
    """Print the configuration after defaults, file, environment and flags are applied."""
    config = _config(config_file)
    console.print_json(config.model_dump_json())


ThreadOption = Annotated[
    str | None,
    typer.Option("--thread", help="Conversation thread to continue (kept in the checkpointer).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result instead.")]
RemoteOption = Annotated[
    str | None,
    typer.Option("--remote", help="Use an OpenAI-compatible server at this base URL (vLLM, reason4rec serve).",
                 show_default=False),
]


@app.command()
def why(
    user: Annotated[str, typer.Option(help="Who is asking (a user id).")],
    item: Annotated[str | None, typer.Option(help="The item's id.", show_default=False)] = None,
    about: Annotated[
        str | None,
        typer.Option(help="The item in words, e.g. 'the Snark tuner'.", show_default=False),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also show the histories and summaries used."),
    ] = False,
    as_json: JsonOption = False,
    thread: ThreadOption = None,
    remote: RemoteOption = None,
    backend: BackendOption = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Why would this item suit this user? Streams the deliberation, then the answer."""
    if item is None and about is None:
        raise typer.BadParameter("give --item or --about")
    _run_turn("explain", as_json, verbose, thread, _agent_config(config_file, home, model, remote, adapters, backend),
              user_id=user, item_id=item, item_query=about)


@app.command()
def recommend(
    user: Annotated[str, typer.Option(help="Who the recommendations are for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many items.")] = 5,
    query: Annotated[
        str | None,
        typer.Option(help="Steer by a need in words, e.g. 'for home recording'.", show_default=False),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the candidates' profiles.")] = False,
    as_json: JsonOption = False,
    thread: ThreadOption = None,
    remote: RemoteOption = None,
    backend: BackendOption = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Top-k unreviewed items for a user, each reasoned about and rated, best first."""
    _run_turn("recommend", as_json, verbose, thread, _agent_config(config_file, home, model, remote, adapters, backend),
              user_id=user, k=k, query=query)


def _agent_config(config_file, home, model, remote, adapters, backend=None) -> Config:
    config = _config(config_file, home=home, model=model, backend=backend)
    if remote:
        config.agent.backend, config.agent.remote_url = "remote", remote
    if adapters:
        config.agent.adapters = adapters
    return config


def _run_turn(intent: str, as_json: bool, verbose: bool, thread: str | None, config: Config, **fields: Any) -> None:
    from rich.markdown import Markdown

    from .agent import Agent
    from .chat.printer import DeliberationPrinter

    _quiet_transformers()
    status_console = make_console(stderr=True) if as_json else console
    with status_console.status("opening the memory and the experts ...") as status:
        agent = Agent.open(config, status=lambda m: status.update(escape(m)))
    printer = DeliberationPrinter(console, verbose)
    with agent:
        for event in agent.stream(intent, thread_id=thread, **fields):
            if event["type"] == "done":
                state, thread = event["state"], event["thread_id"]
            elif not as_json:
                printer(event)
    if as_json:
        keys = ("intent", "user_id", "item_id", "item_title", "already_rated", "query", "like_item", "like_title",
                "reason", "reason_check", "rating", "recommendations", "candidates", "answer", "error", "timings")
        console.print_json(json.dumps({"thread_id": thread, **{key: state.get(key) for key in keys}}))
    else:
        console.print(Markdown(state.get("answer") or ""))
        console.print(f"[dim]thread {thread}[/]")
    if state.get("error"):
        raise typer.Exit(2)


@app.command()
def chat(
    user: Annotated[
        str | None,
        typer.Option(help="Who you are (a user id); `/user ID` switches later.", show_default=False),
    ] = None,
    thread: ThreadOption = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also show the histories and summaries used."),
    ] = False,
    remote: RemoteOption = None,
    backend: BackendOption = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Chat with the agent: ask why an item suits you, get recommendations, add reviews."""
    from .chat.session import Chat, read_line_factory

    _quiet_transformers()
    config = _agent_config(config_file, home, model, remote, adapters, backend)
    screen = make_console(color_system=None) if os.environ.get("NO_COLOR") else console
    session = Chat(config, screen, user=user, thread=thread, verbose=verbose)
    session.greet()
    try:
        session.open()
        session.loop(read_line_factory(screen, config.home / "chat" / "history"))
    finally:
        session.close()


class BulkChoice(str, Enum):
    lexicon = "lexicon"
    summarizer = "summarizer"


@memory_app.command("build")
def memory_build(
    rebuild: Annotated[
        bool,
        typer.Option(help="Move the vector folder aside and rebuild it from the review store."),
    ] = False,
    summaries: Annotated[
        BulkChoice | None,
        typer.Option(help="Summaries for imported reviews with none cached: lexicon (fast) or summarizer (a GPU job).",
                     show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    reviews: ReviewsOption = None,
    meta: MetaOption = None,
    category: CategoryOption = None,
    on_duplicate: OnDuplicateOption = None,
    allow_truncated: AllowTruncatedOption = None,
) -> None:
    """Fill the memory from a dataset (the shipped one by default); resumable, reuses cached summaries."""
    config = _config(config_file, home=home, reviews=reviews, meta=meta,
                     **_loading(category, on_duplicate, allow_truncated))
    if summaries is not None:
        config.memory.bulk_summaries = summaries.value
    dataset = _load_dataset(config)
    with _open_memory(config, dataset.category, rebuild=rebuild) as memory:
        _build_memory(config, memory, dataset, adapters)
        _print_status(memory.status())


def _build_memory(config: Config, memory, dataset, adapters: Path | None) -> None:
    """Import ``dataset`` and summarize what is pending (lexicon or Summarizer, cache first)."""
    from .memory.summarizers import LexiconSummarizer, cached_summaries
    from .training.reports import progress_bars

    needs_expert = config.memory.bulk_summaries == "summarizer" or any(
        not r.from_dataset for r in memory.store.pending())
    summarizer = _summarizer(config, adapters, dataset.category) if needs_expert else None
    bulk = summarizer if config.memory.bulk_summaries == "summarizer" else LexiconSummarizer()
    cache, version = cached_summaries(config, adapters)
    with progress_bars(console) as bars:
        report = memory.build(dataset, summarizer=summarizer, bulk=bulk, cache=cache, cache_version=version,
                              bars=bars)
    if report.imported or report.summarized or report.profiles:
        console.print(f"imported {report.imported:,} new reviews; summaries: {report.from_cache:,} reused from "
                      f"the Summarizer cache, {_counts(report.summarized)}; {report.profiles:,} profiles written "
                      f"in {report.seconds:.0f} s")


@memory_app.command("add-review")
def memory_add_review(
    user: Annotated[str, typer.Option(help="User id (created on a first review).")],
    item: Annotated[str, typer.Option(help="Item id (created on a first review).")],
    rating: Annotated[float, typer.Option(help="Stars, 1 to 5.")],
    text: Annotated[str, typer.Option(help="The review text; '-' reads it from stdin.")],
    title: Annotated[str, typer.Option(help="The review's headline.")] = "",
    item_title: Annotated[str | None, typer.Option(help="The item's name, if known.", show_default=False)] = None,
    timestamp: Annotated[int | None, typer.Option(help="Unix time (default now).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Store a review durably, summarize it and refresh the user's and item's profiles."""
    from dataclasses import asdict

    from .memory.store import check_review

    config = _config(config_file, home=home)
    text = sys.stdin.read() if text == "-" else text
    # Bad input is refused here, in milliseconds, before the memory is opened or a model loaded.
    check_review(user, item, rating, text, title=title, item_title=item_title)
    category = config.data.category or _shipped_category()
    with _open_memory(config, category) as memory:
        summarizer = _summarizer(config, adapters, category)
        if memory.store.counts()["pending"]:
            memory.sync(summarizer, bulk=_lexicon())  # the work an earlier run left behind
        result = memory.add_review(user, item, rating, text, summarizer=summarizer, timestamp=timestamp,
                                   title=title, item_title=item_title)
    if as_json:
        console.print_json(json.dumps(asdict(result)))
        return
    verb = {"created": "stored", "unchanged": "already stored", "replaced": "replaced (old version kept)"}
    console.print(f"review {escape(result.review.review_id)} {verb[result.outcome]}")
    if result.pending:
        console.print(f"[yellow]summary pending[/]: {escape(result.error or 'not summarized yet')}; "
                      "the review is safe; `reason4rec memory sync` finishes it")
    else:
        console.print(escape(result.summary or ""))
        console.print(f"[dim]searchable after {result.seconds:.1f} s[/]")


@memory_app.command("sync")
def memory_sync(adapters: AdaptersOption = None, config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Finish what an interrupted or failed update left: pending reviews and stale profiles."""
    from .training.reports import progress_bars

    config = _config(config_file, home=home)
    category = config.data.category or _shipped_category()
    with _open_memory(config, category) as memory:
        pending = memory.store.pending()
        summarizer = _summarizer(config, adapters, category) if any(
            not r.from_dataset for r in pending) else None
        bulk = summarizer if config.memory.bulk_summaries == "summarizer" else _lexicon()
        with progress_bars(console) as bars:
            report = memory.sync(summarizer, bulk=bulk, bars=bars)
        console.print(f"{len(pending):,} pending reviews: {_counts(report.summarized)}; "
                      f"{report.profiles:,} profiles refreshed in {report.seconds:.1f} s")
        _print_status(memory.status())


@memory_app.command("status")
def memory_status(config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Counts in the review store and the vector memory (they should agree)."""
    config = _config(config_file, home=home)
    with _open_memory(config, None) as memory:
        _print_status(memory.status())


@memory_app.command("profile")
def memory_profile(
    user: Annotated[str | None, typer.Option(help="A user id.", show_default=False)] = None,
    item: Annotated[str | None, typer.Option(help="An item id.", show_default=False)] = None,
    history: Annotated[int, typer.Option(help="How many recent reviews to list with their summaries.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """A user's or an item's preference profile and recent reviews with their summaries."""
    from .chat.printer import profile_panel

    if (user is None) == (item is None):
        raise typer.BadParameter("give exactly one of --user or --item")
    kind, entity = ("user", user) if user is not None else ("item", item)
    config = _config(config_file, home=home)
    with _open_memory(config, None) as memory:
        profile = memory.profile(kind, entity)
        records = (memory.user_history if kind == "user" else memory.item_history)(entity, history)
        titles = _titles(memory, [entity] if kind == "item" else [r.review.item_id for r in records])
    console.print(profile_panel(kind, entity, profile, records, titles))


@memory_app.command("search")
def memory_search(
    text: Annotated[str | None, typer.Argument(help="What you are looking for, in words.", show_default=False)] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Match this user's profile (and skip items they reviewed).", show_default=False),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many items.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Items whose profiles match a need in words, a user's preferences, or both."""
    from .chat.printer import matches_table

    if text is None and user is None:
        raise typer.BadParameter("give a search text, --user, or both")
    config = _config(config_file, home=home)
    with _open_memory(config, None) as memory:
        matches = (memory.items_for_user(user, k, query=text) if user else memory.search_items(text, k))
    console.print(matches_table(matches, title=f"items for {user or 'the search'}" + (f": {text}" if text else "")))


@memory_app.command("similar-users")
def memory_similar_users(
    user: Annotated[str, typer.Option(help="A user id.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many users.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Users whose preference profiles are closest to this user's."""
    from .chat.printer import matches_table

    config = _config(config_file, home=home)
    with _open_memory(config, None) as memory:
        console.print(matches_table(memory.similar_users(user, k), title=f"users similar to {user}"))


def _titles(memory, items: list[str]) -> dict[str, str]:
    """Item id -> title for the items a panel names (an item without a title is named by its id)."""
    return {item: memory.item_title(item) for item in items}


def _open_memory(config: Config, category: str | None, rebuild: bool = False):
    from .memory.service import Memory

    _quiet_transformers()
    with console.status("opening the memory ...") as status:
        return Memory.open(config, category=category, rebuild=rebuild, status=lambda m: status.update(escape(m)))


def _summarizer(config: Config, adapters: Path | None, category: str):
    from .memory.summarizers import load_expert_summarizer

    with console.status("loading the Summarizer ...") as status:
        return load_expert_summarizer(config, adapters, category=category, status=lambda m: status.update(escape(m)))


def _lexicon():
    from .memory.summarizers import LexiconSummarizer

    return LexiconSummarizer()


def _shipped_category() -> str:
    from .data import SHIPPED_CATEGORY

    return SHIPPED_CATEGORY


def _counts(by_version: dict[str, int]) -> str:
    return ", ".join(f"{count:,} by {version}" for version, count in by_version.items()) or "none new"


def _print_status(status: dict) -> None:
    from .chat.printer import memory_table

    console.print(memory_table(status))


# --------------------------------------------------------------------------- sections


def _show_data(config: Config, split_names: list[str]):
    """Prints statistics and the leak audit; returns the dataset so callers need not reload it."""
    from .data.splits import build_targets, find_history_leaks, make_split
    from .training.reports import dataset_table, splits_table

    started = time.perf_counter()
    dataset = _load_dataset(config)
    console.print(dataset_table(dataset, dataset.stats()))
    console.print(f"[dim]loaded and validated {len(dataset):,} reviews in {time.perf_counter() - started:.1f} s[/]")
    splits, leaks = [], {}
    for name in split_names:
        split = make_split(dataset, name, seed=config.data.seed)
        targets = [t for part in ("train", "valid", "test") for t in build_targets(split, part, config.data.history_k)]
        leaks[split.name] = len(find_history_leaks(split, targets))
        splits.append(split)
    console.print(splits_table(splits, leaks))
    console.print(
        f"[dim]histories: the user's and the item's last {config.data.history_k} training reviews "
        "strictly before each target (time order, ties by file order)[/]"
    )
    return dataset


def _show_model(config: Config, smoke_prompt: str) -> None:
    from .experts.base_model import generate_text, load_base_model

    _quiet_transformers()
    with console.status(f"loading base model {config.base_model.name_or_path} ...") as status:
        base = load_base_model(config.base_model, config.home, status=lambda m: status.update(m))
    console.print(f"[bold]base model[/] {base.describe()} from {base.path} ({base.load_seconds:.1f} s)")
    started = time.perf_counter()
    with console.status("generating a few tokens ..."):
        text = generate_text(base, smoke_prompt, max_new_tokens=24)
    console.print(f"[dim]prompt:[/] {smoke_prompt}")
    console.print(f"[dim]untuned reply ({time.perf_counter() - started:.1f} s):[/] {text.strip()!s}")


def _show_deliberations(config: Config, dataset, count: int, adapters: Path | None) -> None:
    """Summarizer -> Reasoner (streamed) -> Predictor on real leave-last-out test targets."""
    from rich.panel import Panel

    from .data.splits import build_targets, make_split
    from .experts.adapters import prompt_shape
    from .experts.loading import local_backend
    from .experts.prompts import predictor_messages, reasoner_messages, summary_line
    from .experts.shipping import adapter_dirs, summary_cache
    from .experts.summaries import target_contexts

    _quiet_transformers()
    with console.status("loading the base model and the expert adapters ...") as status:
        backend = local_backend(config, adapter_dirs(adapters, with_one_step=False),
                                status=lambda m: status.update(m))
    console.rule(f"[bold]deliberation[/] - {backend.experts.base.describe()}, adapters "
                 f"{', '.join(backend.experts.names)}")
    shape = prompt_shape(backend.experts.cards, config.data.history_k)
    split = make_split(dataset, "leave-last-out", config.data.seed)
    chosen = [t for t in build_targets(split, "test", shape.history_k) if t.has_histories][:count]
    contexts = target_contexts(backend, chosen, summary_cache(config.home, adapters), dataset.category,
                               dataset.title, max_review_chars=shape.max_review_chars)
    for target, ctx in zip(chosen, contexts):
        review = target.review
        console.print(f"\n[bold]user[/] {escape(review.user_id)}  [bold]item[/] {escape(ctx.item_title)}")
        for entry in ctx.user_history:
            console.print(f"  [dim]history[/] {escape(entry.title)}: {escape(summary_line(entry.summary))}")
        console.print("[bold cyan]Reasoner:[/] ", end="")
        pieces = []
        for piece in backend.stream("reasoner", reasoner_messages(ctx)):
            pieces.append(piece)
            console.out(piece, end="", highlight=False)
        console.line()
        [dist] = backend.rate("predictor", [predictor_messages(ctx, "".join(pieces).strip())])
        bars = "  ".join(f"{star}:{p:.2f}" for star, p in zip(range(1, 6), dist.probabilities))
        console.print(Panel(f"predicted [bold]{dist.expected:.2f}[/] (confidence {dist.confidence:.2f}; {bars})\n"
                            f"true rating {review.rating:g}; the user wrote: {escape(review.text[:300])}",
                            title="Predictor", expand=False))


def _show_memory(config: Config, dataset, adapters: Path | None,
                 need: str = "a quiet pedal for apartment practice") -> None:
    """Build the memory on first run, then a profile and the items that match it (and a need)."""
    from collections import Counter

    from .chat.printer import matches_table, profile_panel

    console.rule("[bold]memory[/] - review store + Chroma profiles")
    with _open_memory(config, dataset.category) as memory:
        if not memory.store.counts()["reviews"]:
            console.print(f"first run: building the memory of {len(dataset):,} shipped reviews "
                          "(lexicon + shipped Summarizer summaries, MiniLM embeddings) ...")
        _build_memory(config, memory, dataset, adapters)
        _print_status(memory.status())
        user = Counter(r.user_id for r in dataset.reviews).most_common(1)[0][0]
        records = memory.user_history(user, 3)
        console.print(profile_panel("user", user, memory.profile("user", user), records,
                                    _titles(memory, [r.review.item_id for r in records])))
        console.print(matches_table(memory.items_for_user(user, 3), title=f"items matching {user}'s profile"))
        console.print(matches_table(memory.items_for_user(user, 3, query=need), title=f"... steered by: {need}"))


def _show_chat(config: Config, dataset, adapters: Path | None) -> None:
    """A short scripted chat: a why question, a new review that updates memory, a recommendation."""
    from collections import Counter

    from .chat.session import Chat

    console.rule("[bold]chat[/] - `reason4rec chat`, scripted")
    user = Counter(r.user_id for r in dataset.reviews).most_common(1)[0][0]
    with _open_memory(config, dataset.category) as memory:
        picks = [m.profile.entity_id for m in memory.items_for_user(user, 2)]
    if adapters:
        config.agent.adapters = adapters
    config.agent.candidates = 4  # each candidate is reasoned about: keep the CPU demo short
    _quiet_transformers()
    chat = Chat(config, console, user=user)
    try:
        chat.run_script([f"would I like {picks[0]}?",
                         f"I just bought {picks[1]}, 4 stars: bright tone but the clip broke",
                         "recommend 2 things for home recording"])
    finally:
        chat.close()
    console.print(f"[dim]your turn: reason4rec chat --user {user}[/]")


def _show_baselines(config: Config, split_names: list[str], json_path: Path | None, dataset=None,
                    review_aware: bool | None = None) -> None:
    from .training.evaluate import evaluate_baselines
    from .training.reports import metrics_table, progress_bars

    dataset = dataset if dataset is not None else _load_dataset(config)
    with progress_bars(console) as bars:
        rows = evaluate_baselines(dataset, split_names, config.baselines, config.data.seed, progress=bars,
                                  review_aware=review_aware)
    console.print(metrics_table(rows, title="Rating baselines (test targets; lower is better)"))
    if not any(row.method.startswith("HFT") for row in rows):
        console.print("[dim]HFT, the review-aware baseline, takes minutes per split: "
                      "reason4rec eval --baselines --hft adds it (the expert evaluation includes it)[/]")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps([row.as_dict() for row in rows], indent=2))
        console.print(f"[dim]rows written to {json_path}[/]")


@dataclass(frozen=True)
class ExpertRun:
    """What ``reason4rec eval`` was asked to score (the experts' part)."""

    split: str
    limit: int | None
    adapters: Path | None
    out: Path | None
    restart: bool
    one_step: bool
    review_aware: bool
    judge_model: str | None


def _evaluate_experts(config: Config, run: ExpertRun) -> None:
    from .experts.adapters import prompt_shape
    from .experts.loading import local_backend
    from .experts.shipping import adapter_dirs, summary_cache
    from .training.evaluate_experts import ExpertEvalSettings, evaluate_experts, select_targets
    from .training.reports import evaluation_summary, metrics_table, progress_bars

    _quiet_transformers()
    dirs = adapter_dirs(run.adapters, with_one_step=run.one_step)
    dataset = _load_dataset(config)
    settings = ExpertEvalSettings(
        split=run.split, limit=run.limit, seed=config.data.seed, one_step="one_step" in dirs,
        judge_model=run.judge_model, review_aware=run.review_aware,
    )
    select_targets(dataset, settings)  # a bad --limit is refused before the model loads
    with console.status("loading the base model and adapters ..."):
        backend = local_backend(config, dirs)
    shape = prompt_shape(backend.experts.cards, config.data.history_k)
    settings.history_k, settings.max_review_chars = shape.history_k, shape.max_review_chars
    console.print(f"[bold]experts[/] {', '.join(backend.experts.names)} on {backend.experts.base.describe()}")
    with progress_bars(console) as bars:
        result = evaluate_experts(config, dataset, backend, settings, summary_cache(config.home, run.adapters),
                                  run.out, restart=run.restart, bars=bars,
                                  say=lambda m: console.print(f"[dim]{escape(m)}[/]"))
    console.print(metrics_table(result.rows, title=f"{run.split} test, {result.settings['targets']:,} targets "
                                                   "(same targets for every row; lower is better)"))
    console.print(evaluation_summary(result))
    results, plot = result.write(Path(result.settings["run_folder"]))
    console.print(f"[dim]written: {results} and {plot}[/]")


# ---- serve (issue 7): owned by the serving work; the chat work does not edit this block ----
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 = any free port).")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="REASON4REC_API_KEY",
                     help="Bearer key clients must send (else $REASON4REC_API_KEY).", show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    four_bit: FourBitOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Requests for one adapter per batched generation (serve.batch_size).",
                     show_default=False),
    ] = None,
    backend: BackendOption = None,
) -> None:
    """Serve the experts behind an OpenAI-compatible API (the model name picks the adapter).

    Limits (request bytes, max_tokens, prompt tokens, batching, queue) are the [serve] section of
    the config file, or REASON4REC_SERVE__<FIELD>; see docs/serving.md.
    """
    from .serving import serve as run_server

    _quiet_transformers()
    config = _config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit,
                     backend=backend)
    if adapters:
        config.agent.adapters = adapters
    if batch_size is not None:
        config.serve.batch_size = batch_size
    errors = make_console(stderr=True)
    run_server(config, host=host, port=port, api_key=api_key,
               status=lambda message: errors.print(f"[dim]{escape(message)}[/]"))
# ---- end of serve block ----


def main() -> None:
    """Console entry point: user-fixable errors become one message and exit status 2.

    Typer's standalone mode already turns usage errors into a message with status 2 and Ctrl-C
    into status 130; what is left for us is our own error family.
    """
    try:
        app()
    except Reason4RecError as err:
        make_console(stderr=True).print(f"[bold red]error:[/] {err}")
        sys.exit(2)


if __name__ == "__main__":
    main()
