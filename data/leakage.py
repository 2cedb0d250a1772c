"""Does a reason give the rating away? Such reasons are rejected, the first candidate included.

A reason that says "4 stars" or "rated it 5" teaches the Predictor to copy a number instead of
reading preferences. The check is deliberately strict: any star count, any "x/5", any decimal
that looks like a score, and the words rating/rated/stars are all leaks.

Example:
    >>> leaks_rating("They would enjoy the warm tone.")
    >>> leaks_rating("Worth 4.0 easily")
    'score-like number'
"""

from __future__ import annotations

import re

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("star count", re.compile(r"\b(?:[0-5](?:\.\d+)?|one|two|three|four|five|half)[\s-]*stars?\b", re.I)),
    ("x out of 5", re.compile(r"\b\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*(?:5|five|10|ten)\b", re.I)),
    ("score-like number", re.compile(r"\b[0-5]\.\d\b")),
    ("the word star", re.compile(r"\bstars?\b", re.I)),
    ("the word rating", re.compile(r"\b(?:rating|ratings|rated|rates?|score[ds]?)\b", re.I)),
)


def leaks_rating(text: str) -> str | None:
    """The kind of leak found in ``text``, or None when it names no rating."""
    for name, pattern in _PATTERNS:
        if pattern.search(text):
            return name
    return None
