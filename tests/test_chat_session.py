"""The chat loop over the real agent (tiny experts, real memory): turns, follow-ups, bad input."""

import os
import re
import signal
import threading
import time

import pytest
from rich.console import Console

from reason4rec.chat import session as chat_session
from reason4rec.chat.session import Chat
from reason4rec.chat.view import TurnView
from reason4rec.memory.store import UnknownEntityError


class _Borrowed:
    """The session-wide agent, lent to one chat (the chat closes what it opened: not this one)."""

    def __init__(self, agent) -> None:
        self._agent = agent

    def close(self) -> None:
        return None

    def __getattr__(self, name):
        return getattr(self._agent, name)


@pytest.fixture
def open_chat(agent, agent_config):
    def make(user=None, thread=None, verbose=False):
        console = Console(width=80, record=True, force_terminal=False)
        chat = Chat(agent_config, console, user=user, thread=thread, verbose=verbose,
                    opener=lambda config, status=None: _Borrowed(agent))
        return chat, console

    return make


@pytest.fixture
def regular(agent, regular_user):
    """A user with several reviews in the small memory and items they never reviewed."""
    return regular_user


def test_a_scripted_conversation_streams_why_review_and_recommendation(open_chat, regular):
    user, (first, _second, *_) = regular
    chat, console = open_chat(user=user)
    chat.run_script([f"would I like {first}?", "what do I care about?", "recommend 2 things for home recording"])
    out = console.export_text(clear=False)
    assert out.count(f"{user} › ") == 3
    assert "Reasoner" in out and "Predictor" in out and "predicted " in out
    assert re.search(r"reason: \d+\.\d\d s", out) and "0.0" in out
    assert f"{first}" in out and ("should suit" in out or "might suit" in out or "unlikely to suit" in out)
    assert f"{user} (" in out and "reviews)" in out
    assert "Top 2 for" in out and "home recording" in out
    assert not re.search(r"\x1b\[", out)


def test_a_review_updates_the_memory_and_the_catalog(open_chat, agent, regular):
    _, items = regular
    chat, console = open_chat(user="CHATREVIEWER1")
    chat.run_script([f"I just bought {items[-1]}, 4 stars: bright tone but the clip broke"])
    assert "Saved: review of" in console.export_text(clear=False)
    stored = agent.context.memory.store.user_reviews("CHATREVIEWER1")
    assert [(r.item_id, r.rating, r.text) for r in stored] == [(items[-1], 4.0, "bright tone but the clip broke")]
    assert chat.catalog.has_user("CHATREVIEWER1")
    chat.run_script(["what do I care about?"])
    assert "CHATREVIEWER1 (1 reviews)" in console.export_text(clear=False)


def test_a_review_of_a_near_id_waits_for_yes_or_new(open_chat, agent, regular):
    _, items = regular
    near = items[-1][:-1] + ("X" if items[-1][-1] != "X" else "Y")
    chat, console = open_chat(user="CHATREVIEWER2")
    chat.run_script([f"/review {near} 5 a brand new cable"])
    assert "did you mean" in console.export_text(clear=False)
    store = agent.context.memory.store
    with pytest.raises(UnknownEntityError):  # nothing written on a guess
        store.user_reviews("CHATREVIEWER2")
    chat.run_script(["new"])
    assert [(r.item_id, r.rating) for r in store.user_reviews("CHATREVIEWER2")] == [(near, 5.0)]
    typo = items[0][:-1] + ("Z" if items[0][-1] != "Z" else "Q")
    guess = chat.catalog.find_item(typo)
    assert guess is not None and not guess.exact
    chat.run_script([f"/review {typo} 4 another one", "yes"])
    assert sorted((r.item_id, r.rating) for r in store.user_reviews("CHATREVIEWER2")) == sorted(
        [(near, 5.0), (guess.item_id, 4.0)])


def test_unsure_about_an_item_it_asks_and_a_number_answers(open_chat, regular, monkeypatch):
    monkeypatch.setattr("reason4rec.agent.nodes.AMBIGUITY_MARGIN", 1.0)  # every description is ambiguous
    user, _ = regular
    chat, console = open_chat(user=user)
    chat.run_script(["why would a cable for my guitar suit me?"])  # a description, not a label: searched
    out = console.export_text(clear=False)
    assert "could mean several items" in out and "Which one?" in out
    picked = chat._choices[2][0]
    chat.run_script(["1"])
    assert ("Predictor" in console.export_text(clear=False)[len(out):]
            and picked in console.export_text(clear=False)[len(out):])


def test_a_bare_item_is_offered_and_yes_runs_it(open_chat, regular):
    user, (first, *_) = regular
    chat, console = open_chat(user=user)
    chat.run_script([first])
    assert "do you want to know why" in console.export_text(clear=False)
    chat.run_script(["yes"])
    assert "predicted " in console.export_text(clear=False)


@pytest.mark.parametrize("line, says", [
    ("", None),
    ("zzkq blorp", "did not get that"),
    ("would I like ZZZZ999999?", "unknown item 'ZZZZ999999'"),
    ("x" * 5000, "the chat takes up to 4,000"),
    ("\x1b[2J\x00\x07", None),
    ("/nonsense", "unknown command"),
])
def test_bad_input_gets_a_friendly_line_and_the_chat_goes_on(open_chat, regular, line, says):
    user, (_first, *_) = regular
    chat, console = open_chat(user=user)
    assert chat.handle(line) is True
    out = console.export_text(clear=False)
    assert "Traceback" not in out
    if says:
        assert says in out
    else:
        assert out == ""
    assert chat.handle("/profile") is True and "reviews)" in console.export_text(clear=False)


def test_unknown_and_missing_users_are_asked_for(open_chat, regular):
    chat, console = open_chat(user=None)
    chat.run_script(["what do I care about?", "/user NOBODY1234", "what do I care about?"])
    out = console.export_text(clear=False)
    assert "who are you?" in out and "has no reviews yet" in out and "unknown user 'NOBODY1234'" in out


def test_ctrl_c_cancels_the_deliberation_and_the_chat_goes_on(open_chat, regular, monkeypatch):
    user, (first, *_) = regular
    chat, console = open_chat(user=user)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup
    original = TurnView.__call__
    sent = []

    def interrupt_at_first_token(self, event):
        original(self, event)
        if event["type"] == "token" and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    monkeypatch.setattr(TurnView, "__call__", interrupt_at_first_token)
    state = chat.turn("explain", {"item_id": first})
    assert sent and "cancelled" in (state.get("error") or "")
    assert state.get("rating") is None  # the Predictor never ran
    out = console.export_text(clear=False)
    assert "cancelling" in out and "cancelled" in out and "Traceback" not in out
    monkeypatch.setattr(TurnView, "__call__", original)
    assert signal.getsignal(signal.SIGINT) == before  # handler restored
    after = chat.turn("explain", {"item_id": first})
    assert after["error"] is None and after["rating"]["expected"] >= 1


class _Warming(_Borrowed):
    """The session agent, with a slow warm-up that records when it runs, and turns that record
    whether a warm-up was still running when they began."""

    def __init__(self, agent, fail_for: str | None = None) -> None:
        super().__init__(agent)
        self.events: list[tuple[str, str]] = []
        self.fail_for = fail_for
        self._running = threading.Event()

    def warm(self, user_id: str) -> bool:
        self._running.set()
        self.events.append(("warm", user_id))
        time.sleep(0.3)  # a person types; a turn must not start meanwhile
        self.events.append(("warmed", user_id))
        self._running.clear()
        if user_id == self.fail_for:
            raise RuntimeError("the engine went away")
        return True

    def turn(self, *args, **fields):
        self.events.append(("turn during a warm-up" if self._running.is_set() else "turn", fields["user_id"]))
        return self._agent.turn(*args, **fields)


def test_the_chat_warms_a_users_prompt_and_a_turn_waits_for_it(agent_config, agent, regular):
    user, (first, *_) = regular
    other = next(u for u in agent.memory.user_ids() if u != user)
    warming = _Warming(agent, fail_for=other)
    console = Console(width=80, record=True, force_terminal=False)
    chat = Chat(agent_config, console, user=user, opener=lambda config, status=None: warming)
    chat.run_script([f"would I like {first}?", f"/user {other}", f"/user {user}", "what do I care about?"])
    assert warming.events[:3] == [("warm", user), ("warmed", user), ("turn", user)]
    assert ("warm", other) in warming.events and ("warmed", other) in warming.events  # it failed: no harm
    assert warming.events[-3:] == [("warm", user), ("warmed", user), ("turn", user)]
    assert not any(kind == "turn during a warm-up" for kind, _ in warming.events)
    assert "Traceback" not in console.export_text(clear=False) and "went away" not in console.export_text()


def test_the_thread_remembers_the_user(open_chat, regular):
    user, _ = regular
    chat, _ = open_chat(user=user, thread="chat-thread-1")
    chat.run_script(["what do I care about?"])
    resumed, console = open_chat(thread="chat-thread-1")
    assert resumed.open() and resumed.user == user
    assert "resumed thread chat-thread-1" in console.export_text(clear=False)


def test_a_locked_memory_is_a_friendly_line_and_the_chat_goes_on(agent_config, agent):
    """The session agent holds agent_config's memory: a second opener meets the real lock."""
    console = Console(width=80, record=True, force_terminal=False)
    chat = Chat(agent_config, console, user="anyone")
    try:
        assert chat.open() is False
        assert chat.handle("what do I care about?") is True  # tries again, says so again
        assert chat.handle("/help") is True
    finally:
        chat.close()
    out = " ".join(console.export_text(clear=False).split())
    assert out.count(f"in use by process {os.getpid()}") == 2 and "The chat goes on" in out
    assert "/recommend [K] [NEED]" in out and "Traceback" not in out


def test_help_fits_80_columns():
    console = Console(width=80, record=True, color_system=None)
    console.print(chat_session.help_table())
    lines = console.export_text(clear=False).splitlines()
    assert max(len(line) for line in lines) <= 80 and any("/review ITEM STARS TEXT" in line for line in lines)


def test_verbose_mode_shows_the_summaries_used(open_chat, regular):
    user, (first, *_) = regular
    chat, console = open_chat(user=user)
    chat.run_script(["/verbose", f"/rate {first}"])
    out = console.export_text(clear=False)
    assert "verbose mode" in out and "user_history" in out and "item_history" in out
