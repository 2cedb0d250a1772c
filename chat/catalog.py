"""Who and what the chat can name: known user and item ids, item titles and labels, and fuzzy
lookup of them.

People mistype ids ("B0002E1G5D" for "B0002E1G5C") and name items by their title. Exact ids win;
otherwise rapidfuzz finds the closest id (one or two characters off) or title. Items without a
title have a label made from their reviews ("delay pedal", see :mod:`reason4rec.memory.labels`):
"the delay pedal" finds the items labelled so (:meth:`Catalog.find_label`; several items may share
one). Items described otherwise ("the Snark tuner") are left to the memory's semantic search in the
agent's ``resolve`` step.

Example:
    >>> catalog = Catalog(users=["A1B2C3D4E5F6"], items=["B0002E1G5C"], titles={})
    >>> catalog.find_item("b0002e1g5d")
    ItemMatch(item_id='B0002E1G5C', exact=False, score=90.0)
    >>> catalog.find_item("B0002E1G5C").exact
    True
    >>> catalog = Catalog(items=["B004M9CKVM", "B0002E1G5C"], labels={"B004M9CKVM": "delay pedal"})
    >>> catalog.find_label("that delay pedal"), catalog.name("B004M9CKVM")
    (['B004M9CKVM'], 'delay pedal (B004M9CKVM)')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process, utils

from ..memory import display_name, item_labels, item_name

if TYPE_CHECKING:
    from ..memory import Memory

ID_TOKEN = re.compile(r"(?<![\w-])(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{8,24}(?![\w-])")
"""A token that looks like an Amazon id (ASIN, ISBN or reviewer id): 8-24 letters/digits, one digit."""

ID_CUTOFF = 80.0
"""Least rapidfuzz ratio for a mistyped id (one wrong character in ten scores 90)."""
TITLE_CUTOFF = 86.0
"""Least token-set ratio for an item named by its title."""
LABEL_CUTOFF = 90.0
"""Least ratio between a phrase and a label (a typo: "dealy pedal"); a label must be said whole."""
_DETERMINERS = re.compile(r"^(?:(?:the|a|an|my|this|that|these|those|your|one)\s+)+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ItemMatch:
    item_id: str
    exact: bool
    score: float


@dataclass
class Catalog:
    """Known ids and titles (a snapshot of the review store; :meth:`add` keeps it current)."""

    users: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    titles: Mapping[str, str] = field(default_factory=dict)
    """Item id -> title, only for items whose title is known (the shipped data has none)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Item id -> label made from its reviews, for items without a title whose reviews say what
    they are (kept with their profiles in the memory)."""

    def __post_init__(self) -> None:
        self._users = {u.upper(): u for u in self.users}
        self._items = {i.upper(): i for i in self.items}
        self.titles = dict(self.titles)
        self.labels = dict(self.labels)

    @classmethod
    def from_memory(cls, memory: Memory) -> Catalog:
        """The ids, titles and labels a memory holds now."""
        items = memory.item_ids()
        titles = memory.item_titles()
        untitled = [item for item in items if not display_name(item, titles.get(item))]
        return cls(users=memory.user_ids(), items=items, titles=titles, labels=item_labels(memory, untitled))

    def name(self, item_id: str) -> str:
        """How the item is shown: ``"delay pedal (B004M9CKVM)"``, its title likewise, or its id."""
        return item_name(item_id, self.titles.get(item_id), self.labels.get(item_id))

    @property
    def names(self) -> dict[str, str]:
        """Item id -> what it is called (title, else label), for the items that have either."""
        found = {item: display_name(item, self.titles.get(item), self.labels.get(item))
                 for item in {*self.titles, *self.labels}}
        return {item: name for item, name in found.items() if name}

    def add(self, user_id: str | None = None, item_id: str | None = None, title: str | None = None) -> None:
        """Remember ids a new review introduced."""
        if user_id and user_id.upper() not in self._users:
            self._users[user_id.upper()] = user_id
            self.users.append(user_id)
        if item_id and item_id.upper() not in self._items:
            self._items[item_id.upper()] = item_id
            self.items.append(item_id)
        if item_id and title:
            self.titles[item_id] = title  # type: ignore[index]

    # ------------------------------------------------------------------ users
    def has_user(self, user_id: str) -> bool:
        return user_id.upper() in self._users

    def find_user(self, token: str) -> str | None:
        """The known user id ``token`` names: exact (any case) or one or two characters off."""
        exact = self._users.get(token.upper())
        if exact is not None:
            return exact
        near = _near(token, self._users)
        return near[0] if near else None

    # ------------------------------------------------------------------ items
    def has_item(self, item_id: str) -> bool:
        return item_id.upper() in self._items

    def find_item(self, token: str) -> ItemMatch | None:
        """The known item id ``token`` names, exactly (any case) or nearly (a typo)."""
        exact = self._items.get(token.upper())
        if exact is not None:
            return ItemMatch(exact, True, 100.0)
        if len(token) < 8:
            return None
        near = _near(token, self._items)
        return ItemMatch(near[0], False, near[1]) if near else None

    def find_title(self, phrase: str) -> ItemMatch | None:
        """The item whose known title best matches ``phrase`` (None below :data:`TITLE_CUTOFF`)."""
        if not self.titles or len(phrase.strip()) < 3:
            return None
        found = process.extractOne(phrase, self.titles, scorer=fuzz.token_set_ratio,  # "Enya: Watermark" has "enya"
                                   processor=utils.default_process, score_cutoff=TITLE_CUTOFF)
        if not found:
            return None
        title, score, item_id = found
        return ItemMatch(item_id, title.lower() == phrase.strip().lower(), round(score, 1))

    def find_label(self, phrase: str) -> list[str]:
        """The items whose label ``phrase`` says ("the capo", "that delay pedal", "dealy pedal"),
        best first; several when items share the label, none when the phrase says more or less
        than a label (a brand: "the Snark tuner" is left to the semantic search)."""
        wanted = " ".join(utils.default_process(_DETERMINERS.sub("", phrase.strip())).split())
        if len(wanted) < 3 or not self.labels:
            return []
        scored = []
        for item, label in self.labels.items():
            known = " ".join(utils.default_process(label).split())
            score = 100.0 if _same_words(wanted, known) else fuzz.ratio(wanted, known)
            if score >= LABEL_CUTOFF:
                scored.append((-score, item))
        return [item for _, item in sorted(scored)]

    def id_tokens(self, text: str) -> list[str]:
        """Tokens of ``text`` that look like ids (known or not)."""
        return ID_TOKEN.findall(text)

    def mentioned_items(self, text: str) -> list[tuple[str, ItemMatch | None]]:
        """Each id-looking token of ``text`` that is not a known user, with its item match."""
        return [(token, self.find_item(token)) for token in self.id_tokens(text) if not self.has_user(token)]


def _same_words(phrase: str, label: str) -> bool:
    """The same words, a plural aside ("capos" for "capo", "picks" for "pick")."""
    one, other = phrase.split(), label.split()
    return len(one) == len(other) and all(a == b or a.rstrip("s") == b.rstrip("s") for a, b in zip(one, other))


def _near(token: str, table: Mapping[str, str]) -> tuple[str, float] | None:
    """The id in ``table`` (upper-cased id -> id) one or two characters off ``token``, and its score."""
    found = process.extractOne(token.upper(), list(table), scorer=fuzz.ratio, score_cutoff=ID_CUTOFF)
    return (table[found[0]], round(found[1], 1)) if found else None
