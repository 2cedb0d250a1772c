"""One process owns an embedded Chroma folder: an exclusive OS lock, with a message that says who.

Two processes writing one ``PersistentClient`` folder corrupt it silently (measured: most vectors
unreadable afterwards), so the folder is locked for as long as a process has it open. The lock is
``flock``-based (``filelock``): the kernel drops it when its holder dies, even by ``kill -9``, so
a crash never leaves a stale lock behind. A second process waits up to ``timeout_s`` (a queue)
and then gets :class:`MemoryLockedError` naming the holder's pid and command.

Example:
    >>> with FolderLock(Path("memory/chroma"), timeout_s=0):   # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import Reason4RecError

LOCK_FILE = ".reason4rec.lock"
OWNER_FILE = ".reason4rec.owner"


_SECRET_OPTION = re.compile(r"^--?[\w-]*(key|token|password|secret)[\w-]*$", re.I)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_COMMAND_CHARS = 200


def holder_command(argv: Sequence[str]) -> str:
    """The holder's whole command line as a person would retype it (``reason4rec chat --user A1``):
    the program's name without its path, arguments quoted, values of key/token/password options
    hidden, control characters dropped (it is shown on a terminal), cut to 200 characters."""
    words, hide = [], False
    for position, word in enumerate(argv):
        if position == 0:
            shown = os.path.basename(word)
            shown = "reason4rec" if shown in ("__main__.py", "-c") else shown  # python -m reason4rec
        elif hide:
            shown = "***"
        elif "=" in word and _SECRET_OPTION.match(word.split("=", 1)[0]):
            shown = word.split("=", 1)[0] + "=***"
        else:
            shown = word
        hide = bool(_SECRET_OPTION.match(word))
        shown = _UNPRINTABLE.sub("", shown)
        words.append(shown if "***" in shown else shlex.quote(shown))
    line = " ".join(words)
    return line if len(line) <= MAX_COMMAND_CHARS else line[:MAX_COMMAND_CHARS - 3] + "..."


class MemoryLockedError(Reason4RecError, RuntimeError):
    """Another process has the embedded memory folder open."""


def holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its owner file says: ``process 4242 (reason4rec chat --user
    A1)``, or ``another process`` when the file is gone or unreadable."""
    try:
        owner = json.loads((Path(folder) / OWNER_FILE).read_text())
        return f"process {owner['pid']} ({owner.get('command') or 'reason4rec'})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class FolderLock:
    """An exclusive, crash-safe lock on a folder, held until :meth:`release`."""

    def __init__(self, folder: Path, timeout_s: float = 0.0) -> None:
        self.folder = Path(folder)
        self.timeout_s = timeout_s
        self._lock = FileLock(str(self.folder / LOCK_FILE), timeout=timeout_s, thread_local=False)

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.timeout_s, poll_interval=0.1)
        except Timeout:
            raise MemoryLockedError(self._message()) from None
        owner = {"pid": os.getpid(), "since": time.time(), "command": holder_command(sys.argv)}
        (self.folder / OWNER_FILE).write_text(json.dumps(owner))
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            (self.folder / OWNER_FILE).unlink(missing_ok=True)
            self._lock.release(force=True)

    def moved_to(self, folder: Path) -> None:
        """The locked folder was renamed to ``folder`` (still locked: the lock is on the file, which
        moved with it); release then tidies up there, not in whatever now has the old name."""
        self.folder = Path(folder)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def _message(self) -> str:
        who = holder(self.folder)
        waited = f" after waiting {self.timeout_s:g} s" if self.timeout_s else ""
        return (f"the memory folder {self.folder} is in use by {who}{waited}. One process at a time may "
                "open an embedded memory: close the other one, wait for it (memory.lock_timeout_s), "
                "or run a Chroma server (`chroma run --path FOLDER`) and set memory.chroma_url")

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
