"""A product's name from its metadata when the title is missing or markup.

Most 2018 Magazine Subscriptions titles are HTML (``<span class="a-size-medium ...``); the brand
(``store`` in the 2023 release) or the description's opening clause then names the product. Plain
rules on the words' case and endings, no tagger (see :func:`name_from_metadata`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .html_text import clean_text, looks_like_markup

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


MAX_BRAND_ITEMS = 2
"""A brand on more items of a metadata file is a maker or publisher ("Meredith"), not a product's name."""


def metadata_brand(record: dict[str, Any]) -> str:
    """The maker's name on a metadata line, cleaned: ``brand`` (2014, 2018) or ``store`` (2023)."""
    brand = record.get("brand") or record.get("store")
    return " ".join(clean_text(brand).split()) if isinstance(brand, str) else ""


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
    brand = metadata_brand(record)
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


