"""Items for a need in words ("a tuner for my acoustic guitar"): found by what items are, ranked by the user.

Why: an item's profile vector embeds its buyers' aspect summaries ("space saver, bright tone"),
so a need matched against profiles finds items praised alike, not items of the kind asked for
(issue 37: a tuner asked for, saddles and strings given). Here an item is what its buyers call
it, and the user's taste only orders items that fit:

* **What an item is.** Its title (metadata) or its label (:mod:`.labels`), whose last word is its
  head ("acoustic guitar *saddle*"); the words its buyers name it by where they name it
  (:meth:`LabelModel.explain`); and the share of its reviews that mention each word.
* **What the need asks for.** The need's first run of product words (words buyers of at least
  two items name products by, :attr:`LabelModel.head_df`) is the thing wanted, its last word the
  head ("a *tuner* for my acoustic guitar"). A run after "my" is what the user owns ("my acoustic
  guitar"), one after "for", "with", "on" ... says the use; both only help choose among items of
  the head's kind. A need without such a run ("something for home recording") weighs all its words
  alike. Plain English rules, no category's words: the vocabulary is the dataset's own.
* **Scored.** Lexical: each need word, weighted by its role and its rarity over items, is matched
  against the item's head (1), name (0.6), naming words and reviews; plus the cosine between the
  need and the item's what-it-is text ("tuner: tuner, clip, display") by the memory's embedder.
  Items within reach of the best (:data:`POOL_SHARE`) are then ordered with the user's profile
  similarity as a secondary term (:data:`USER_WEIGHT`).

The index is built on the first need a memory is asked and kept until its count of reviews or of
items changes (some seconds on the shipped data: label statistics, review words, one embedding
per item; a review replaced in place is read when the process starts again).

Example:
    >>> items_for_need(memory, "A2IBPI20UZIR0U", "a tuner for my acoustic guitar", k=3)  # doctest: +SKIP
    [Match(profile=Profile(kind='item', entity_id='B0033PSGSW', ...), similarity=0.93), ...]
"""

from __future__ import annotations

import math
import re
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..experts import clean_text
from .labels import LabelModel, ReviewTexts, display_name, function_words, item_labels, texts_by_item, word_stem
from .vectors import Match

if TYPE_CHECKING:
    from .service import Memory

__all__ = ["NeedIndex", "NeedTerms", "items_for_need", "need_terms"]

HEAD, MODIFIER, CONTEXT, OWNED, EVALUATIVE, PLAIN = 1.0, 0.6, 0.35, 0.25, 0.2, 0.5
"""A need word's weight by its role: the head of the thing wanted, a word before it in its run, a
word of the use, of what the user owns, an evaluative word ("small"), any word of a need with no
product word."""
MIN_ITEMS = 2
"""A product word is one buyers of at least this many items name a product by."""
NAMING_SHARE = 0.3
"""Buyers' share naming an item by a word at which the word counts as fully what the item is
(times :data:`MODIFIER`: a name said by buyers is less sure than a label)."""
REVIEW_STRENGTH = 0.6
"""What a word mentioned by every review of an item counts for (the square root of the share)."""
LEXICAL_WEIGHT = 0.7
"""Relevance = this share of the lexical score + the rest of the embedding cosine."""
POOL_SHARE = 0.7
"""Candidates are the items whose relevance is at least this share of the best one's."""
POOL_MAX = 50
USER_WEIGHT = 0.15
"""The user's profile similarity, added to relevance: it orders items that fit, no more."""
MAX_NEED_CHARS = 1000

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?(?:-[a-z0-9]+)*")
_POSSESSIVES = frozenset({"my", "our", "your", "his", "her", "their", "mine"})
_USE = frozenset({"for", "with", "on", "in", "at", "during", "without", "from", "into", "onto", "inside", "while",
                  "when", "so", "because", "that", "which", "who", "by", "about", "near", "under", "over"})
"""Words after which a run of product words says the use or the setting, not the thing wanted."""


class NeedError(ValueError):
    """A need that cannot be searched (empty, or not text)."""


@dataclass(frozen=True, slots=True)
class NeedTerms:
    """A need as weighted word stems; ``head`` is the stem of the thing wanted, if it names one."""

    text: str
    weights: Mapping[str, float]
    head: str | None


def need_terms(text: str, model: LabelModel) -> NeedTerms:
    """The need's words with their roles' weights (see the module's docstring); NeedError when
    the need is empty once cleaned."""
    if not isinstance(text, str):
        raise NeedError("the need must be text")
    cleaned = clean_text(text, MAX_NEED_CHARS)
    if not cleaned:
        raise NeedError("the need is empty: say what you are looking for")
    words = _TOKEN.findall(cleaned.lower())
    stop = function_words()
    roles: dict[str, float] = {}
    head: str | None = None
    owned = after_use = False
    run: list[str] = []

    def close_run() -> None:
        nonlocal head, owned
        if run:
            if head is None and not owned and not after_use:
                head = word_stem(run[-1])
                for word in run[:-1]:
                    _assign(roles, word_stem(word), MODIFIER)
                _assign(roles, head, HEAD)
            else:
                for word in run:
                    _assign(roles, word_stem(word), OWNED if owned else CONTEXT)
            run.clear()
            owned = False

    for word in words:
        if _product_word(word, model, stop):
            run.append(word)
            continue
        close_run()
        if word in _POSSESSIVES:
            owned = True
        elif word in _USE:
            after_use = True
        elif word in stop or word.isdigit():
            continue
        elif word in model.adjectives:
            _assign(roles, word_stem(word), EVALUATIVE)
        else:  # a verb or a word no buyer names a product by ("learning", "quiet"): the use
            _assign(roles, word_stem(word), CONTEXT)
    close_run()
    if head is None:  # no thing named: every word counts alike (what the user owns, less)
        roles = {stem: OWNED if weight == OWNED else PLAIN for stem, weight in roles.items()}
    return NeedTerms(cleaned, roles, head)


@dataclass(slots=True)
class _Item:
    """What one item is: name words (stem -> strength), naming words, review word shares."""

    name: str
    what: dict[str, float]
    mentions: dict[str, float]
    text: str
    modifiers: frozenset[str] = frozenset()
    """Stems its name puts before its head ("*ukulele* strings"): what the item is for, not what it is."""


class NeedIndex:
    """Every item's what-it-is, searchable by a need (build with :meth:`build`)."""

    def __init__(self, model: LabelModel, items: dict[str, _Item], vectors: dict[str, list[float]] | None,
                 embed: Callable[[list[str]], list[list[float]]] | None) -> None:
        self.model, self._items, self._vectors, self._embed = model, items, vectors, embed
        df: Counter = Counter()
        for item in items.values():
            df.update(set(item.mentions) | set(item.what))
        total = len(items) + 1
        self._idf = {stem: math.log(total / (n + 1)) + 0.1 for stem, n in df.items()}
        self._unseen = math.log(total) + 0.1

    @classmethod
    def build(cls, reviews: Mapping[str, ReviewTexts], names: Mapping[str, str],
              embed: Callable[[list[str]], list[list[float]]] | None = None,
              model: LabelModel | None = None) -> NeedIndex:
        """From each item's ``(buyer, text, title)`` reviews and its title or label (``names``);
        ``embed`` (texts -> unit vectors) adds the semantic half of the score."""
        model = model or LabelModel.fit(reviews)
        items = {item_id: _describe(model, texts, names.get(item_id, "")) for item_id, texts in reviews.items()}
        ids = list(items)
        vectors = dict(zip(ids, embed([items[i].text for i in ids]))) if embed and ids else None
        return cls(model, items, vectors, embed)

    def relevance(self, need: str | NeedTerms) -> dict[str, float]:
        """Item id -> how well the item is what ``need`` asks for, in [0, 1]."""
        terms = need if isinstance(need, NeedTerms) else need_terms(need, self.model)
        lexical = self._lexical(terms)
        if self._vectors is None or self._embed is None:
            return lexical
        wanted = self._embed([terms.text])[0]
        return {item: LEXICAL_WEIGHT * score + (1 - LEXICAL_WEIGHT) * max(0.0, _dot(wanted, self._vectors[item]))
                for item, score in lexical.items()}

    def candidates(self, need: str | NeedTerms, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The items that fit ``need`` (relevance within :data:`POOL_SHARE` of the best, at most
        :data:`POOL_MAX`), best first, ``exclude`` left out."""
        left_out = set(exclude)
        scored = sorted(((s, i) for i, s in self.relevance(need).items() if i not in left_out),
                        key=lambda pair: (-pair[0], pair[1]))
        if not scored or scored[0][0] <= 0:
            return []
        floor = POOL_SHARE * scored[0][0]
        return [(item, score) for score, item in scored[:POOL_MAX] if score >= floor]

    def _lexical(self, terms: NeedTerms) -> dict[str, float]:
        weights = {stem: w * self._idf.get(stem, self._unseen) for stem, w in terms.weights.items()}
        total = sum(weights.values())
        if not total:
            return dict.fromkeys(self._items, 0.0)
        scores = {}
        for item_id, item in self._items.items():
            found = 0.0
            for stem, weight in weights.items():
                strength = max(item.what.get(stem, 0.0), REVIEW_STRENGTH * math.sqrt(item.mentions.get(stem, 0.0)))
                if stem == terms.head and stem in item.modifiers:  # "ukulele strings" for "a ukulele"
                    strength = min(strength, CONTEXT)
                found += weight * strength
            scores[item_id] = found / total
        return scores


def items_for_need(memory: Memory, user_id: str, need: str, k: int = 5, exclude: Iterable[str] = ()) -> list[Match]:
    """The ``k`` items that best fit ``need`` for ``user_id``, as :meth:`Memory.items_for_user`
    returns them (``similarity``: relevance plus the user's weighted profile similarity).

    Items the user reviewed and ``exclude`` are left out; fewer than ``k`` (or none) come back when
    fewer items fit. Raises UnknownEntityError for an unknown user and MemoryQueryError (a
    ValueError) for an empty need; a user whose profile is pending is served by the need alone.
    """
    from .service import MemoryQueryError

    try:
        index = _index(memory)
        terms = need_terms(need, index.model)
    except NeedError as err:
        raise MemoryQueryError(str(err)) from err
    reviewed = {r.item_id for r in memory.store.user_reviews(user_id)} | set(exclude)
    pool = index.candidates(terms, exclude=reviewed)
    if not pool or k <= 0:
        return []
    user = memory.vectors.profile_vector("user", user_id)
    scored = []
    for item_id, relevance in pool:
        taste = 0.0
        if user is not None and (vector := memory.vectors.profile_vector("item", item_id)) is not None:
            taste = _dot(user, vector)
        scored.append((relevance + USER_WEIGHT * taste, item_id))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    profiles = memory.vectors.profiles("item", [item for _, item in scored])
    return [Match(profiles[item], round(score, 4)) for score, item in scored if item in profiles][:k]


# --------------------------------------------------------------------------- internals

_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Memory -> (what its store held when built, its index)."""


def _index(memory: Memory) -> NeedIndex:
    """The memory's index, rebuilt when reviews or items were added since it was built."""
    counts = memory.counts()
    key = (counts["reviews"], counts["items"])
    kept = _INDEXES.get(memory)
    if kept is not None and kept[0] == key:
        return kept[1]
    reviews = texts_by_item(memory.store)
    titles = memory.item_titles()
    labels = item_labels(memory, [item for item in reviews if item not in titles])
    names = {item: display_name(item, titles.get(item), labels.get(item)) for item in reviews}
    index = NeedIndex.build(reviews, {item: name for item, name in names.items() if name}, embed=memory.vectors.embed)
    _INDEXES[memory] = (key, index)
    return index


def _describe(model: LabelModel, reviews: ReviewTexts, name: str) -> _Item:
    """An item's what-it-is: its name's words by role (as a need's: head 1, the rest less), the
    words its buyers name it by, and the share of its reviews mentioning each word."""
    what = _name_words(name, model) if name else {}
    modifiers = frozenset(stem for stem, weight in what.items() if weight < HEAD)
    stop = function_words()
    _, named = model.explain(reviews) if reviews else ("", [])
    buyers = max(1, len({buyer for buyer, _, _ in reviews}))
    naming = []
    for form, count, _ in named:
        words = [w for w in _TOKEN.findall(form.lower()) if w not in stop]
        if words:
            _assign(what, word_stem(words[-1]), MODIFIER * min(1.0, count / buyers / NAMING_SHARE))
            naming.append(form.lower())
    mentioned: Counter = Counter()
    for _, text, title in reviews:
        mentioned.update({word_stem(w) for w in _TOKEN.findall(f"{text} {title}".lower()) if w not in stop})
    mentions = {stem: n / len(reviews) for stem, n in mentioned.items()} if reviews else {}
    shown = ", ".join(dict.fromkeys(naming[:3]))
    text = f"{name}: {shown}" if name and shown else name or shown or "an item"
    return _Item(name, what, mentions, text, modifiers)


def _name_words(name: str, model: LabelModel) -> dict[str, float]:
    """A title's or a label's words by role, read as a need ("Snark Tuner for Guitar": *tuner*
    the head); a name whose words are no product words has its last word for head."""
    try:
        terms = need_terms(name, model)
    except NeedError:
        return {}
    words = {stem: weight if weight >= MODIFIER else CONTEXT for stem, weight in terms.weights.items()}
    if terms.head is None and words:
        words = {stem: MODIFIER for stem in words} | {list(words)[-1]: HEAD}
    return words


def _product_word(word: str, model: LabelModel, stop: frozenset[str]) -> bool:
    """Is ``word`` one buyers name products by (the dataset's vocabulary), not a verb or an adjective?"""
    return (word not in stop and not word.isdigit() and word not in model.verbs and word not in model.adjectives
            and word not in _POSSESSIVES and word not in _USE and model.head_df.get(word_stem(word), 0) >= MIN_ITEMS)


def _assign(roles: dict[str, float], stem: str, weight: float) -> None:
    """Keep a word's strongest role (a word said twice counts once)."""
    if stem and weight > roles.get(stem, 0.0):
        roles[stem] = weight


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b)))

