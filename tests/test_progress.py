"""Progress a person can see anywhere (issue 37): plain lines when the output is not a terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from reason4rec.training.progress import ProgressLines, duration, line
from reason4rec.training.reports import progress_bars

LINE = re.compile(r"^(?P<label>[\w ]+): (?P<done>[\d,]+) / (?P<total>[\d,]+) \([\d.]+%\), (?P<rest>.*)$")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(out: io.StringIO) -> list[str]:
    return [text for text in out.getvalue().splitlines() if text.strip()]


def test_a_pipe_gets_a_line_at_the_start_at_most_every_30_s_and_at_the_end():
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, width=100)
    assert not console.is_terminal
    with ProgressLines(console, clock=clock, ticker=False) as bars:
        update = bars("summaries")
        update(0, 1000)
        assert _lines(out) == ["summaries: 0 / 1,000 (0.0%), starting"]
        for second in range(1, 100):  # one review every 0.1 s for ~10 s: no second line yet
            clock.now += 0.1
            update(second, 1000)
        assert len(_lines(out)) == 1
        clock.now += 25.0  # 34.9 s since the first line
        update(400, 1000)
        assert len(_lines(out)) == 2
        clock.now += 20.0  # 20 s since the last line: quiet
        update(600, 1000)
        assert len(_lines(out)) == 2
        clock.now += 10.0
        update(700, 1000)
        clock.now += 5.0
        update(1000, 1000)  # the end: a line at once
        update(1000, 1000)  # said once
    printed = _lines(out)
    assert len(printed) == 4
    second = LINE.match(printed[1])
    assert second and second["done"] == "400" and second["total"] == "1,000"
    assert second["rest"] == "11.5/s, 52s left, 35s so far"  # 400 in 34.9 s; 600 left at that rate
    third = LINE.match(printed[2])
    assert third and third["done"] == "700" and "left" in third["rest"]
    assert printed[3] == "summaries: 1,000 / 1,000 (100.0%), 14.3/s, done in 1m 10s"  # 69.9 s in all


def test_a_step_slower_than_30_s_is_still_heard_from():
    """The ticker prints a running task's line when no update came for 30 s (e.g. one slow batch)."""
    out, clock = io.StringIO(), Clock()
    lines = ProgressLines(Console(file=out, width=100), clock=clock, ticker=False)
    update = lines("history summaries")
    update(0, 3)
    clock.now += 29.0
    lines.tick()
    assert len(_lines(out)) == 1
    clock.now += 2.0
    lines.tick()
    assert _lines(out)[-1] == "history summaries: 0 / 3 (0.0%), starting"  # nothing done yet, but alive
    clock.now += 30.0
    update(1, 3)
    assert _lines(out)[-1] == "history summaries: 1 / 3 (33.3%), 61 s each, 2m 02s left, 1m 01s so far"


def test_a_task_done_before_it_began_is_said_once_not_every_30_s():
    """All cached (``update(n, n)`` first): one line, then silence, however long the run goes on."""
    out, clock = io.StringIO(), Clock()
    lines = ProgressLines(Console(file=out, width=100), clock=clock, ticker=False)
    lines("history summaries")(5395, 5395)
    for _ in range(5):
        clock.now += 31.0
        lines.tick()
    assert _lines(out) == ["history summaries: 5,395 / 5,395 (100.0%), done"]


def test_several_tasks_an_unknown_total_and_an_interrupted_task():
    out, clock = io.StringIO(), Clock()
    with ProgressLines(Console(file=out, width=100), clock=clock, ticker=False) as bars:
        first, second = bars("summaries"), bars("profiles")
        first(0, 0)  # total not known yet
        second(0, 10)
        clock.now += 40.0
        first(80, 0)
        second(4, 10)  # stopped here: the end says where
    assert _lines(out) == ["summaries: 0 done, starting", "profiles: 0 / 10 (0.0%), starting",
                           "summaries: 80 done, 2.0/s, 40s so far",
                           "profiles: 4 / 10 (40.0%), 0.1/s, 1m 00s left, 40s so far"]


def test_a_resumed_task_counts_its_rate_from_where_it_resumed():
    assert line("eval", 600, 1000, 100.0, progressed=100) == \
        "eval: 600 / 1,000 (60.0%), 1.0/s, 6m 40s left, 1m 40s so far"
    assert duration(7380) == "2h 03m" and duration(0.4) == "0s"


def test_progress_bars_print_lines_when_the_console_is_not_a_terminal():
    out = io.StringIO()
    with progress_bars(Console(file=out, width=100)) as bars:
        assert isinstance(bars, ProgressLines)
        update = bars("profiles")
        update(0, 2)
        update(2, 2)
    printed = _lines(out)
    assert printed[0] == "profiles: 0 / 2 (0.0%), starting" and printed[-1].startswith("profiles: 2 / 2 (100.0%), ")
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    with progress_bars(terminal) as bars:
        assert not isinstance(bars, ProgressLines)  # Rich's bars on a terminal
