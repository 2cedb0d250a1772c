"""Progress a person can see anywhere: plain lines when the output is not a terminal.

Rich's bars redraw one line in place; on a pipe or a log file they draw nothing until the end, so
a long step (summarizing thousands of history reviews for an evaluation) looks hung for many
minutes. :class:`ProgressLines` is the same ``factory(label) -> update(done, total)`` interface as
:func:`reason4rec.training.reports.progress_bars`, printing one plain line per task: when the task
starts, at least every :data:`EVERY_S` seconds while it runs (a background ticker prints even when
no step finishes in that time), and when it ends, each with done / total, the rate and the time
left::

    summaries: 1,200 / 10,261 (11.7%), 25.3/s, 6m 58s left, 47s so far

Example:
    >>> import io
    >>> from rich.console import Console
    >>> now = [0.0]
    >>> out = io.StringIO()
    >>> with ProgressLines(Console(file=out, width=120), clock=lambda: now[0], ticker=False) as bars:
    ...     update = bars("items")
    ...     update(0, 100)
    ...     now[0] = 40.0
    ...     update(50, 100)
    >>> print(out.getvalue().strip())
    items: 0 / 100 (0.0%), starting
    items: 50 / 100 (50.0%), 1.2/s, 40s left, 40s so far
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

EVERY_S = 30.0
"""Longest quiet time between two lines of a running task."""

Update = Callable[[int, int], None]


@dataclass
class _Task:
    label: str
    done: int = 0
    total: int | None = None
    started: float | None = None
    start_done: int = 0
    last_line: float | None = None
    last_shown: tuple[int, int | None] | None = None
    finished: bool = False


class ProgressLines:
    """A progress-bar factory that prints plain lines (see the module's docstring).

    Args:
        console: Where the lines go (``console.print``, no markup).
        every_s: Longest quiet time between two lines of a running task.
        clock: Seconds, monotonic (a test passes a fake one).
        ticker: Run a background thread that prints a running task's line when no update came
            for ``every_s`` (a step slower than that would otherwise stay silent).
    """

    def __init__(self, console: Console, *, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic,
                 ticker: bool = True) -> None:
        self.console, self.every_s, self.clock = console, every_s, clock
        self._tasks: list[_Task] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick_loop, name="progress-lines", daemon=True) \
            if ticker else None

    def __enter__(self) -> ProgressLines:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for task in self._tasks:  # an interrupted task says where it stopped
                if task.started is not None and not task.finished and task.last_shown != (task.done, task.total):
                    self._print(task, self.clock())

    def __call__(self, label: str) -> Update:
        task = _Task(label)
        with self._lock:
            self._tasks.append(task)

        def update(done: int, total: int | None) -> None:
            self.update(task, done, total)

        return update

    def update(self, task: _Task, done: int, total: int | None) -> None:
        now = self.clock()
        with self._lock:
            task.done, task.total = done, total or None
            if task.started is None:
                task.started, task.start_done = now, done
                task.finished = task.total is not None and done >= task.total  # all done before it began
                self._print(task, now)
                return
            if task.total is not None and done >= task.total:
                if not task.finished:
                    task.finished = True
                    self._print(task, now)
                return
            task.finished = False
            if self._quiet(task, now):
                self._print(task, now)

    def tick(self) -> None:
        """Print the line of each running task that has been quiet for ``every_s`` (the ticker
        calls this; a test may call it with a fake clock)."""
        now = self.clock()
        with self._lock:
            for task in self._tasks:
                if task.started is not None and not task.finished and self._quiet(task, now):
                    self._print(task, now)

    def _quiet(self, task: _Task, now: float) -> bool:
        return task.last_line is None or now - task.last_line >= self.every_s

    def _tick_loop(self) -> None:
        while not self._stop.wait(min(1.0, self.every_s / 4)):
            self.tick()

    def _print(self, task: _Task, now: float) -> None:
        task.last_line, task.last_shown = now, (task.done, task.total)
        started = now if task.started is None else task.started
        self.console.print(line(task.label, task.done, task.total, now - started,
                                task.done - task.start_done), markup=False, highlight=False, soft_wrap=True)


def line(label: str, done: int, total: int | None, elapsed: float, progressed: int | None = None) -> str:
    """One progress line: ``label: done / total (share), rate, time left, time so far``.

    ``progressed``: how much of ``done`` happened in ``elapsed`` (a resumed task starts above 0).
    """
    progressed = done if progressed is None else progressed
    count = f"{done:,} / {total:,} ({done / total:.1%})" if total else f"{done:,} done"
    if elapsed <= 0 or progressed <= 0:
        return f"{label}: {count}, " + ("done" if total and done >= total else "starting")
    rate = progressed / elapsed
    speed = f"{rate:,.1f}/s" if rate >= 0.1 else f"{elapsed / progressed:,.0f} s each"
    if total and done >= total:
        return f"{label}: {count}, {speed}, done in {duration(elapsed)}"
    left = f", {duration((total - done) / rate)} left" if total else ""
    return f"{label}: {count}, {speed}{left}, {duration(elapsed)} so far"


def duration(seconds: float) -> str:
    """``47s``, ``6m 58s``, ``2h 05m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
