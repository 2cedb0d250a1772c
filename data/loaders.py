"""Review files in, a validated :class:`ReviewDataset` out.

Six review formats are read, record by record (:mod:`.record_formats`), from JSON lines, SNAP's
text blocks or a table with a header row (:mod:`.review_files`): the shipped file, McAuley's Amazon
dumps of 2014 and 2018 (``reviews_<Category>_5.json.gz``, ``<Category>_5.json.gz``), the Amazon
Reviews 2023 release (``<Category>.jsonl.gz``), SNAP's 2013 dumps (``<Category>.txt.gz``,
``foods.txt``) and Kaggle's table of them (``Reviews.csv``), and Amazon's Customer Reviews Dataset
(``amazon_reviews_us_<Category>_v1_00.tsv.gz``). Metadata files (``meta_<Category>.json(l).gz``)
give item titles; their lines are Python literals in 2014 (parsed with :func:`ast.literal_eval`,
never ``eval``) and JSON since. SNAP's and the TSV's reviews carry their product's title themselves.

Every record is validated; a bad file is rejected with the path and line of each problem. Rows are
never dropped silently: duplicates of a (user, item) pair are an error unless the caller asks to
keep the latest, and then the count is reported in :attr:`ReviewDataset.dropped_duplicates`; what
the loader works around instead of refusing (reviews without text, a truncated gzip read on
request, the k-core asked for) is counted in :attr:`ReviewDataset.report`. Review text, summaries
and item titles are scraped HTML; they are cleaned once here (:mod:`.html_text`) so nothing
downstream sees ``&quot;`` or ``<br />``.

Example:
    >>> from reason4rec.data import load_shipped
    >>> dataset = load_shipped()
    >>> len(dataset), dataset.title("B0002E1G5C")
    (10261, 'B0002E1G5C')
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import DataConfig

from .html_text import clean_text, looks_like_markup
from .item_names import MAX_BRAND_ITEMS, metadata_brand, name_from_metadata
from .record_formats import AnonymousReview, RecordError, item_title, read_review, required_id
from .review_files import numbered_lines, require_file, review_records
from .reviews import (
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
    core: int | None = None,
) -> ReviewDataset:
    """Load and validate a review file in any of the formats read, gzipped or not.

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
        core: Keep the k-core: only reviews whose user and item both have at least this many
            (repeated until it holds), as McAuley's 5-core files; for Amazon's whole files, where
            most users wrote one review. Counted in the report.

    Raises:
        DataError: naming the file and the line of each problem found.
    """
    path = Path(path)
    require_file(path, "review")
    report = LoadReport()
    kept_truncated = report if allow_truncated else None
    titles = _load_titles(Path(meta_path), kept_truncated) if meta_path is not None else {}
    reviews, duplicates, titles_in_reviews = _read_reviews(path, report, kept_truncated)
    titles = titles_in_reviews | titles  # a metadata file's title wins
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
    if core is not None:
        kept = _k_core(reviews, core, path)
        report.core, report.outside_core, reviews = core, len(reviews) - len(kept), kept
        kept_items = {r.item_id for r in kept}
        titles = {item: title for item, title in titles.items() if item in kept_items}
    else:
        report.lone_users = _lone_users(reviews)
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


def _read_reviews(
    path: Path, report: LoadReport, kept_truncated: LoadReport | None
) -> tuple[list[Review], list[tuple[int, int]], dict[str, str]]:
    """The file's reviews, the line pairs of repeated (user, item)s and the item titles its reviews
    carry (SNAP, the TSV); all bad lines at once."""
    reviews: list[Review] = []
    problems: list[str] = []
    problem_count = 0
    seen: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[int, int]] = []
    titles: dict[str, str] = {}
    for line_no, record in review_records(path, kept_truncated):
        try:
            if isinstance(record, Exception):
                raise record
            review = read_review(record, position=len(reviews), report=report)
        except AnonymousReview:
            report.anonymous += 1
            continue
        except (json.JSONDecodeError, RecordError, RecursionError) as err:
            problem_count += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        pair = (review.user_id, review.item_id)
        if pair in seen:
            duplicates.append((seen[pair], line_no))
        seen[pair] = line_no
        reviews.append(review)
        if review.item_id not in titles and (title := item_title(record)) and not looks_like_markup(title):
            titles[review.item_id] = title
    if problem_count:
        more = problem_count - len(problems)
        tail = f"\n  ... and {more} more bad line(s)" if more else ""
        raise DataError(
            f"{path}: {problem_count} invalid review line(s); the file was not loaded:\n  "
            + "\n  ".join(problems)
            + tail
        )
    if not reviews:
        raise DataError(f"{path}: no reviews found (empty file)" if not report.anonymous else
                        f"{path}: no reviews with a named reviewer (all {report.anonymous:,} are anonymous)")
    return reviews, duplicates, titles


def _load_titles(path: Path, kept_truncated: LoadReport | None) -> dict[str, str]:
    """Titles by asin; every bad line is reported at once, the file is never half-used.

    A title that is markup (most 2018 Magazine Subscriptions titles) is replaced by the name the
    description or brand gives (:func:`name_from_metadata`), or dropped: a name made from the
    reviews then stands in (:mod:`reason4rec.memory.labels`)."""
    titles: dict[str, str] = {}
    problems: list[str] = []
    brands: defaultdict[str, set[str]] = defaultdict(set)  # brand -> its asins (metadata repeats lines)
    markup: list[tuple[str, dict[str, Any]]] = []
    for line_no, line in numbered_lines(path, "metadata", kept_truncated):
        if not line.strip():
            continue
        try:
            record = _parse_literal_line(line)
            asin = required_id(record, ("asin", "parent_asin"))  # 2023: keyed by the parent
        except (ValueError, SyntaxError, TypeError, RecursionError, RecordError) as err:  # TypeError: {[1]: 2}
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{line_no}: {_describe(err)}")
            continue
        if brand := metadata_brand(record):
            brands[brand.lower()].add(asin)
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
    makers = {brand for brand, asins in brands.items() if len(asins) > MAX_BRAND_ITEMS}
    for asin, record in markup:
        if name := name_from_metadata(record, makers):
            titles.setdefault(asin, name)
    return titles


def _parse_literal_line(line: str) -> dict[str, Any]:
    """Metadata lines are Python dict literals (single quotes); newer dumps are JSON."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = ast.literal_eval(line.strip())
    if not isinstance(record, dict):
        raise RecordError(f"expected a dict, got {type(record).__name__}")
    return record


def _k_core(reviews: list[Review], k: int, path: Path) -> list[Review]:
    """The reviews of the user-item graph's k-core: dropping a sparse user can leave an item below
    ``k``, so the cut repeats until every user and item kept has ``k`` reviews."""
    if k < 1:
        raise DataError(f"--core must be at least 1, got {k}")
    while True:
        users, items = Counter(r.user_id for r in reviews), Counter(r.item_id for r in reviews)
        kept = [r for r in reviews if users[r.user_id] >= k and items[r.item_id] >= k]
        if len(kept) == len(reviews):
            break
        reviews = kept
    if not kept:
        raise DataError(f"{path}: no review is in the {k}-core (no set of users and items with at least {k} "
                        "reviews each); ask for a smaller --core")
    return kept


def _lone_users(reviews: list[Review]) -> tuple[int, int]:
    """(users with one review, users), when those are most of them; else (0, 0)."""
    counts = Counter(r.user_id for r in reviews)
    lone = sum(count == 1 for count in counts.values())
    return (lone, len(counts)) if 2 * lone > len(counts) else (0, 0)


def _keep_latest(reviews: list[Review]) -> tuple[list[Review], int]:
    latest: dict[tuple[str, str], Review] = {}
    for review in reviews:
        pair = (review.user_id, review.item_id)
        if pair not in latest or review.order_key > latest[pair].order_key:
            latest[pair] = review
    kept = [r for r in reviews if latest[(r.user_id, r.item_id)] is r]
    return kept, len(reviews) - len(kept)


_CATEGORY_NAMES = (
    re.compile(r"amazon_reviews_(?:us|multilingual_[A-Z]+)_(?P<category>.+?)_v\d+_\d+"),  # the TSV dataset
    re.compile(r"reviews_(?P<category>.+?)(?:_5)?"),  # 2014: reviews_Musical_Instruments_5.json.gz
    re.compile(r"(?P<category>[A-Z][A-Za-z]*(?:_[A-Za-z]+)*)_5"),  # 2018: Musical_Instruments_5
)
_RELEASE_CATEGORIES = frozenset([
    "All_Beauty", "Amazon_Fashion", "AMAZON_FASHION", "Appliances", "Arts_Crafts_and_Sewing", "Automotive",
    "Baby_Products", "Beauty_and_Personal_Care", "Books", "CDs_and_Vinyl", "Cell_Phones_and_Accessories",
    "Clothing_Shoes_and_Jewelry", "Digital_Music", "Electronics", "Gift_Cards", "Grocery_and_Gourmet_Food",
    "Handmade_Products", "Health_and_Household", "Health_and_Personal_Care", "Home_and_Kitchen",
    "Industrial_and_Scientific", "Kindle_Store", "Luxury_Beauty", "Magazine_Subscriptions", "Movies_and_TV",
    "Musical_Instruments", "Office_Products", "Patio_Lawn_and_Garden", "Pet_Supplies", "Prime_Pantry", "Software",
    "Sports_and_Outdoors", "Subscription_Boxes", "Tools_and_Home_Improvement", "Toys_and_Games", "Video_Games",
])
"""The category files of the 2018 and 2023 releases, whose whole (not 5-core) files are named by the
category alone (``All_Beauty.json.gz``, ``Gift_Cards.jsonl.gz``): only these bare names guess a
category, so a person's ``Reviews.jsonl`` is asked for one instead of being called "Reviews".
(The 2023 release's ``Unknown`` names no category, and is not here.)"""


def _named_category(path: Path) -> str | None:
    """The category part of an Amazon file name as written (``Gift_Cards``); None for any other name."""
    stem = path.name.split(".")[0]
    if stem in _RELEASE_CATEGORIES:
        return stem
    return next((match["category"] for pattern in _CATEGORY_NAMES if (match := pattern.fullmatch(stem))), None)


def _category_from_name(path: Path) -> str | None:
    """Amazon's file names carry the category; any other name guesses nothing."""
    named = _named_category(path)
    if named is None:
        return None
    return named.replace("_", " ") if not named.isupper() else named.replace("_", " ").title()


def meta_beside(path: Path) -> Path | None:
    """Amazon's metadata file beside a review file (``Gift_Cards_5.json.gz`` ->
    ``meta_Gift_Cards.json.gz``, ``Gift_Cards.jsonl.gz`` -> ``meta_Gift_Cards.jsonl.gz``), if it is
    there; None for any other name.

    Example:
        >>> meta_beside(Path("/nowhere/Gift_Cards_5.json.gz")) is None
        True
    """
    named = _named_category(path)
    found = [] if named is None else [path.with_name(f"meta_{named}{suffix}")
             for suffix in (".json.gz", ".json", ".jsonl.gz", ".jsonl")]
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
    require_file(path, "review")
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
                    allow_truncated: bool = False, core: int | None = None) -> ReviewDataset:
    """What ``config.data`` names: a user's review file, or the shipped data (one loader path)."""
    shipped = reviews_path is None
    return load_reviews(
        shipped_path() if shipped else reviews_path,
        meta_path,
        category=category or (SHIPPED_CATEGORY if shipped else None),
        on_duplicate=on_duplicate,
        allow_truncated=allow_truncated,
        core=core,
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
                              allow_truncated=data.allow_truncated, core=data.core)
    if data.reviews_path is not None and not data.category:
        require_category(Path(data.reviews_path))
    return dataset
