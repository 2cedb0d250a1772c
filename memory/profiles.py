"""Preference profiles: the merged aspects of a user's (or an item's) recent review summaries.

A profile is a short text built from summaries (never from raw review text, which is untrusted
and long) and names product aspects only: "great tone" counts as "tone", "good" or "mostly" not at
all, "peddar" as "pedal" where the reviews also say "pedal" (:func:`~reason4rec.experts.merge_summaries`),
so it embeds well for semantic search: a user's profile is compared with item
profiles ("items that give what this user values") and with other users' profiles. Items also
carry keywords from all their summaries: the shipped data has no titles, so "the Snark tuner"
is found through what buyers wrote about it.

Example:
    >>> s = "Positive Aspects: warm tone\\nNegative Aspects: hum\\nUser Preference Elements: tubes"
    >>> profile = build_profile("user", "A1", [(5.0, s), (4.0, s)], recent=10)
    >>> profile.text
    'Likes: tone. Dislikes: hum. Cares about: tube.'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..data import looks_like_markup
from ..experts import merge_summaries, parse_summary, tidy_summary

ProfileKind = Literal["user", "item"]


@dataclass(frozen=True, slots=True)
class Profile:
    """What the memory knows of one user or item, as text (embedded) and as aspect lists."""

    kind: ProfileKind
    entity_id: str
    text: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    likes: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    review_count: int = 0
    mean_rating: float = 0.0
    title: str = ""
    updated: float = field(default=0.0, compare=False)
    label: str = ""
    """An item's name made from its reviews ("delay pedal", see :mod:`.labels`); empty for a user,
    an item with a title, or one whose reviews do not say what it is."""

    def metadata(self) -> dict[str, str | int | float]:
        """Chroma metadata (scalars only): lists are stored joined with ``"; "``."""
        return {"kind": self.kind, "entity_id": self.entity_id, "positive": "; ".join(self.positive),
                "negative": "; ".join(self.negative), "likes": "; ".join(self.likes),
                "keywords": "; ".join(self.keywords), "review_count": self.review_count,
                "mean_rating": self.mean_rating, "title": self.title, "updated": self.updated, "label": self.label}

    @classmethod
    def from_metadata(cls, document: str, meta: dict) -> Profile:
        split = lambda key: tuple(p for p in str(meta.get(key, "")).split("; ") if p)  # noqa: E731
        return cls(meta["kind"], meta["entity_id"], document, split("positive"), split("negative"),
                   split("likes"), split("keywords"), int(meta.get("review_count", 0)),
                   float(meta.get("mean_rating", 0.0)), str(meta.get("title", "")),
                   float(meta.get("updated", 0.0)), str(meta.get("label", "")))


def build_profile(kind: ProfileKind, entity_id: str, reviews: Sequence[tuple[float, str]], *, recent: int,
                  title: str = "", updated: float = 0.0, label: str = "") -> Profile:
    """The profile of ``entity_id`` from its ``(rating, summary)`` pairs, oldest first.

    Aspects come from the ``recent`` latest summaries (tastes drift); keywords and the mean rating
    from all of them. ``label``: an item's name made from its reviews, kept with the profile (shown
    where the item has no title, and leading its text, so a search for "delay pedal" finds it).
    """
    summaries = [parse_summary(tidy_summary(text)) for _, text in reviews]  # no "none none ..." aspects
    # product aspects only ("good", "mostly" dropped), spelling variants merged over all the reviews
    merged = merge_summaries(summaries[-recent:], context=summaries)
    positive, negative, likes = (tuple(merged[key]) for key in ("positive", "negative", "likes"))
    keywords: tuple[str, ...] = ()
    if kind == "item":
        keywords = tuple(merge_summaries(summaries, top=8)["keywords"])
    ratings = [rating for rating, _ in reviews]
    mean = round(sum(ratings) / len(ratings), 3) if ratings else 0.0
    title = "" if looks_like_markup(title) else title  # a store filled before markup titles were refused
    label = label if kind == "item" and not title else ""
    heading = title or label[:1].upper() + label[1:]
    return Profile(kind, entity_id, _text(kind, positive, negative, likes, keywords, heading), positive,
                   negative, likes, keywords, len(reviews), mean, title, updated, label)


def _text(kind: ProfileKind, positive, negative, likes, keywords, title: str) -> str:
    parts = [f"{title}."] if title else []
    if kind == "item":
        parts += [f"Known for: {', '.join(keywords)}."] if keywords else []
        labels = ("Praised for", "Criticised for", "Buyers care about")
    else:
        labels = ("Likes", "Dislikes", "Cares about")
    for label, values in zip(labels, (positive, negative, likes)):
        if values:
            parts.append(f"{label}: {', '.join(values)}.")
    return " ".join(parts) or "No aspects known yet."
