"""The singular and plural of an English noun, by rule, in one place: the aspect rules that match a
summary's phrase to its review (:mod:`.product_aspects`) and the Reasoner's aspect guard
(:mod:`.aspect_guard`) must agree on which words name one aspect ("batteries" and "battery",
"movies" and "movie"). A rule cannot tell "movies" (movie) from "batteries" (battery), so a
plural gives every singular it may be the plural of, and two words name one aspect when their
sets share a word."""

from __future__ import annotations

__all__ = ["plural_forms", "singulars", "stem"]


def singulars(word: str) -> frozenset[str]:
    """``word`` (lower-cased) and what it may be the plural of ("batteries": battery; "boxes":
    box; "movies": movie)."""
    word = word.lower()
    found = {word}
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        found.add(word[:-1])
        if word.endswith("es"):
            found.add(word[:-2])
        if word.endswith("ies"):
            found.add(word[:-3] + "y")
    return frozenset(found)


def stem(word: str) -> str:
    """One form for comparing spellings ("sounds" -> "sound", "boxes" -> "box"): the shortest of
    :func:`singulars`, the same in every process."""
    return min(singulars(word), key=lambda form: (len(form), form))


def plural_forms(word: str) -> tuple[str, str]:
    """``word`` and its plural ("box": boxes, "battery": batteries, "cable": cables)."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word, word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word, word[:-1] + "ies"
    return word, word + "s"
