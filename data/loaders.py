"""Review data: one validated record type and the loaders that produce it.

Two on-disk formats are read:

* the shipped JSON Lines file (``user_id, item_id, rating, timestamp, summary, review_text``), and
* McAuley's Amazon files, 2014 and 2018: ``reviews_<Category>_5.json(.gz)`` or
  ``<Category>_5.json.gz`` (JSON lines with ``reviewerID, asin, overall, unixReviewTime,
  reviewText, summary``) and ``meta_<Category>.json.gz``, whose lines are Python literals in 2014
  (parsed with :func:`ast.literal_eval`, never ``eval``) and JSON in 2018.

Every record is validated; a bad file is rejected with the path and line of each problem. Rows are
never dropped silently: duplicates of a (user, item) pair are an error unless the caller asks to
keep the latest, and then the count is reported in :attr:`ReviewDataset.dropped_duplicates`; what
the loader works around instead of refusing (McAuley reviews without text, a truncated gzip read on
request) is counted in :attr:`ReviewDataset.report`. Review text, summaries and item titles are
scraped HTML; they are cleaned once here (tags dropped, entities unescaped) so nothing downstream
sees ``&quot;`` or ``<br />``.

Example:
    >>> from reason4rec.data import load_shipped
    >>> dataset = load_shipped()
    >>> len(dataset), dataset.title("B0002E1G5C")
    (10261, 'B0002E1G5C')
"""

from __future__ import annotations

import ast
import gzip
import html
import io
import json
import math
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import DataConfig

from .reviews import (
    MAX_ID_LENGTH,
    MAX_REPORTED_PROBLEMS,
    SHIPPED_CATEGORY,
    SHIPPED_FILE,
    DataError,
    LoadReport,
    OnDuplicate,
    Review,
    ReviewDataset,
)

# --------------------------------------------------------------------------- loaders


def shipped_path() -> Path:
    """Where the shipped Musical Instruments 5-core file lives inside the installed package."""
    return Path(str(resources.files("reason4rec.data").joinpath("datasets", SHIPPED_FILE)))


def load_shipped() -> ReviewDataset:
    """The shipped Amazon Musical Instruments 5-core reviews (10,261 reviews; no item titles)."""
    return load_reviews(shipped_path(), category=SHIPPED_CATEGORY)


def load_reviews(
    path: str | Path,
    meta_path: str | Path | None = None,
    *,
    category: str | None = None,
    on_duplicate: OnDuplicate = "error",
    allow_truncated: bool = False,
) -> ReviewDataset:
    """Load and validate a review file, the shipped format or McAuley's, gzipped or not.

    Args:
        path: JSON lines, one review per line.
        meta_path: Optional McAuley metadata file giving item titles; read first, so a bad one is
            reported before the (slow) review file is.
        category: Product category shown in prompts; else guessed from a McAuley file name
            (``reviews_<Cat>_5`` or ``<Cat>_5``).
        on_duplicate: ``"error"`` rejects a second review of the same (user, item);
            ``"keep-latest"`` keeps the later one in time order and counts the dropped ones.
        allow_truncated: Read the complete lines of a truncated gzip (counted in the report)
            instead of refusing it.

    Raises:
        DataError: naming the file and the line of each problem found.
    """
    path = Path(path)
    _require_file(path, "review")
    report = LoadReport()
    kept_truncated = report if allow_truncated else None
    titles = _load_titles(Path(meta_path), kept_truncated) if meta_path is not None else {}
    reviews, duplicates = _read_reviews(path, report, kept_truncated)
    dropped = 0
    if duplicates:
        if on_duplicate == "error":
            first, second = duplicates[0]
            raise DataError(
                f"{path}: {len(duplicates)} duplicate (user, item) review(s), first at lines "
                f"{first} and {second}; pass --on-duplicate keep-latest (config: "
                'data.on_duplicate = "keep-latest") to keep the later one'
            )
        reviews, dropped = _keep_latest(reviews)
    return ReviewDataset(
        reviews=reviews,
        item_titles=titles,
        source=str(path),
        category=category or _category_from_name(path) or "Products",
        dropped_duplicates=dropped,
        report=report,
    )


def load_item_titles(path: str | Path, *, allow_truncated: bool = False) -> dict[str, str]:
    """Item titles from a McAuley ``meta_*.json(.gz)`` file (Python-literal or JSON lines).

    Lines without a title are skipped on purpose (most metadata lines lack one); a line that is not
    a literal dict with an ``asin`` is an error naming the line.
    """
    return _load_titles(Path(path), LoadReport() if allow_truncated else None)


# --------------------------------------------------------------------------- helpers


class _RecordError(ValueError):
    pass


def _read_reviews(
    path: Path, report: LoadReport, kept_truncated: LoadReport | None
) -> tuple[list[Review], list[tuple[int, int]]]:
    """The file's reviews and the line pairs of repeated (user, item)s; all bad lines at once."""
    reviews: list[Review] = []
    problems: list[str] = []
    problem_count = 0
    seen: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[int, int]] = []
    for line_no, line in _numbered_lines(path, "review", kept_truncated):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            review = _review_from_record(record, position=len(reviews), report=report)
        except (json.JSONDecodeError, _RecordError, RecursionError) as err:  # RecursionError: [[[[... nested
            problem_count += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        pair = (review.user_id, review.item_id)
        if pair in seen:
            duplicates.append((seen[pair], line_no))
        seen[pair] = line_no
        reviews.append(review)
    if problem_count:
        more = problem_count - len(problems)
        tail = f"\n  ... and {more} more bad line(s)" if more else ""
        raise DataError(
            f"{path}: {problem_count} invalid review line(s); the file was not loaded:\n  "
            + "\n  ".join(problems)
            + tail
        )
    if not reviews:
        raise DataError(f"{path}: no reviews found (empty file)")
    return reviews, duplicates


def _load_titles(path: Path, kept_truncated: LoadReport | None) -> dict[str, str]:
    """Titles by asin; every bad line is reported at once, the file is never half-used.

    A title that is markup (most 2018 Magazine Subscriptions titles) is replaced by the name the
    description or brand gives (:func:`name_from_metadata`), or dropped: a name made from the
    reviews then stands in (:mod:`reason4rec.memory.labels`)."""
    titles: dict[str, str] = {}
    problems: list[str] = []
    brands: defaultdict[str, set[str]] = defaultdict(set)  # brand -> its asins (metadata repeats lines)
    markup: list[tuple[str, dict[str, Any]]] = []
    for line_no, line in _numbered_lines(path, "metadata", kept_truncated):
        if not line.strip():
            continue
        try:
            record = _parse_literal_line(line)
            asin = _required_id(record, ("asin",))
        except (ValueError, SyntaxError, TypeError, RecursionError, _RecordError) as err:  # TypeError: {[1]: 2}
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        brand = record.get("brand")
        if isinstance(brand, str) and brand.strip():
            brands[" ".join(brand.lower().split())].add(asin)
        title = record.get("title")
        if not isinstance(title, str) or not title.strip():
            continue
        title = " ".join(clean_text(title).split())
        if looks_like_markup(title):  # '<span class="a-size-medium a-color-secondary"'
            markup.append((asin, {"brand": brand, "description": record.get("description")}))
        elif title:
            titles[asin] = title
    if problems:
        raise DataError(f"{path}: invalid metadata line(s):\n  " + "\n  ".join(problems))
    makers = {brand for brand, asins in brands.items() if len(asins) > _MAX_BRAND_ITEMS}
    for asin, record in markup:
        if name := name_from_metadata(record, makers):
            titles.setdefault(asin, name)
    return titles


_FIELDS = {
    "user": ("user_id", "reviewerID"),
    "item": ("item_id", "asin"),
    "rating": ("rating", "overall"),
    "timestamp": ("timestamp", "unixReviewTime"),
    "text": ("review_text", "reviewText"),
    "title": ("summary",),
}


def _review_from_record(record: Any, position: int, report: LoadReport) -> Review:
    if not isinstance(record, dict):
        raise _RecordError(f"expected a JSON object, got {type(record).__name__}")
    user_id, item_id = _required_id(record, _FIELDS["user"]), _required_id(record, _FIELDS["item"])
    rating, timestamp = _rating(record), _timestamp(record)
    title = _text(record, _FIELDS["title"], required=False)
    text = _review_text(record, title, report)
    return Review(user_id, item_id, rating, timestamp, text, title, position)


def _review_text(record: dict[str, Any], summary: str, report: LoadReport) -> str:
    """McAuley's image- and summary-only reviews have no ``reviewText``: read them as their summary
    (else empty) and count them. Our own format must say ``""`` explicitly."""
    mcauley = "reviewerID" in record
    if not mcauley or record.get("reviewText") is not None:
        return _text(record, _FIELDS["text"], required=True)
    report.missing_text += 1
    if summary:
        report.from_summary += 1
    return summary


def _first_present(record: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in record:
            return name, record[name]
    raise _RecordError(f"missing field {' / '.join(repr(n) for n in names)}")


def _required_id(record: dict[str, Any], names: tuple[str, ...]) -> str:
    name, value = _first_present(record, names)
    if not isinstance(value, str) or not value.strip():
        raise _RecordError(f"{name!r} must be a non-empty string, got {value!r}")
    value = value.strip()
    if len(value) > MAX_ID_LENGTH:
        raise _RecordError(f"{name!r} is longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):  # as the memory's store: ids are kept exact,
        raise _RecordError(f"{name!r} contains a control character")  # and review ids join them with \x1f
    return value


def _rating(record: dict[str, Any]) -> float:
    name, value = _first_present(record, _FIELDS["rating"])
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _RecordError(f"{name!r} must be a number, got {value!r}")
    if not 1 <= value <= 5:
        raise _RecordError(f"{name!r} must be between 1 and 5, got {value!r}")
    return float(value)


MAX_TIMESTAMP = 2**63 - 1
"""The memory's SQLite store keeps times as 64-bit integers."""


def _timestamp(record: dict[str, Any]) -> int:
    name, value = _first_present(record, _FIELDS["timestamp"])
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RecordError(f"{name!r} must be an integer (unix seconds), got {value!r}")
    if value < 0:
        raise _RecordError(f"{name!r} must not be negative, got {value}")
    if value > MAX_TIMESTAMP:
        raise _RecordError(f"{name!r} is past the largest storable time ({MAX_TIMESTAMP:,}), got {value}")
    return value


def _text(record: dict[str, Any], names: tuple[str, ...], *, required: bool) -> str:
    try:
        name, value = _first_present(record, names)
    except _RecordError:
        if required:
            raise _RecordError(
                f"missing field {' / '.join(repr(n) for n in names)} "
                '(write "" for an explicitly empty review)'
            ) from None
        return ""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _RecordError(f"{name!r} must be a string, got {type(value).__name__}")
    return clean_text(value)


_BREAKS = re.compile(
    r"(?:[ \t]*</?(?:br|p|div|li|ul|ol|hr|h[1-6]|img|table|tbody|tr|td|th|blockquote|pre)\b"
    r"[^<>]*>[ \t]*)+",
    re.IGNORECASE,
)
"""Block tags, which separate words: each run becomes one space."""
_INLINE = re.compile(
    r"</?(?:a|b|i|u|em|strong|span|font|sup|sub|small|big|code)\b[^<>]*>", re.IGNORECASE
)
"""Inline tags, which sit inside words and sentences: dropped. Known tags only, in both, so prose
such as ``<$20``, ``< b >`` or ``<grin>`` is left alone."""


def clean_text(value: str) -> str:
    """Scraped review text and titles carry HTML: drop the tags (a space for a line break) and
    unescape the entities (``&amp;`` -> ``&``), once, so prompts and tables never show them."""
    text, breaks = _BREAKS.subn(" ", value.replace("\x00", ""))
    text, inline = _INLINE.subn("", text)
    text = html.unescape(text).replace("\xa0", " ")
    return text.strip() if breaks or inline else text


_MARKUP = re.compile(
    r"<\s*/?\s*(?:a|abbr|b|big|blockquote|body|br|code|div|em|font|h[1-6]|head|hr|html|i|img|input|li|link|meta|"
    r"ol|p|pre|script|small|span|strong|style|sub|sup|table|tbody|td|th|tr|u|ul)\b[^<>]*(?:>|$)"
    r"|\b(?:class|style|href|src)\s*=\s*[\"']",
    re.IGNORECASE,
)
"""An HTML tag (closed or cut off) or attribute: what a name never holds."""


def looks_like_markup(value: str) -> bool:
    """Is ``value`` HTML rather than a name? (``<span class="a-size-medium a-color-secondary"``,
    what the 2018 Magazine Subscriptions metadata has for most titles.) Prose such as ``<$20``
    or ``<grin>`` is not markup."""
    return bool(_MARKUP.search(value))


_DESCRIPTION_VERBS = frozenset(re.findall(r"\w+", """is are was has have includes include covers cover offers
    offer provides provide brings bring features feature gives give delivers deliver helps help contains contain
    presents present reaches focuses serves explores shows keeps lets requires combines celebrates publishes
    reports takes teaches puts remains"""))
_LEADING = frozenset({"this", "these", "that", "our", "your", "each", "every", "a", "an"})
_CONNECTORS = frozenset({"&", "and", "of", "the", "for", "in", "on", "to", "de", "+"})
_ARTICLES = frozenset({"the", "a", "an"})
_ABBREVIATION = re.compile(r"(?:[A-Z][a-z]{0,3}|[A-Z](?:\.[A-Z])+)\.")
""""Dr.", "Mr.", "St.", "U.S.": a full stop that does not end a name or a sentence."""
_DESCRIPTION_WORDS = 40
_NOT_VERB_ENDINGS = ("ss", "us", "is", "ics", "ings")
_NOT_VERBS = frozenset({"plus", "yours", "ours", "hers", "theirs", "always", "sometimes", "towards", "besides",
                        "afterwards", "perhaps", "unless", "whereas", "thus", "across", "less", "news"})
_COMPANY = re.compile(r"\b(?:inc|llc|ltd|co|corp|corporation|corpiration|company|companies|publishing|publishers|"
                      r"publications?|publ|media|group|holdings|enterprises|partners|international|foundation|"
                      r"brands|information|magazines|press|industries|ventures|gmbh|plc|lp|s\.?a)\b\.?", re.IGNORECASE)
"""What a company's name ends with (a publisher or maker is not the product's name)."""


_MAX_BRAND_ITEMS = 2
"""A brand on more items of a metadata file is a maker or publisher ("Meredith"), not a product's name."""


def name_from_metadata(record: dict[str, Any], makers: Iterable[str] = ()) -> str:
    """A product's name from its metadata when the title is missing or markup; ``""`` if none.

    The name a clause of the description's first sentence opens with ("Allure is the beauty
    expert", "Week after week, The New Yorker keeps ...", "Harper's BAZAAR, the fashion authority":
    capitalised words before a verb or an appositive), preferring the brand when it contains that
    name ("REASON is ..." with the brand "Reason Magazine"); else the brand. Never a brand that
    names a company ("Conde Nast Publications", "Bloomberg LP") or one of ``makers`` (lower-cased
    brands found on more than two items of the same file: "Meredith"). Plain rules on the words'
    case and endings, no tagger: spaCy's small model tags "Country Living" as a noun with a
    modifier and names it "Living".
    """
    brand = record.get("brand")
    brand = " ".join(clean_text(brand).split()) if isinstance(brand, str) else ""
    if not brand or looks_like_markup(brand) or _COMPANY.search(brand) or brand.lower() in set(makers):
        brand = ""
    described = _description_name(record.get("description"))
    if described and brand and described.lower() in brand.lower():
        return brand[:300]
    return (described or brand)[:300]


def _description_name(description: Any) -> str:
    """The name a description opens a clause of its first sentence with ("Allure is ...", "Week
    after week, The New Yorker keeps ..."), or ``""``."""
    if isinstance(description, list):
        description = next((d for d in description if isinstance(d, str) and d.strip()), "")
    if not isinstance(description, str):
        return ""
    description = clean_text(description)
    if looks_like_markup(description):
        return ""
    words = description.split()[:_DESCRIPTION_WORDS]
    starts = [0] + [i + 1 for i, word in enumerate(words[:-1]) if word.endswith(",")]
    sentence_end = next((i for i, word in enumerate(words) if word.endswith((".", "!", "?", ":", ";"))
                         and not _ABBREVIATION.fullmatch(word)), len(words))
    for start in (i for i in starts if i <= sentence_end):
        if start > 1 and words[start - 1][:1].isupper():  # "for Film, TV and Reenactors is": a list, not a clause
            continue
        if name := _name_before_verb(words[start:], opens_text=start == 0):
            return name
    return ""


def _name_before_verb(words: list[str], *, opens_text: bool) -> str:
    """Capitalised words followed by a verb (maybe after one adverb: "directly aligns", or one
    lower-case noun and a common verb: "Discover magazine provides"), or by an appositive
    ("Harper's BAZAAR, the fashion authority, ..."); ``""`` when the words do not open so.

    The first word of a text is capitalised whatever it is ("Includes articles ...", "Authoritative
    articles ..."), so a one-word name there, unless in capitals, needs one of the verbs
    descriptions open with."""
    if words and words[0].lower() in _LEADING:
        words = words[1:]
    name: list[str] = []
    for word in words:
        bare = word.strip(",.;:!?")
        number = bare[:1].isdigit() and not (opens_text and len(name) == 1)  # not "Published 8 times"
        capital = bare[:1].isupper() or number or (bare.lower() in _CONNECTORS and name)
        if not capital:
            break
        abbreviation = bool(_ABBREVIATION.fullmatch(word))
        if bare != word and not abbreviation:  # the name ends at punctuation
            name.append(bare)
            rest = words[len(name):]
            appositive = word.endswith(",") and rest and rest[0] in _ARTICLES  # "BAZAAR, the", not "1914, The"
            return " ".join(name) if appositive and _plausible_name(name) else ""
        name.append(word if abbreviation else bare)
    rest = words[len(name):]
    if not _plausible_name(name) or not rest:
        return ""
    told = len(name) > 1 or not opens_text or (len(name[0]) > 1 and name[0].isupper())  # "WIRED makes"
    verb = _is_verb if told else (lambda word: word.lower() in _DESCRIPTION_VERBS)
    if verb(rest[0]) or (len(rest) > 1 and rest[0].endswith("ly") and verb(rest[1])):
        return " ".join(name)
    if len(rest) > 1 and rest[0].islower() and rest[0].isalpha() and rest[1].lower() in _DESCRIPTION_VERBS:
        return " ".join([*name, rest[0]])  # "Discover magazine provides"
    return ""


def _plausible_name(name: list[str]) -> bool:
    """Up to six words, starting with a letter ("204 Sudoku puzzles" is a count), not ending in "of"."""
    return 0 < len(name) <= 6 and name[0][:1].isalpha() and name[-1].lower() not in _CONNECTORS


def _is_verb(word: str) -> bool:
    """A present-tense verb after a name: one of the verbs descriptions open with, or any lower-case
    word in -s that is not a plural-looking noun ending ("previews", "makes"; not "class", "news")."""
    if word.lower() in _DESCRIPTION_VERBS:
        return True
    return (word.isalpha() and word.islower() and len(word) >= 4 and word.endswith("s")
            and not word.endswith(_NOT_VERB_ENDINGS) and word not in _NOT_VERBS)


def _parse_literal_line(line: str) -> dict[str, Any]:
    """Metadata lines are Python dict literals (single quotes); newer dumps are JSON."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = ast.literal_eval(line.strip())
    if not isinstance(record, dict):
        raise _RecordError(f"expected a dict, got {type(record).__name__}")
    return record


def _require_file(path: Path, kind: str) -> None:
    if not path.is_file():
        raise DataError(f"{kind} file not found: {path}")


def _numbered_lines(
    path: Path, kind: str, kept_truncated: LoadReport | None = None
) -> Iterator[tuple[int, str]]:
    """The file's lines, gunzipped when needed. A truncated gzip (an interrupted download) is
    refused unless ``kept_truncated`` is given: then its complete lines are read and counted."""
    _require_file(path, kind)
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
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
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


def _keep_latest(reviews: list[Review]) -> tuple[list[Review], int]:
    latest: dict[tuple[str, str], Review] = {}
    for review in reviews:
        pair = (review.user_id, review.item_id)
        if pair not in latest or review.order_key > latest[pair].order_key:
            latest[pair] = review
    kept = [r for r in reviews if latest[(r.user_id, r.item_id)] is r]
    return kept, len(reviews) - len(kept)


_CATEGORY_NAMES = (
    re.compile(r"reviews_(?P<category>.+?)(?:_5)?"),  # 2014: reviews_Musical_Instruments_5.json.gz
    re.compile(r"(?P<category>[A-Z][A-Za-z]*(?:_[A-Za-z]+)*)_5"),  # 2018: Musical_Instruments_5
)


def _named_category(path: Path) -> str | None:
    """The category part of a McAuley file name as written (``Gift_Cards``); None for any other name."""
    stem = path.name.split(".")[0]
    return next((match["category"] for pattern in _CATEGORY_NAMES if (match := pattern.fullmatch(stem))), None)


def _category_from_name(path: Path) -> str | None:
    """McAuley's file names carry the category; any other name guesses nothing."""
    named = _named_category(path)
    return None if named is None else named.replace("_", " ")


def meta_beside(path: Path) -> Path | None:
    """McAuley's metadata file beside a review file (``Gift_Cards_5.json.gz`` ->
    ``meta_Gift_Cards.json.gz``), if it is there; None for any other name.

    Example:
        >>> meta_beside(Path("/nowhere/Gift_Cards_5.json.gz")) is None
        True
    """
    named = _named_category(path)
    found = [] if named is None else [path.with_name(f"meta_{named}{suffix}") for suffix in (".json.gz", ".json")]
    return next((meta for meta in found if meta.is_file()), None)


def require_category(path: Path) -> str:
    """The category ``path``'s name carries; a :class:`DataError` asking for it when it carries
    none (a missing file is reported as missing first).

    Example:
        >>> require_category(Path("Magazine_Subscriptions_5.json.gz"))
        'Magazine Subscriptions'
    """
    guessed = _category_from_name(path)
    if guessed:
        return guessed
    _require_file(path, "review")
    raise DataError(f"{path.name}: its name does not say what the reviews are about; name the category, "
                    'e.g. --category "Board Games" (config: data.category)')


def _describe(err: Exception) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply to read"
    if isinstance(err, TypeError):
        return f"not a usable record ({err})"
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg} at column {err.colno})"
    if isinstance(err, SyntaxError):
        return f"not a Python literal ({err.msg})"
    return str(err)


def load_configured(reviews_path: Path | None = None, meta_path: Path | None = None,
                    category: str | None = None, *, on_duplicate: OnDuplicate = "error",
                    allow_truncated: bool = False) -> ReviewDataset:
    """What ``config.data`` names: a user's review file, or the shipped data (one loader path)."""
    shipped = reviews_path is None
    return load_reviews(
        shipped_path() if shipped else reviews_path,
        meta_path,
        category=category or (SHIPPED_CATEGORY if shipped else None),
        on_duplicate=on_duplicate,
        allow_truncated=allow_truncated,
    )


def among_categories(category: str, categories: Iterable[str]) -> bool:
    """Is ``category`` one of ``categories``? Category names compare without case, as a person
    types them ("gift cards" is Gift Cards)."""
    return category.casefold() in {c.casefold() for c in categories}


def configured_category(data: DataConfig) -> str:
    """The category a configuration's reviews are about, without reading them: ``data.category``,
    else the one a person's file name carries (asked for when it carries none), else the shipped
    data's. What the memory, the agent's prompts and the calibration are keyed by.

    Example:
        >>> from reason4rec.config import DataConfig
        >>> configured_category(DataConfig(reviews_path="Gift_Cards_5.json.gz"))
        'Gift Cards'
    """
    if data.category:
        return data.category
    return require_category(Path(data.reviews_path)) if data.reviews_path is not None else SHIPPED_CATEGORY


def dataset_of(data: DataConfig) -> ReviewDataset:
    """The reviews a configuration's ``data`` section names (the one place its fields become a
    :func:`load_configured` call).

    A person's file must say what it is about: with no ``data.category`` and a name that guesses
    nothing, it is refused (once its lines are known to be good, and before any model loads),
    asking for ``--category``: prompts would name the wrong kind of product, and an adapted
    adapter's card would record it.
    """
    dataset = load_configured(data.reviews_path, data.meta_path, data.category, on_duplicate=data.on_duplicate,
                              allow_truncated=data.allow_truncated)
    if data.reviews_path is not None and not data.category:
        require_category(Path(data.reviews_path))
    return dataset
