"""`reason4rec chat` as a person uses it: a real process in a real terminal (tmux), keys sent,
the screen read back; and the same chat over a pipe, where it must be plain text."""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

FIRST_TURN_S = 300
"""A first turn also summarizes the reviews the memory has no current summary for: seconds on an
idle machine, minutes on a loaded one (it failed at 120 s beside a training run and a test suite)."""

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (.ci/run installs it)")


@pytest.fixture
def chat_config(agent_config, small_dataset, regular_user, write_config, tmp_path):
    """A memory of 25 items of its own (the session agent holds the other's lock), one reason per
    forward and 20 candidates, so that a recommendation deliberates long enough to interrupt."""
    from reason4rec.config import MemoryConfig
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    config = agent_config.model_copy(update={
        "memory": MemoryConfig(store_path=tmp_path / "reviews.sqlite", chroma_path=tmp_path / "chroma"),
        "agent": agent_config.agent.model_copy(update={"checkpoint_path": tmp_path / "checkpoints.sqlite",
                                                       "candidates": 20, "batch_size": 1})})
    with Memory.open(config) as memory:
        memory.build(small_dataset, summarizer=None, bulk=LexiconSummarizer())
    user, (item, *_) = regular_user
    return write_config(config, tmp_path / "chat.toml"), user, item


class Terminal:
    """A tmux pane of 80x30 running one command."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.name = f"r4r-{uuid.uuid4().hex[:8]}"
        line = " ".join(_quote(part) for part in command) + '; echo "[exit $?]"; sleep 60'
        exports = " ".join(f"{key}={_quote(value)}" for key, value in env.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "30",
                        f"env {exports} bash -c {_quote(line)}"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True,
                              text=True, check=True).stdout

    def history(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-2000", "-t", self.name],
                              capture_output=True, text=True, check=True).stdout

    def send(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        self.send("-l", text)
        self.send("Enter")

    def wait_for(self, pattern: str, timeout: float = 120.0, *, whole: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.history() if whole else self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} did not appear within {timeout} s; the screen:\n{self.history()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _env(**extra: str) -> dict[str, str]:
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "PYTHONPATH") if key in os.environ}
    return {**keep, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TERM": "xterm-256color",
            "LC_ALL": "C.UTF-8", **extra}


def _chat(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "reason4rec", "chat", "--config", str(config), *args]


def test_chat_in_a_terminal_streams_cancels_and_resumes(chat_config):
    config, user, item = chat_config
    terminal = Terminal(_chat(config, "--user", user), _env())
    try:
        terminal.wait_for(f"{user} ›", timeout=180)
        terminal.type(f"would I like {item}?")
        # the answer, then its evidence (which may scroll the prediction out of the 30 rows)
        screen = terminal.wait_for(r"predicted \d\.\d\d / 5", timeout=FIRST_TURN_S, whole=True)
        terminal.wait_for(rf"{user} ›\s*$", timeout=30)
        screen = terminal.history()
        # the live region has given way to one still record of the steps, then the answer
        for step in ("resolve", "recall", "reason", "predict"):
            assert len(re.findall(rf"✓ {step} [\d.]+ s", screen)) == 1, screen
        assert "5★" in screen and ("suit" in screen)

        # Ctrl-C while the Reasoner works through 20 candidates: the turn stops, the chat stays
        terminal.type("recommend 20 things")
        terminal.wait_for(r"finding and weighing candidates\s+\d", timeout=60)
        terminal.wait_for(r"\n  \S+: \S", timeout=60)  # a candidate's reason is being written
        terminal.send("C-c")
        terminal.wait_for(r"cancelled", timeout=30)
        terminal.wait_for(rf"{user} ›\s*$", timeout=30)
        assert "Top " not in terminal.history().split("recommend 20 things")[-1]
        assert "Traceback" not in terminal.history()

        # the chat goes on; Ctrl-C at the prompt only clears the line
        terminal.send("-l", "half a line")
        terminal.send("C-c")
        terminal.type("/profile")
        terminal.wait_for(r"reviews\)", timeout=60)
        terminal.type("/thread")
        thread = re.search(r"thread (\w+): resume with", terminal.wait_for(r"thread \w+: resume with")).group(1)
        terminal.send("C-d")
        terminal.wait_for(r"\[exit 0\]", timeout=60)
    finally:
        terminal.close()

    resumed = Terminal(_chat(config, "--thread", thread), _env())
    try:
        screen = resumed.wait_for(f"{user} ›", timeout=180)  # who you are came back with the thread
        assert f"resumed thread {thread}" in screen
        resumed.type("/quit")
        resumed.wait_for(r"\[exit 0\]", timeout=60)
    finally:
        resumed.close()


def test_no_color_in_a_terminal_is_plain_text(chat_config):
    config, user, item = chat_config
    terminal = Terminal(_chat(config, "--user", user), _env(NO_COLOR="1"))
    try:
        terminal.wait_for(f"{user} ›", timeout=180)
        terminal.type(f"/rate {item}")
        screen = terminal.wait_for(r"predict: [\d.]+ s", timeout=FIRST_TURN_S)
        assert "Predictor ..." in screen and "✓" not in screen  # the plain printer, not the live region
        terminal.type("/quit")
        terminal.wait_for(r"\[exit 0\]", timeout=60)
    finally:
        terminal.close()


def test_chat_over_a_pipe_is_plain_text_and_ends_at_end_of_input(chat_config):
    config, user, item = chat_config
    typed_escapes = "\x1b[2J\x1b]0;pwned\x07blorp zzk"  # a clear-screen and a window title, typed (issue 38)
    lines = ["", typed_escapes, f"would I like {item}?", f"/review {item} 6 too many stars", "what do I care about?"]
    result = subprocess.run(_chat(config, "--user", user), input="\n".join(lines) + "\n", capture_output=True,
                            text=True, timeout=600, env={**os.environ, **_env()})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "\x07" not in out and "Traceback" not in out + result.stderr
    assert "blorp zzk" in out and "pwned" not in out  # the echo keeps the words, not the sequences
    assert "did not get that" in out and "predicted " in out and "reason: " in out
    assert "usage: /review ITEM STARS TEXT" in out and "reviews)" in out
    assert "bye" in out and "resume: reason4rec chat --thread" in out
