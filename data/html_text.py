"""Scraped text: review text, summaries and item titles come from Amazon pages with their HTML.

They are cleaned once, at the loader (:func:`clean_text`), so prompts and tables never show
``&quot;`` or ``<br />``; and a metadata "title" that is markup (:func:`looks_like_markup`) is never
taken for a name.

Example:
    >>> clean_text("Stone &amp; Light<br />lasts")
    'Stone & Light lasts'
    >>> looks_like_markup('<span class="a-size-medium"'), looks_like_markup("under <$20")
    (True, False)
"""

from __future__ import annotations

import html
import re

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


