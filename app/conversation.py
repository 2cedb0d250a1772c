"""``reason4rec chat``: a conversation in a terminal, on the memory and the experts opened here."""

from __future__ import annotations

from rich.console import Console

from ..config import Config
from .resources import open_agent


def chat(config: Config, console: Console, *, user: str | None = None, thread: str | None = None,
         verbose: bool = False) -> None:
    """Greet, open the memory and the experts (a failure is said, and the chat goes on), and
    handle lines until ``/quit`` or end of input."""
    from ..chat import Chat, read_line_factory
    from ..memory import check_reachable

    check_reachable(config)  # a PostgreSQL database that cannot be reached ends the chat before it starts
    session = Chat(config, console, user=user, thread=thread, verbose=verbose, opener=open_agent)
    session.greet()
    try:
        session.open()
        session.loop(read_line_factory(console, config.home / "chat" / "history"))
    finally:
        session.close()
