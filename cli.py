"""The ``reason4rec`` command: one entry point mapping commands to functions.

Thin by design: the flags' types and their merging into the config live in
:mod:`.commands.options`, the command groups in :mod:`.commands`, the work itself in the
application layer (:mod:`.app`, :mod:`.demo`). Errors a user can fix print as one red line and
exit with status 2.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from . import demo as demo_flow
from .app import conversation, models, views
from .app.console import PLAIN_WIDTH as PLAIN_WIDTH
from .app.console import PlainConsole as PlainConsole
from .app.console import make_console
from .commands import research
from .commands.memory import memory_app
from .commands.models import adapters_app, config_app, model_app
from .commands.options import (
    AdaptersOption,
    BackendOption,
    ConfigOption,
    DeviceOption,
    DtypeOption,
    FourBitOption,
    HomeOption,
    JsonOption,
    ModelOption,
    RemoteOption,
    ThreadOption,
    agent_config,
    console,
    flags_config,
    open_service,
)
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
app.add_typer(research.data_app, name="data")
app.add_typer(model_app, name="model")
app.add_typer(config_app, name="config")
app.add_typer(adapters_app, name="adapters")
app.add_typer(memory_app, name="memory")


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
    demo_flow.run(flags_config(config_file, home=home, model=model), console, targets=targets, adapters=adapters,
                  skip_model=skip_model, memory=memory)


app.command("eval")(research.evaluate)
app.command()(research.train)


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
    with open_service(agent_config(config_file, home, model, remote, adapters, backend), as_json) as service:
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
    with open_service(agent_config(config_file, home, model, remote, adapters, backend), as_json) as service:
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
    config = agent_config(config_file, home, model, remote, adapters, backend)
    screen = make_console(color_system=None) if os.environ.get("NO_COLOR") else console
    conversation.chat(config, screen, user=user, thread=thread, verbose=verbose)



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
    config = flags_config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit,
                     backend=backend)
    if adapters:
        config.agent.adapters = adapters
    if batch_size is not None:
        config.serve.batch_size = batch_size
    models.serve(config, host=host, port=port, api_key=api_key, status_console=make_console(stderr=True))


def main() -> None:
    """Console entry point: every error a person can fix is one line and exit status 2.

    Usage errors (``--rating five``, ``-k 0``) as well as our own error family: Typer's own
    report of a usage error is a 5-6 line box, so it runs in non-standalone mode and the
    errors come back here. Ctrl-C is status 130, as in a shell.
    """
    from rich.markup import escape  # the message may quote ids, paths or text a person typed

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as err:  # Typer's usage errors (its vendored click's) derive from it
        if type(err).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # the help is already printed (Typer tells it apart by name too)
        context = getattr(err, "ctx", None)
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        make_console(stderr=True).print(f"[bold red]error:[/] {escape(err.format_message())}{escape(where)}")
        sys.exit(err.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Reason4RecError as err:
        make_console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
