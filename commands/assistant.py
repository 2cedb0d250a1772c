"""Asking the assistant: ``demo``, ``why``, ``recommend`` and ``chat`` (registered by :mod:`..cli`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from .. import demo as demo_flow
from ..app import conversation, make_console, views
from .options import (
    AdaptersOption,
    BackendOption,
    ConfigOption,
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

if TYPE_CHECKING:
    from ..agent import Turn


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
