"""An evaluation's folder: what it scores (``run.json``) and every target scored so far.

Predictions are appended to ``predictions.jsonl`` and fsynced as each batch of targets finishes,
so a killed evaluation loses at most the batch in flight: the same command continues it. It
continues only the *same* evaluation: ``run.json`` holds the key (split, targets, adapters,
backend, data) and a folder with another key, another format or a damaged file is refused in one
line. A torn last line (the process died mid-write) is the one thing repaired silently-but-said:
it is cut off and that target is scored again.

Example:
    >>> run = EvalRun.open(Path("out"), {"split": "temporal"}, say=print)       # doctest: +SKIP
    >>> run.append([{"review_id": "r1", "true": 5.0}]); sorted(run.done)         # doctest: +SKIP
    ['r1']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import Reason4RecError
from ..experts import SummaryCache

RUN_FORMAT = 2
"""Bumped when the files' layout changes; a folder of another format is not continued."""
MANIFEST, PREDICTIONS, SUMMARIES = "run.json", "predictions.jsonl", "summaries.jsonl"
OUTPUTS = (MANIFEST, PREDICTIONS, SUMMARIES, "results.json", "ratings.png")


class EvalRunError(Reason4RecError):
    """A results folder that cannot be continued; the message says why and what to do."""


def run_id(key: Mapping[str, Any]) -> str:
    """A short stable name for an evaluation key (the default folder name uses it)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


class EvalRun:
    """The folder of one evaluation; ``done`` maps review ids to their saved records."""

    def __init__(self, folder: Path, key: Mapping[str, Any], done: dict[str, dict[str, Any]]) -> None:
        self.folder, self.key, self.done = folder, dict(key), done

    @classmethod
    def open(cls, folder: Path, key: Mapping[str, Any], restart: bool = False,
             say: Callable[[str], None] = lambda message: None,
             check: Callable[[dict[str, Any]], str | None] | None = None) -> EvalRun:
        """Open (or start) ``folder`` for the evaluation ``key``.

        ``check`` names what is wrong with a saved record of the right syntax but the wrong shape
        (a field missing or of another type), or returns None: such a line is damage, refused in
        one line like garbage, not a traceback later.
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise EvalRunError(f"results folder {folder} is a file; give --out a folder")
        if restart:
            for name in OUTPUTS:
                (folder / name).unlink(missing_ok=True)
        manifest = folder / MANIFEST
        if manifest.exists():
            _check_manifest(manifest, key)
        elif (folder / PREDICTIONS).exists():
            raise EvalRunError(f"results folder {folder} has predictions but no {MANIFEST}: it is "
                               "damaged or not ours; use another --out, or --restart to begin again")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(manifest, json.dumps({"format": RUN_FORMAT, "key": dict(key)}, indent=2))
        return cls(folder, key, _read_predictions(folder / PREDICTIONS, say, check))

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Save records durably (written and fsynced when this returns)."""
        records = list(records)
        if not records:
            return
        with (self.folder / PREDICTIONS).open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        for record in records:
            self.done[record["review_id"]] = dict(record)

    @property
    def summaries(self) -> Path:
        """The history summaries this run made or used (summary-cache format): a copy of the run
        that travels to another machine continues without summarizing them again."""
        return self.folder / SUMMARIES

    def keep_summaries(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Append (review_id, version, summary) rows not kept yet, fsynced (the summary cache's own
        append, which also ends a killed writer's torn line before the next row)."""
        kept = self._kept_summaries()
        fresh = [row for row in rows if kept.get(row[0], row[1]) is None]
        kept.put_many(fresh)

    def _kept_summaries(self) -> SummaryCache:
        if not hasattr(self, "_kept"):
            self._kept = SummaryCache(self.summaries)  # a torn line is skipped: that summary is kept again
        return self._kept


def _check_manifest(manifest: Path, key: Mapping[str, Any]) -> None:
    folder = manifest.parent
    try:
        saved = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EvalRunError(f"results folder {folder} is damaged ({MANIFEST} unreadable: "
                           f"{type(error).__name__}); use --restart to begin again") from None
    if not isinstance(saved, dict) or saved.get("format") != RUN_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else None
        raise EvalRunError(f"results folder {folder} is from another version of reason4rec (format "
                           f"{found}, this one writes {RUN_FORMAT}); use another --out or --restart")
    theirs = saved.get("key", {})
    if theirs != dict(key):
        differing = sorted(k for k in set(theirs) | set(key) if theirs.get(k) != key.get(k))
        first = differing[0]
        raise EvalRunError(
            f"results folder {folder} holds another evaluation ({first}: {_short(theirs.get(first))} "
            f"there, {_short(key.get(first))} here); use another --out, or --restart to replace it")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_predictions(path: Path, say: Callable[[str], None],
                      check: Callable[[dict[str, Any]], str | None] | None) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    data = path.read_bytes()
    lines = data.split(b"\n")
    done: dict[str, dict[str, Any]] = {}
    good_bytes = 0
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        if not line:
            if not last:
                good_bytes += 1
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("review_id"), str):
                raise ValueError("not a prediction record")
        except (ValueError, UnicodeDecodeError):
            if last or (number == len(lines) - 1 and not lines[-1]):
                say(f"{path.name}: dropped a half-written last line; that target is scored again")
                with path.open("r+b") as handle:
                    handle.truncate(good_bytes)
                break
            raise EvalRunError(f"{path} is damaged at line {number} (not a prediction record); "
                               "use --restart to begin again") from None
        problem = check(record) if check is not None else None
        if problem:  # whole JSON of the wrong shape: not a torn write, so never silently cut
            raise EvalRunError(f"{path} is damaged at line {number} ({problem}); use --restart to begin again")
        if last:  # a complete record without its newline: keep it, finish the line
            with path.open("ab") as handle:
                handle.write(b"\n")
        done[record["review_id"]] = record
        good_bytes += len(line) + 1
    return done


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
