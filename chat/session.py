"""The chat loop: read a line, understand it, run a turn of the agent and watch it deliberate.

One conversation is one LangGraph thread, so ``reason4rec chat --thread T`` resumes it after a
restart (who you are comes back with it). Ctrl-C while the agent deliberates cancels that turn
(the graph ends it cleanly and the model stops at its next token) and the chat goes on; Ctrl-C at
the prompt clears the line; Ctrl-D or ``/quit`` leaves. Nothing a person types can crash it: every
error becomes one friendly line.

Example:
    >>> chat = Chat(load_config(), Console())                 # doctest: +SKIP
    >>> chat.run_script(["/user A2EZWZ8MBEDOLN", "would I like B0002E1G5C?"])  # doctest: +SKIP
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from ..config import Config
from ..errors import Reason4RecError
from ..experts import strip_terminal_escapes
from ..memory import item_label
from .catalog import Catalog
from .intents import EXAMPLES, SLASH_COMMANDS, Command, InputTooLong, parse
from .view import TurnView

SEMANTIC_GUESS = 0.35
"""A line no rule understood is offered as "why <item>?" when an item matches it this well."""
_YES = {"yes", "y", "yeah", "yep", "sure", "ok", "okay", "please", "go ahead", "do it"}
_NO = {"no", "n", "nope", "never mind", "nevermind", "cancel"}

AgentOpener = Callable[..., Any]


class Chat:
    """A conversation with the agent in a terminal (or over a pipe)."""

    def __init__(self, config: Config, console: Console, *, user: str | None = None, thread: str | None = None,
                 verbose: bool = False, opener: AgentOpener | None = None) -> None:
        self.config, self.console = config, console
        self.user, self.verbose = user, verbose
        self.thread = thread or uuid.uuid4().hex[:12]
        self.resumed = thread is not None
        self.agent: Any = None
        self.catalog = Catalog()
        self._opener = opener
        self._offer: Command | None = None
        self._answers: dict[str, Command] = {}
        """Replies the last question takes ("yes", "new") and what each runs."""
        self._choices: tuple[str, dict[str, Any], list[str]] | None = None
        self._warming: threading.Thread | None = None

    # ------------------------------------------------------------------ lifetime
    def open(self) -> bool:
        """Open the memory and the experts; on failure say why and let the chat go on (a turn
        tries again). Returns whether the agent is ready."""
        if self.agent is not None:
            return True
        if self._opener is None:
            from ..agent import Agent

            self._opener = Agent.open
        try:
            with self.console.status("opening the memory and the experts ...") as status:
                self.agent = self._opener(self.config, status=lambda m: status.update(escape(m)))
        except Reason4RecError as err:
            self._warn(f"{err}\nThe chat goes on; your next question tries again (`/quit` to leave).")
            return False
        except OSError as err:
            self._warn(f"could not open the memory or the experts: {err}")
            return False
        self.catalog = Catalog.from_memory(self.agent.memory)
        self._restore_thread()
        self._warm()
        return True

    def close(self) -> None:
        self._wait_for_warm_up()
        if self.agent is not None:
            self.agent.close()
            self.agent = None

    def _restore_thread(self) -> None:
        state = self.agent.thread(self.thread) if self.resumed else {}
        if state:
            self.user = self.user or state.get("user_id")
            self.console.print(f"[dim]resumed thread {escape(self.thread)}: {state.get('turns', 0)} turns so far"
                               + (f", user {escape(self.user)}" if self.user else "") + "[/]")
        elif self.resumed:
            self.console.print(f"[dim]thread {escape(self.thread)} is new[/]")

    # ------------------------------------------------------------------ the loop
    def greet(self) -> None:
        self.console.print("[bold]reason4rec chat[/]: ask why an item would suit you, for recommendations, "
                           "or tell me about something you bought. [dim]/help for commands, Ctrl-D to leave.[/]")
        if self.user:
            self.console.print(f"[dim]you are {escape(self.user)}[/]")

    def loop(self, read_line: Callable[[str], str]) -> None:
        """Read and handle lines until ``/quit`` or end of input (Ctrl-D)."""
        while True:
            try:
                line = read_line(self.prompt())
            except EOFError:
                self.console.print("[dim]bye[/]")
                break
            except KeyboardInterrupt:  # at the prompt: drop the line, like a shell
                continue
            if not self.handle(line):
                break
        self.console.print(f"[dim]thread {escape(self.thread)} (resume: reason4rec chat --thread "
                           f"{escape(self.thread)})[/]")

    def run_script(self, lines: Iterable[str]) -> None:
        """Handle ``lines`` as if typed, echoing each one (the demo, scripted sessions)."""
        for line in lines:
            self.console.print(f"[bold green]{escape(self.prompt())}[/]{escape(strip_terminal_escapes(line))}")
            if not self.handle(line):
                break

    def prompt(self) -> str:
        return f"{self.user or 'you'} › "

    def handle(self, line: str) -> bool:
        """Do what ``line`` asks; False when the chat should end. Never raises for bad input."""
        try:
            return self._handle(line)
        except InputTooLong as err:
            self._warn(str(err))
        except Reason4RecError as err:
            self._warn(str(err))
        except OSError as err:
            self._warn(f"the memory or the experts are unreachable: {err}")
        return True

    def _handle(self, line: str) -> bool:
        follow_up = self._follow_up(line)
        command = follow_up or parse(line, self.catalog)
        if command.action in ("turn", "unclear") and self.agent is None:
            if not self.open():  # it said why; the chat goes on
                return True
            command = follow_up or parse(line, self.catalog)  # now with the memory's ids
        if command.note and command.action != "unclear":
            self.console.print(f"[dim]{escape(_plain(command.note))}[/]")
        if command.action == "quit":
            return False
        if command.action == "help":
            self.console.print(help_table())
        elif command.action == "mode":
            self.verbose = command.value == "verbose"
            self.console.print(f"[dim]{command.value} mode[/]")
        elif command.action == "evidence":
            self._show_evidence()
        elif command.action == "thread":
            self.console.print(f"thread [bold]{escape(self.thread)}[/]: resume with "
                               f"`reason4rec chat --thread {escape(self.thread)}`")
        elif command.action == "user":
            self._switch_user(command.value)
        elif command.action == "unclear":
            self._unclear(line, command)
        elif command.action == "turn":
            self.turn(command.intent or "explain", dict(command.fields))
        return True

    # ------------------------------------------------------------------ follow-ups ("yes", "2")
    def _follow_up(self, line: str) -> Command | None:
        answer = line.strip().lower().rstrip("!.")
        offer, choices, answers = self._offer, self._choices, self._answers
        self._offer = self._choices = None
        self._answers = {}
        if answers:
            reply = "yes" if answer in _YES else answer
            if reply in answers:
                return answers[reply]
        if offer is not None and answer in _YES:
            return offer
        if (offer or choices or answers) and answer in _NO:
            return Command("nothing", note="ok")
        if choices is not None:
            intent, fields, ids = choices
            picked = ids[int(answer) - 1] if answer.isdigit() and 0 < int(answer) <= len(ids) else \
                next((i for i in ids if i.lower() == answer), None)
            if picked:
                return Command("turn", intent, {**{k: v for k, v in fields.items() if k != "item_query"},
                                                "item_id": picked})
        return None

    def _unclear(self, line: str, command: Command) -> None:
        if command.answers:  # a question with its replies: "yes" / "new"
            self._answers = dict(command.answers)
        elif command.value:  # an item was named without a question
            self._offer = Command("turn", "explain", {"item_id": command.value})
        elif "text" in command.fields and self.agent is not None:  # no rule matched: ask the memory
            guess = self._semantic_guess(command.fields["text"])
            if guess is not None:
                item, profile = guess
                self._offer = Command("turn", "explain", {"item_id": item})
                name = self.catalog.name(item)
                self.console.print(f"Did you mean [bold]{escape(name)}[/] ({escape(profile[:80])})? "
                                   "Say [bold]yes[/] to hear why it would or would not suit you.")
                return
        self.console.print(_markup(command.note or "?"))

    def _semantic_guess(self, line: str) -> tuple[str, str] | None:
        self._wait_for_warm_up()
        matches = self.agent.memory.search_items(line, k=1)
        if matches and matches[0].similarity >= SEMANTIC_GUESS:
            return matches[0].profile.entity_id, matches[0].profile.text
        return None

    def _warn(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")

    # ------------------------------------------------------------------ users
    def _switch_user(self, user: str | None) -> None:
        if user is None:
            self.console.print(f"you are {escape(self.user)}" if self.user else "no user yet: `/user ID`")
            return
        self.user = user
        self.console.print(f"you are now [bold]{escape(user)}[/]")
        self._warm()

    def _warm(self) -> None:
        """Prefill the user's part of the Reasoner's prompt while the person types (the engine
        keeps it for their questions). A turn waits for it first, so the memory and the engine are
        never used by two threads at once; a failure only loses the head start."""
        agent, user = self.agent, self.user
        if agent is None or not user or not callable(getattr(agent, "warm", None)):
            return
        self._wait_for_warm_up()

        def warm() -> None:
            try:
                agent.warm(user)
            except Exception:  # a head start, never an error a person must act on
                return

        self._warming = threading.Thread(target=warm, name="reason4rec-warm-up", daemon=True)
        self._warming.start()

    def _wait_for_warm_up(self) -> None:
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def _ask_who(self) -> None:
        known = sorted(self.catalog.users)[:3]
        hint = f" (for example {', '.join(known)})" if known else ""
        self._warn(f"who are you? switch with `/user ID`{hint}")

    # ------------------------------------------------------------------ turns
    def turn(self, intent: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Run one agent turn, rendering it live; Ctrl-C cancels it. Returns the final state."""
        if not self.open():
            return None
        if not self.user:
            self._ask_who()
            return None
        self._wait_for_warm_up()
        view = TurnView(self.console, verbose=self.verbose, names=self.catalog.names)
        try:
            with view, _cancel_on_interrupt(self.agent, view):
                state = self.agent.turn(intent, thread_id=self.thread, on_event=view, user_id=self.user,
                                        **fields).state
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting at once
            self.console.print("[yellow]interrupted[/]")
            return None
        self._after(intent, fields, state)
        self._last = state
        return state

    def _show_evidence(self) -> None:
        """``/evidence``: every review behind the last answer (each aspect's sources, the buyers'
        five most praised and criticised aspects), where the answer showed the first few."""
        from rich.markdown import Markdown

        from ..agent import full_evidence

        text = full_evidence(getattr(self, "_last", None) or {})
        self.console.print(Markdown(text) if text else "[dim]no evidence yet: ask why an item would suit you[/]")

    def _after(self, intent: str, fields: dict[str, Any], state: dict[str, Any]) -> None:
        if self.agent.cancelled:
            self.console.print("[yellow]cancelled[/]: the deliberation was stopped; ask again any time.")
            return
        if state.get("candidates") and state.get("error"):
            ids = [c["id"] for c in state["candidates"]]
            self._choices = (intent, fields, ids)
            self.console.print(f"[bold]{escape(state.get('item_query') or fields.get('item_query') or 'that')}[/] "
                               "could mean several items:")
            for number, candidate in enumerate(state["candidates"], 1):
                name = self.catalog.name(candidate["id"]) if self.catalog.has_item(candidate["id"]) \
                    else item_label(candidate["id"], candidate.get("title"))
                self.console.print(f"  {number}. [bold]{escape(name)}[/] {escape(candidate['profile'][:60])}")
            self.console.print("Which one? Answer with its number or id.")
            return
        if intent == "add_review" and state.get("update"):
            self.catalog.add(self.user, state.get("item_id"))
        self.console.print(Markdown(state.get("answer") or ""))


def help_table() -> Table:
    """Slash commands and example questions, in 80 columns."""
    table = Table(title="reason4rec chat", title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for command in SLASH_COMMANDS:
        table.add_row(command.usage, command.help)
    table.add_row("", "")
    table.add_row("or just ask", "\n".join(f"“{e}”" for e in EXAMPLES))
    table.add_row("keys", "Ctrl-C stops a deliberation · Ctrl-D leaves · ↑/↓ history")
    return table


class _cancel_on_interrupt:
    """While a turn runs, Ctrl-C asks the agent to stop (once); a second Ctrl-C interrupts."""

    def __init__(self, agent: Any, view: TurnView) -> None:
        self.agent, self.view = agent, view
        self.previous: Any = None
        self.presses = 0

    def __enter__(self) -> _cancel_on_interrupt:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self.presses += 1
        if self.presses > 1:
            raise KeyboardInterrupt
        self.agent.cancel()
        self.view.say("cancelling ... (Ctrl-C again to interrupt at once)")


def read_line_factory(console: Console, history: Path) -> Callable[[str], str]:
    """Line input: prompt_toolkit (editing, ↑/↓ history kept in ``history``) on a terminal,
    plain ``input()`` otherwise (pipes, scripts)."""
    import sys

    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        history.parent.mkdir(parents=True, exist_ok=True)
        session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
        return lambda prompt: session.prompt(prompt)

    def read_plain(prompt: str) -> str:
        console.print(prompt, end="")
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if not console.is_terminal:
            # keep the transcript readable, and what was typed plain text (no clear-screen, no title)
            console.print(strip_terminal_escapes(line.rstrip("\n")), markup=False, highlight=False)
        return line

    return read_plain


def _plain(note: str) -> str:
    return note.replace("`", "")


def _markup(note: str) -> str:
    """Notes mark commands with backticks; show them bold."""
    parts = escape(note).split("`")
    return "".join(f"[bold]{p}[/]" if i % 2 else p for i, p in enumerate(parts))
