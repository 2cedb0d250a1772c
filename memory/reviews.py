"""What every review store keeps and accepts, whichever the backend (SQLite or PostgreSQL).

The validation a review passes before any store sees it (:func:`check_review`: ids used exactly
as given, ratings, timestamps, text and titles cleaned of terminal escapes, control characters and
chat markup), the records a store hands back (:class:`StoredReview`, :class:`AddResult`), the
errors every backend raises (:class:`StoreError`, :class:`ReviewInputError`,
:class:`UnknownEntityError`), and :class:`ReviewStorage`, the methods both backends provide:
:class:`~reason4rec.memory.store.ReviewStore` (one SQLite file) and
:class:`~reason4rec.memory.pg_store.PostgresReviewStore` (a PostgreSQL database, for several
processes and machines). :func:`~reason4rec.memory.stores.open_store` picks one from the config.

Example:
    >>> check_review("A1", "B0002E1G5C", 4, "  Warm tone, a little hum.  ").text
    'Warm tone, a little hum.'
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..data import MAX_ID_LENGTH, Review
from ..errors import Reason4RecError
from ..experts import clean_text, strip_terminal_escapes

MAX_TEXT_CHARS = 20_000
MAX_TITLE_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters a stored review text may not keep (newlines and tabs stay)."""


class StoreError(Reason4RecError, RuntimeError):
    """The store cannot be opened or written (locked, damaged, not ours); the message says which."""


class ReviewInputError(Reason4RecError, ValueError):
    """A review was refused: the message names the field and why."""


class UnknownEntityError(Reason4RecError, KeyError):
    """A user or item id that the store has never seen."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class StoredReview:
    review_id: str
    user_id: str
    item_id: str
    rating: float
    timestamp: int
    text: str
    title: str
    revision: int
    status: str
    summary_version: str | None
    origin: str = "added"
    """``imported`` (from a dataset: its text is the dataset's, so cached summaries fit) or ``added``."""

    @property
    def from_dataset(self) -> bool:
        """Still the text a dataset import stored, so summaries cached for that dataset fit it;
        anything a person added or replaced needs the Summarizer."""
        return not (self.origin == "added" or self.revision > 1)

    def as_review(self, position: int = 0) -> Review:
        return Review(self.user_id, self.item_id, self.rating, self.timestamp, self.text, self.title, position)


@dataclass(frozen=True, slots=True)
class ReviewInput:
    """A review that passed :func:`check_review`, in the form the store keeps it."""

    user_id: str
    item_id: str
    rating: float
    text: str
    title: str
    item_title: str | None
    timestamp: int | None = None
    """Unix seconds as given (None: the store takes the time it is added)."""


def check_review(user_id: str, item_id: str, rating: float, text: str, *, title: str = "",
                 item_title: str | None = None, timestamp: int | None = None) -> ReviewInput:
    """Validate and normalise a review without touching a store.

    Callers run it before they open the memory or load a model, so bad input is refused in
    milliseconds and changes nothing. Titles are untrusted text like the review itself: terminal
    escapes, control characters and chat-template markup are removed before they are stored.

    Raises:
        ReviewInputError: naming the field and why.
    """
    return ReviewInput(_check_id("user", user_id), _check_id("item", item_id), _check_rating(rating),
                       _check_text(text), _check_title("review title", title) or "",
                       _check_title("item title", item_title), _check_timestamp(timestamp))


@dataclass(frozen=True, slots=True)
class AddResult:
    review: StoredReview
    outcome: str
    """``created``, ``unchanged`` (an idempotent retry) or ``replaced`` (old version in history)."""


class ReviewStorage(Protocol):
    """The methods :class:`~reason4rec.memory.service.Memory` and the commands use, the same on
    every backend, with the same promises: a review is durable when :meth:`add` returns (before
    any model runs) and stored ``pending`` until :meth:`mark_summarized` records its summary;
    re-adding the same review is a no-op; a changed review replaces the old one, kept in
    :meth:`history`; each write is one transaction, so a crash at any point leaves work for a
    sync, never a lost or duplicated review."""

    where: str
    """Where the reviews live, for people: a file's path, or a database URL without its password."""
    damage: str | None
    """The damage this store met (SQLite pages), None while none was."""

    def check_integrity(self) -> None:
        """Refuse a damaged store (StoreError) before anything is written to it."""
        ...
    def add(self, user_id: str, item_id: str, rating: float, text: str, *, timestamp: int | None = None,
            title: str = "", item_title: str | None = None) -> AddResult: ...
    def import_reviews(self, reviews: Iterable[Review], item_titles: dict[str, str] | None = None) -> int: ...
    def mark_summarized(self, reviews: Iterable[StoredReview], version: str) -> int: ...
    def mark_pending(self, unless_version: str | None = None, review_ids: Iterable[str] | None = None) -> int: ...
    def stale_profiles(self, limit: int | None = None) -> list[tuple[str, str, float]]: ...
    def clear_stale(self, profiles: Iterable[tuple[str, str, float]]) -> None: ...
    def claim_stale(self, only: Iterable[tuple[str, str]] | None = None,
                    limit: int | None = None) -> AbstractContextManager[list[tuple[str, str, float]]]:
        """Stale profiles held (no writer marks them meanwhile) for one refresh, cleared after it."""
        ...
    def get(self, rid: str) -> StoredReview: ...
    def user_reviews(self, user_id: str) -> list[StoredReview]: ...
    def item_reviews(self, item_id: str) -> list[StoredReview]: ...
    def review_of(self, user_id: str, item_id: str) -> StoredReview | None: ...
    def item_title(self, item_id: str) -> str: ...
    def item_titles(self) -> dict[str, str]:
        """Item id -> title for every item whose title is known, in item id order (one query, not one
        per item; the order breaks ties where a phrase matches two titles alike, "Enya")."""
        ...
    def all_reviews(self) -> list[StoredReview]:
        """Every stored review, by item and then in time order, in one query: what the fits over the
        whole memory read (collaborative models, item labels, need search)."""
        ...
    def pending(self, limit: int | None = None) -> list[StoredReview]: ...
    def history(self, rid: str) -> list[dict[str, Any]]: ...
    def counts(self) -> dict[str, int]: ...
    def imported_summary_versions(self) -> dict[str, str]: ...
    def summary_versions(self) -> dict[str, int]: ...
    def user_ids(self) -> list[str]: ...
    def item_ids(self) -> list[str]: ...
    def has(self, kind: str, entity_id: str) -> bool: ...
    def close(self) -> None: ...


def item_label(item_id: str, title: str | None = None) -> str:
    """How an item is named to a person: its title with the id after it, or the id alone."""
    return f"{title} ({item_id})" if title and title != item_id else item_id


def clean_title(value: str) -> str:
    """A title safe to store, display and embed: one line, no escapes, no chat markup."""
    return clean_text(value, MAX_TITLE_CHARS)


def _check_id(kind: str, value: str) -> str:
    """Ids are used exactly as given: anything that would have to be changed is refused."""
    if not isinstance(value, str) or not value.strip():
        raise ReviewInputError(f"{kind} id must be a non-empty string, got {value!r}")
    if value != value.strip():
        raise ReviewInputError(f"{kind} id {value!r} starts or ends with whitespace; ids are used exactly "
                               "as given, so remove it")
    if len(value) > MAX_ID_LENGTH:
        raise ReviewInputError(f"{kind} id is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise ReviewInputError(f"{kind} id {value!r} contains control characters")
    return value


def _check_rating(value: float) -> float:
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise ReviewInputError(f"rating must be a number from 1 to 5, got {value!r}") from None
    if not math.isfinite(rating) or not 1 <= rating <= 5:
        raise ReviewInputError(f"rating must be from 1 to 5, got {value!r}")
    return rating


MAX_TIMESTAMP = 2**63 - 1
"""SQLite's and PostgreSQL's (``bigint``) largest integer."""


def _check_timestamp(value: int | None) -> int | None:
    """Unix seconds, 0 .. :data:`MAX_TIMESTAMP` (as the dataset loader takes them); None is now."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value % 1:
        raise ReviewInputError(f"timestamp must be whole Unix seconds, got {value!r}")
    if not 0 <= value <= MAX_TIMESTAMP:
        raise ReviewInputError(f"timestamp {value!r} is out of range (0 to {MAX_TIMESTAMP:,} Unix seconds)")
    return int(value)


def _check_unicode(field: str, value: str) -> None:
    """Refuse lone surrogates: what Python makes of bytes that are not UTF-8 (a file or a terminal
    in another encoding); neither SQLite nor PostgreSQL can store them and dropping them would change the words."""
    bad = next((i for i, ch in enumerate(value) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise ReviewInputError(f"{field} is not valid UTF-8 (undecodable bytes at character {bad + 1}): "
                               "save or type it as UTF-8")


def _check_text(value: str) -> str:
    """Terminal escapes and control characters are dropped; what is left must hold a letter or
    a digit (not only spaces, NULs or zero-width characters), or the Summarizer would invent
    aspects for it."""
    if not isinstance(value, str):
        raise ReviewInputError(f"review text must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise ReviewInputError(f"review text is {len(value):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    _check_unicode("review text", value)
    text = _CONTROL.sub("", strip_terminal_escapes(value.replace("\r\n", "\n").replace("\r", "\n"))).strip()
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise ReviewInputError("review text is empty (no letters or digits): a review needs words to summarize")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in clean_text(text)):  # what the Summarizer would see
        raise ReviewInputError("review text has no words once chat markup (<|im_end|>, [INST] ...) is removed: "
                               "a review needs words to summarize")
    return text


def _check_title(field: str, value: str | None) -> str | None:
    """None stays None (no title given); anything else must keep some text once cleaned."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReviewInputError(f"{field} must be text, got {type(value).__name__}")
    if len(value) > MAX_TITLE_CHARS:
        raise ReviewInputError(f"{field} is {len(value):,} characters; the limit is {MAX_TITLE_CHARS}")
    _check_unicode(field, value)
    cleaned = clean_title(value)
    if value.strip() and not cleaned:
        raise ReviewInputError(f"{field} {value!r} has nothing visible once control characters and chat "
                               "markup are removed")
    return cleaned
