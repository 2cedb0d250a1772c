"""``doctor``: every part the configuration names, checked in a few seconds (registered by :mod:`..cli`)."""

from __future__ import annotations

import typer
from rich.markup import escape

from ..app import run_checks
from .options import (
    AdaptersOption,
    ConfigOption,
    HomeOption,
    ModelOption,
    RemoteOption,
    agent_config,
    console,
)


def doctor(
    remote: RemoteOption = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
) -> None:
    """Check that the review store, vector memory, chat threads, expert server, models and adapters
    the configuration names are there and reachable, one line each; exit status 2 if any is not.

    Nothing is created, migrated or loaded; each network look gives up after 3 seconds.
    """
    checks = run_checks(agent_config(config_file, home, model, remote, adapters))
    for check in checks:
        mark = "[green]ok[/]     " if check.ok else "[bold red]FAILED[/] "
        console.print(mark + escape(check.line()[7:]), soft_wrap=True, highlight=False)
    failed = [check.part for check in checks if not check.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(checks)} checks failed:[/] {escape(', '.join(failed))}",
                      highlight=False)
        raise typer.Exit(2)
