"""How a review file's lines become records, whatever holds them.

* **JSON lines**: every Amazon release since 2014 and our own file, one object per line;
* **SNAP's text blocks**: the 2013 Amazon dumps (``Musical_Instruments.txt.gz``) and the Fine Food
  reviews' ``foods.txt``: ``product/productId: B001E4KFG0`` lines, a blank line between reviews;
* **tables with a header row**: tab-separated (Amazon's Customer Reviews Dataset,
  ``amazon_reviews_us_<Category>_v1_00.tsv.gz``) or comma-separated (Kaggle's ``Reviews.csv`` of the
  Fine Food reviews).

The kind is read from the file's first non-blank line, never from its name. Each record comes with
the number of the line it starts on, or with the error that line raised instead, so a bad file is
reported line by line (:mod:`.loaders` decides what a bad line means).

Example:
    >>> container("product/productId: B001E4KFG0")
    'snap-blocks'
    >>> container("marketplace\\tcustomer_id\\treview_id\\tproduct_id")
    'tsv'
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from .record_formats import RecordError, TextRecord
from .reviews import DataError, LoadReport

Container = Literal["json-lines", "snap-blocks", "tsv", "csv"]
NumberedRecord = tuple[int, Any]
"""(the line a record starts on, the parsed record or the exception its line raised)."""

_FIELD_LIMIT = 2**31 - 1
"""csv's default field limit (128 KiB) refuses a long review; the file's own size is the limit."""


def container(first_line: str) -> Container:
    """What holds a file's records, from its first non-blank line."""
    stripped = first_line.lstrip("\ufeff").strip()
    if stripped.startswith(("{", "[")):  # "[": a JSON array, refused by name
        return "json-lines"
    if stripped.startswith(("product/", "review/")):
        return "snap-blocks"
    return "tsv" if "\t" in stripped else "csv"


def review_records(path: Path, kept_truncated: LoadReport | None) -> Iterator[NumberedRecord]:
    """Every record of a review file with the line it starts on (or the error it raised)."""
    lines = numbered_lines(path, "review", kept_truncated)
    for first_no, first in lines:  # noqa: B007  (the loop finds the first non-blank line)
        if first.strip():
            break
    else:
        return
    rest = itertools.chain([(first_no, first)], lines)
    kind = container(first)
    if kind == "json-lines" and _opens_an_array_of_objects(first):
        raise DataError(f"{path}: one JSON array, not JSON lines (one review per line); convert it, e.g. "
                        f"jq -c '.[]' {path.name} > {path.stem}.jsonl")
    if kind == "json-lines":
        yield from _json_lines(rest)
    elif kind == "snap-blocks":
        yield from _snap_blocks(rest)
    else:
        yield from _table(path, rest, first_no, delimiter="\t" if kind == "tsv" else ",")


def _opens_an_array_of_objects(line: str) -> bool:
    """``[`` alone or ``[{``: a file that is one JSON array of reviews (``pandas.to_json``'s default),
    not a bad first line such as ``[1, 2]``."""
    stripped = line.lstrip("\ufeff").strip()
    return stripped == "[" or stripped.replace(" ", "").startswith("[{")


def _json_lines(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRecord]:
    for line_no, line in lines:
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:  # RecursionError: [[[[... nested
            yield line_no, err


def _snap_blocks(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRecord]:
    """``key: value`` lines, a blank line closing each review."""
    block = TextRecord()
    start, problem = 0, None
    for line_no, line in itertools.chain(lines, [(0, "")]):
        text = line.rstrip("\r\n")
        if not text.strip():
            if block or problem:
                yield start, problem or block
            block, problem = TextRecord(), None
            continue
        if not block and problem is None:
            start = line_no
        key, colon, value = text.partition(":")
        if not colon or "/" not in key:
            problem = problem or RecordError(f"line {line_no} is not a 'product/...: value' or "
                                             "'review/...: value' line")
            continue
        block[key.strip()] = value.strip()


def _table(path: Path, lines: Iterable[tuple[int, str]], header_line: int, *,
           delimiter: str) -> Iterator[NumberedRecord]:
    """Rows of a table under its header row; a row whose field count differs is an error."""
    csv.field_size_limit(_FIELD_LIMIT)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL  # Amazon's TSV quotes nothing
    reader = csv.reader((line for _, line in lines), delimiter=delimiter, quoting=quoting, strict=False)
    try:
        header = [name.lstrip("\ufeff").strip() for name in next(reader)]
    except csv.Error as err:
        raise DataError(f"{path}:{header_line}: cannot read the header row ({err})") from err
    offset, done = header_line - 1, header_line
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield offset + reader.line_num, RecordError(f"not a table row ({err})")
            done = offset + reader.line_num
            continue
        start, done = done + 1, offset + reader.line_num
        if not row or not any(field.strip() for field in row):
            continue
        if len(row) != len(header):
            yield start, RecordError(f"{len(row)} fields where the header row has {len(header)}")
            continue
        yield start, TextRecord(zip(header, row, strict=True))


def require_file(path: Path, kind: str) -> None:
    if not path.is_file():
        raise DataError(f"{kind} file not found: {path}")


def numbered_lines(path: Path, kind: str, kept_truncated: LoadReport | None = None) -> Iterator[tuple[int, str]]:
    """The file's lines, gunzipped when needed. A truncated gzip (an interrupted download) is
    refused unless ``kept_truncated`` is given: then its complete lines are read and counted."""
    require_file(path, kind)
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    complete = 0
    try:
        with opener(path, "rb") as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8", errors="strict")
            for complete, line in enumerate(text, start=1):
                yield complete, line
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); convert it first, "
                        f"e.g. iconv -f latin1 -t utf-8") from err
    except EOFError as err:
        if kept_truncated is None:
            raise DataError(
                f"{path}: cannot read to the end: the gzip file is truncated (an interrupted "
                f"download?); {complete:,} complete line(s) were read before the cut. Download it "
                "again, or pass --allow-truncated (config: data.allow_truncated = true) to use them"
            ) from err
        kept_truncated.truncated[str(path)] = complete
    except zlib.error as err:  # a damaged deflate stream (a CRC mismatch is an OSError)
        raise DataError(f"{path}: the gzip data is damaged after {complete:,} complete line(s) ({err}); "
                        "download it again") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err})") from err
