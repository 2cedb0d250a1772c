"""The ``reason4rec`` command: one entry point, subcommands built from typed function signatures.

Thin by design: it parses flags into the config (flags win over env vars, which win over the
TOML file, which wins over defaults), hands each command to the application layer (:mod:`.app`,
:mod:`.demo`), and renders with Rich. Errors a user can fix print as one red line and exit with
status 2.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import demo as demo_flow
from .app import conversation, datasets, evaluation, models, resources, upkeep, views
from .app import train as training
from .app.console import PLAIN_WIDTH as PLAIN_WIDTH
from .app.console import PlainConsole as PlainConsole
from .app.console import make_console
from .app.service import Service
from .config import Config, load_config
from .errors import Reason4RecError

if TYPE_CHECKING:
    from .agent.session import Turn

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


class QuantChoice(str, Enum):
    f32 = "f32"
    f16 = "f16"
    q8_0 = "q8_0"


class EngineModeChoice(str, Enum):
    lora = "lora"
    merged = "merged"


class TeacherChoice(str, Enum):
    offline = "offline"
    openai = "openai"


class BulkChoice(str, Enum):
    lexicon = "lexicon"
    summarizer = "summarizer"


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


def _agent_config(config_file: Path | None, home: Path | None, model: str | None, remote: str | None,
                  adapters: Path | None, backend: LocalEngine | None = None) -> Config:
    config = _config(config_file, home=home, model=model, backend=backend)
    if remote:
        config.agent.backend, config.agent.remote_url = "remote", remote
    if adapters:
        config.agent.adapters = adapters
    return config


def _service(config: Config, as_json: bool = False) -> Service:
    """The application on ``config``; its status lines go to stderr when stdout carries JSON."""
    return Service(config, make_console(stderr=True) if as_json else console)


# --------------------------------------------------------------------------- commands


@app.command()
def demo(
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    skip_model: Annotated[bool, typer.Option(help="Do not fetch/load the base model.")] = False,
    targets: Annotated[int, typer.Option(min=0, max=50, help="Test targets to deliberate on.")] = 2,
    adapters: AdaptersOption = None,
    memory: Annotated[
        bool,
        typer.Option("--memory/--no-memory",
                     help="Show the preference memory (built on first run, about 2-3 min on a CPU)."),
    ] = True,
) -> None:
    """The main job on the embedded default: data, baselines, the experts deliberating, the memory."""
    demo_flow.run(_config(config_file, home=home, model=model), console, targets=targets, adapters=adapters,
                  skip_model=skip_model, memory=memory)


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
    datasets.audit(config, console, datasets.split_names(split.value))


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
) -> None:
    """Score the expert pipeline, its ablations and every baseline on the same test targets."""
    config = _config(config_file, home=home, reviews=reviews, model=model, device=device, seed=seed,
                     backend=backend, **_loading(category, on_duplicate, allow_truncated))
    if baselines:
        evaluation.baselines(config, console, datasets.split_names((split or SplitChoice.all).value), json_path,
                             review_aware=bool(hft))
        return
    evaluation.experts(config, console, evaluation.ExpertRun(
        split.value if split else config.data.split, limit, adapters, out, restart, not no_one_step,
        config.baselines.hft if hft is None else hft, judge_model))


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
    models.export_engine(_config(config_file, home=home, model=model), console, adapters,
                         quant=quant.value if quant else None, mode=mode.value if mode else None, rebuild=rebuild)


@model_app.command("tiny")
def model_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the tiny model to.")],
    layers: Annotated[int, typer.Option(min=1, max=8)] = 2,
    hidden_size: Annotated[int, typer.Option(min=16, max=512)] = 64,
) -> None:
    """Build a tiny random model (real tokenizer, ChatML template) for tests and smoke runs."""
    models.build_tiny(console, out_dir, layers, hidden_size)


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
    config = _config(config_file, home=home, reviews=reviews, model=model, device=device,
                     **_loading(category, on_duplicate, allow_truncated))
    training.train(config, console, stages, recipe, run, teacher=teacher.value, teacher_model=teacher_model,
                   teacher_base_url=teacher_base_url, force=force)


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
    models.export_adapters(_config(None, home=home), console, run, to)


@config_app.command("show")
def config_show(config_file: ConfigOption = None) -> None:
    """Print the configuration after defaults, file, environment and flags are applied."""
    config = _config(config_file)
    console.print_json(config.model_dump_json())


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
    with _service(_agent_config(config_file, home, model, remote, adapters, backend), as_json) as service:
        turn = service.why(user, item, about=about, thread=thread,
                           on_event=None if as_json else views.deliberation(console, verbose))
    _answer(turn, as_json)


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
    with _service(_agent_config(config_file, home, model, remote, adapters, backend), as_json) as service:
        turn = service.recommend(user, k, query, thread=thread,
                                 on_event=None if as_json else views.deliberation(console, verbose))
    _answer(turn, as_json)


def _answer(turn: Turn, as_json: bool) -> None:
    """The turn's answer (or JSON); a turn that ended in an error exits with status 2."""
    views.answer(console, turn, as_json)
    if turn.state.get("error"):
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
    config = _agent_config(config_file, home, model, remote, adapters, backend)
    screen = make_console(color_system=None) if os.environ.get("NO_COLOR") else console
    conversation.chat(config, screen, user=user, thread=thread, verbose=verbose)


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
    dataset = resources.load_dataset(config)
    with _service(config) as service:
        upkeep.build(service, dataset, adapters, rebuild=rebuild)
        views.memory_status(console, service.status())


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
    config = _config(config_file, home=home)
    text = sys.stdin.read() if text == "-" else text
    with _service(config) as service:
        result = service.add_review(user, item, rating, text, title=title, item_title=item_title,
                                    timestamp=timestamp, adapters=adapters)
    views.review_added(console, result, as_json)


@memory_app.command("sync")
def memory_sync(adapters: AdaptersOption = None, config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Finish what an interrupted or failed update left: pending reviews and stale profiles."""
    with _service(_config(config_file, home=home)) as service:
        upkeep.sync(service, adapters)
        views.memory_status(console, service.status())


@memory_app.command("status")
def memory_status(config_file: ConfigOption = None, home: HomeOption = None) -> None:
    """Counts in the review store and the vector memory (they should agree)."""
    with _service(_config(config_file, home=home)) as service:
        views.memory_status(console, service.status())


@memory_app.command("profile")
def memory_profile(
    user: Annotated[str | None, typer.Option(help="A user id.", show_default=False)] = None,
    item: Annotated[str | None, typer.Option(help="An item id.", show_default=False)] = None,
    history: Annotated[int, typer.Option(help="How many recent reviews to list with their summaries.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """A user's or an item's preference profile and recent reviews with their summaries."""
    if (user is None) == (item is None):
        raise typer.BadParameter("give exactly one of --user or --item")
    kind, entity = ("user", user) if user is not None else ("item", item)
    with _service(_config(config_file, home=home)) as service:
        found = service.profile(kind, entity, history)
    views.portrait(console, found)


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
    if text is None and user is None:
        raise typer.BadParameter("give a search text, --user, or both")
    with _service(_config(config_file, home=home)) as service:
        matches = service.search(text, user, k)
    views.matches(console, matches, f"items for {user or 'the search'}" + (f": {text}" if text else ""))


@memory_app.command("similar-users")
def memory_similar_users(
    user: Annotated[str, typer.Option(help="A user id.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many users.")] = 5,
    config_file: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Users whose preference profiles are closest to this user's."""
    with _service(_config(config_file, home=home)) as service:
        views.matches(console, service.similar_users(user, k), f"users similar to {user}")


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
    config = _config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit,
                     backend=backend)
    if adapters:
        config.agent.adapters = adapters
    if batch_size is not None:
        config.serve.batch_size = batch_size
    models.serve(config, host=host, port=port, api_key=api_key, status_console=make_console(stderr=True))
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
