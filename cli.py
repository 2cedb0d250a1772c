"""The ``reason4rec`` command: a table of command names and the functions that run them.

The commands live in :mod:`.commands` (flags and their merging into the config in
:mod:`.commands.options`), the work in the application layer (:mod:`.app`, :mod:`.demo`). Every
error a person can fix prints as one red line and exits with status 2.
"""

from __future__ import annotations

import sys

import typer

from .app import make_console
from .commands import assistant, doctor, memory, models, research, serving
from .errors import Reason4RecError

COMMANDS = {
    "demo": assistant.demo,
    "why": assistant.why,
    "recommend": assistant.recommend,
    "chat": assistant.chat,
    "serve": serving.serve,
    "eval": research.evaluate,
    "train": research.train,
    "calibrate": research.calibrate,
    "doctor": doctor.doctor,
}
GROUPS = {
    "memory": memory.memory_app,
    "data": research.data_app,
    "model": models.model_app,
    "adapters": models.adapters_app,
    "config": models.config_app,
}

app = typer.Typer(
    name="reason4rec",
    help="A recommendation assistant that reasons before it rates (Reason4Rec).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)
for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)


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
