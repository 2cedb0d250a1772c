"""Item labels: a short name for an item made from its own reviews, when the data has no title.

The shipped reviews (and many Amazon dumps) carry no product titles, so an item is an ASIN
(``B004M9CKVM``) a person cannot check. Its buyers name it, though: "this delay pedal", "these
strings", "it's a great capo", a review titled "Best capo ever". A label is the product noun its
buyers use most, read by plain rules that hold for any English review data (no word lists of a
category, no tagger model):

* **Where the product is named.** Only phrases that refer to the item itself count: what follows
  "this"/"these", "it's a ..." / "this is a ..." / "these are ...", and the review titles
  (``summary``). A phrase is a run of content words there, up to four (stop words, punctuation,
  words used as verbs and evaluative adjectives end it; leading adjectives are skipped).
* **Nouns without a tagger.** What counts as an adjective, a verb or a name is measured on the
  whole dataset: a word that often follows "very", "so", "really", "is" ... is evaluative ("great",
  "cheap", "sturdy"), one that often follows "I", "it", "to", "will" ... is a verb ("works",
  "sounds"), one mostly capitalised inside sentences is a name (a brand, a model: "Snark" says
  which tuner, not what it is). None can be a label's head (its last word); right after "this", a
  word that is also a verb or an adjective is a noun ("this switch is", "this light works").
* **Weighted by buyers, minus what every item has.** Each buyer counts once per word (half in a
  review title); a word's score is the squared share of the item's buyers who name it (a word
  most buyers say beats a rare one) times its inverse document frequency over the dataset's items
  (how many items' buyers name it), so "guitar", named by the buyers of every strap, capo and
  string set, loses to "capo" on a capo. The best word is widened with the word before (or after)
  it when enough of the same buyers say both ("delay pedal", "acoustic guitar saddle"), at most
  three words.
* **Less rather than wrong.** No label when too few buyers name anything (no reviews, one-word
  reviews, reviews in another language: a review counts only when it reads as English), or when
  two unrelated words are named about equally (a bundle, or reviews that compare products): the
  item is then shown by its id alone.

A real title (metadata) always wins; a title that is markup is no title (see
:func:`reason4rec.data.looks_like_markup`). Labels are computed when the memory builds an
item's profile and kept with it (``Profile.label``): showing one is a look-up.

Example:
    >>> reviews = {"B1": [("u1", "This capo holds well.", "Great capo"), ("u2", "Best capo I own.", "ok"),
    ...                   ("u3", "I love this capo on my guitar", "Five stars")],
    ...            "B2": [("u1", "These strings sound bright on my guitar.", "Nice strings"),
    ...                   ("u4", "These strings last.", "good"), ("u5", "my guitar loves them", "fine")]}
    >>> labels = label_items(reviews)
    >>> labels["B1"], labels["B2"]
    ('capo', 'strings')
    >>> item_name("B1", label=labels["B1"])
    'capo (B1)'
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data import looks_like_markup
from .store import clean_title

__all__ = ["MAX_LABEL_WORDS", "LabelModel", "StoreLabels", "dataset_item_names", "display_name", "function_words",
           "item_labels", "item_name", "item_names", "label_items", "needs_label", "review_texts", "texts_by_item",
           "word_stem"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ReviewTexts = Sequence[tuple[str, str, str]]
"""One item's reviews as ``(buyer id, review text, review title)``."""

MAX_LABEL_WORDS = 3
MAX_LABEL_CHARS = 60
MIN_BUYERS = 2
"""A label needs at least this many different buyers naming its head word ..."""
MIN_SHARE = 0.15
MANY_BUYERS = 4
"""... and at least this share of the item's buyers (who wrote English text), or this many."""
WIDEN_SHARE = 0.35
"""A word joins the head when this share of the head's buyers say both, side by side."""
FINAL_SHARE = 0.5
"""A label's head ends the phrase it is said in for at least this share of its buyers."""
TITLE_WEIGHT = 0.5
"""What a buyer naming a word only in a review title counts for."""
RIVAL_SHARE = 0.8
"""Two unrelated words scoring within this ratio of each other: several products, no label."""

_APOSTROPHE = str.maketrans({"\u2019": "'", "\u2018": "'"})
_CLAUSE = re.compile(r"[.!?;:,()\[\]{}\"\u201c\u201d\u2026*~|]+|\s[-\u2013\u2014]+\s|\n")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?(?:[-+/][A-Za-z0-9]+)*")

_DEICTIC = frozenset({"this", "these"})
_COPULA_SUBJECTS = frozenset({"it", "this", "that", "these", "they"})
_COPULAS = frozenset({"is", "was", "are", "were"})
_CONTRACTED = frozenset({"it's", "that's", "this's", "they're", "these're"})
_ARTICLES = frozenset({"a", "an", "the"})
_VERB_ENDINGS = ("s", "ed", "ing", "ly")
_TRIGGERS = _DEICTIC | _COPULA_SUBJECTS | _CONTRACTED
_GENERIC_NOUNS = _words("""
    product products item items thing things unit units one ones piece pieces purchase purchases buy buys deal
    deals money price prices cost value quality review reviews reviewer star stars order orders seller sellers
    shipping package packaging stuff way ways time times lot lots bit bits kind kinds sort sorts type types brand
    brands company model models version versions design set sets pair pairs pack packs bunch guy guys baby babies
    boy beast gem sucker puppy winner keeper bargain investment choice option options addition replacement
    upgrade alternative gift present condition job work use uses money's dollars bucks day days year years month
    months week weeks hour hours minute minutes ok okay fine lol thanks thank everyone anyone someone people
    person customer customers buyer buyers user users need needs needed want wanted part parts size sizes
    color colors colour colours look looks feel feeling sound sounds experience issue issues problem problems
    style styles
""")
"""Words of any product review that name no product (general English, no category's words)."""
_FILLERS = _words("""
    little small big large huge tiny cheap inexpensive expensive pricey new old older newer first second third
    last next other another whole entire same different real actual original main basic simple extra only
    single double particular certain specific several many few more most less least much very really quite
    pretty so too just also even still already rather fairly super truly definitely certainly absolutely
    probably possibly simply exactly highly well best better good great nice awesome excellent perfect fantastic
    amazing wonderful terrible awful horrible bad worse worst poor decent solid fine ok okay cool neat sweet
    lovely beautiful gorgeous ugly cute handy useful useless sturdy flimsy durable reliable quick fast slow easy
    hard heavy light lightweight nifty wonderful superb outstanding incredible unbelievable impressive
    ridiculous amazingly incredibly extremely totally completely fully usual standard typical average regular
    favorite favourite current previous former latter top overall all any every each some no
""")
"""Adjectives and degree words of any English review: skipped before a product noun, never one."""
_DEGREE = _words("""very so too really pretty quite extremely super fairly incredibly reasonably relatively
    amazingly surprisingly remarkably rather most least more less is are was were be been being seems seemed
    looks looked feels felt sounds sounded""")
"""Words after which an adjective follows ("very sturdy", "is great"): a word seen after them is evaluative."""
_SUBJECTS = _words("""i you we they he she it to will would can could should may might must don't doesn't
    didn't won't can't cannot wouldn't couldn't shouldn't does did do i'll i'd you'll it'll they'll we'll also
    just never always""")
"""Words after which a verb follows ("it works", "to tune"): a word often seen after them is a verb."""
_ADJECTIVE_RATIO, _VERB_RATIO, _NAME_RATIO, _MIN_CONTEXT = 0.12, 0.15, 0.5, 3
_ENGLISH_SHARE = 0.2
"""Share of a review's words that must be English function words for it to count as English."""
_FUNCTION_WORDS = _words("""the a an and or but of to in on at for with is are was were it this that these
    those i my me we our you your they their them he she his her not no be been have has had do does did
    very so as if than then from by about just all one can will would""")


_STOP_WORDS = _words("""
    a about above across after afterwards again against all almost alone along already also although always am
    among amongst amoungst amount an and another any anyhow anyone anything anyway anywhere are around as at
    back be became because become becomes becoming been before beforehand behind being below beside besides
    between beyond both but by call can cannot cant co con could couldnt cry de describe detail do done down due
    during each eg eight either eleven else elsewhere empty enough etc even ever every everyone everything
    everywhere except few fifteen fifty fill find first five for former formerly forty found four from full
    further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers herself him
    himself his how however hundred i ie if in inc indeed into is it its itself keep last latter latterly least
    less ltd made many may me meanwhile might mine more moreover most mostly move much must my myself name
    namely neither never nevertheless next nine no nobody none noone nor not nothing now nowhere of off often on
    once one only onto or other others otherwise our ours ourselves out over own part per perhaps please put
    rather re same see seem seemed seeming seems serious several she should show since sincere six sixty so some
    somehow someone something sometime sometimes somewhere still such take ten than that the their them
    themselves then thence there thereafter thereby therefore therein thereupon these they third this those
    though three through throughout thru thus to together too toward towards twelve twenty two un under until up
    upon us very via was we well were what whatever when whence whenever where whereafter whereas whereby
    wherein whereupon wherever whether which while whither who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves
    i'm i've it's don't doesn't isn't can't won't didn't wasn't i'd i'll that's there's you're they're let's
    thick thin
""")
"""English function words (scikit-learn's list, less its few nouns such as "system" and "top"):
never part of a label."""


def _stop_words() -> frozenset[str]:
    return _STOP_WORDS


def function_words() -> frozenset[str]:
    """The English function words labels never name an item by (for modules that read words as
    labels do, such as :mod:`.need_search`)."""
    return _STOP_WORDS


def word_stem(word: str) -> str:
    """A lower-case word's stem as labels count it (Snowball English, a possessive dropped), so
    other modules match words exactly as labels and :attr:`LabelModel.head_df` name them."""
    return _stem(word)


@functools.cache
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word.removesuffix("'s"))


_Clause = tuple[list[str], list[str]]
"""A clause's tokens as written and lower-cased."""


def _clauses(text: str) -> list[_Clause]:
    """The tokens of each clause (punctuation and dashes end a clause)."""
    return [(tokens, text.lower().split()) for part in _CLAUSE.split(text.translate(_APOSTROPHE))
            if (tokens := _TOKEN.findall(part)) and (text := " ".join(tokens))]


def _english(clauses: list[_Clause]) -> bool:
    words = [w for _, lower in clauses for w in lower]
    if not words:
        return False
    if len(words) < 4:
        return any(w in _FUNCTION_WORDS for w in words) or all(w.isascii() for w in words)
    return sum(w in _FUNCTION_WORDS for w in words) / len(words) >= _ENGLISH_SHARE


@dataclass(slots=True)
class _Evidence:
    """What one item's buyers say of it: each buyer's runs of words in product-naming places."""

    buyers: int = 0
    heads: Counter = field(default_factory=Counter)
    """stem -> buyers who name it in a run, a review title's counting half (titles are looser:
    "Five stars for this amount of joy")."""
    finals: Counter = field(default_factory=Counter)
    """stem -> buyers who end a run with it (as ``heads``): a noun ends its phrase, "variable" in
    "variable speed" does not."""
    named: Counter = field(default_factory=Counter)
    """stem -> buyers who name it anywhere (whole)."""
    pairs: Counter = field(default_factory=Counter)
    """(stem, next stem) -> buyers who say them side by side in a run."""
    context: Counter = field(default_factory=Counter)
    """(stem, next stem) -> buyers who say them side by side anywhere (see ``_context_pairs``)."""
    forms: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """stem -> its forms, lower case."""
    nounish: Counter = field(default_factory=Counter)
    """stem -> buyers who use a word that is a verb elsewhere as this item's noun ("this switch")."""
    written: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """stem -> its forms as written inside sentences of review text (capitals kept)."""


class LabelModel:
    """What a whole dataset says about words (which are evaluative, which are verbs, how many items
    name each), and the labels of items from their reviews given that.

    Fit once on all items' reviews (:meth:`fit`); :meth:`label` is then quick for any item,
    including one added later (its words are judged by the dataset it joined).
    """

    def __init__(self, items: int, head_df: Mapping[str, int], adjectives: frozenset[str],
                 verbs: frozenset[str], names: frozenset[str] = frozenset(),
                 vocabulary: frozenset[str] = frozenset()) -> None:
        self.items, self.head_df = max(items, 1), dict(head_df)
        self.adjectives, self.verbs, self.names, self.vocabulary = adjectives, verbs, names, vocabulary

    @classmethod
    def fit(cls, reviews_by_item: Mapping[str, ReviewTexts]) -> LabelModel:
        parsed = {item: [_parse(review) for review in reviews] for item, reviews in reviews_by_item.items()}
        seen, written, bigrams = Counter(), Counter(), Counter()
        for reviews in parsed.values():
            for _, text_clauses, title_clauses, _english_text in reviews:
                for tokens, _ in text_clauses:  # titles are often Title Case: not counted
                    written.update(tokens[1:])
                for _, lower in (*text_clauses, *title_clauses):
                    seen.update(lower)
                    bigrams.update(itertools.pairwise(lower))
        inside, capital, after_degree, after_subject = Counter(), Counter(), Counter(), Counter()
        for word, n in written.items():
            inside[word.lower()] += n
            if word[0].isupper():
                capital[word.lower()] += n
        for (before, word), n in bigrams.items():
            if before in _DEGREE:
                after_degree[word] += n
            elif before in _SUBJECTS:
                after_subject[word] += n
        adjectives = frozenset(w for w, n in after_degree.items()
                               if n >= _MIN_CONTEXT and n / seen[w] >= _ADJECTIVE_RATIO)
        verbs = frozenset(w for w, n in after_subject.items() if n >= _MIN_CONTEXT and n / seen[w] >= _VERB_RATIO)
        names = frozenset(w for w, n in capital.items() if n >= _MIN_CONTEXT - 1 and n / inside[w] >= _NAME_RATIO)
        vocabulary = frozenset(w for w, n in inside.items() if n >= _MIN_CONTEXT - 1)
        adverbs = frozenset(w for w in seen if len(w) > 4 and w.endswith("ly") and w[:-2] in seen)
        verbs |= adverbs  # "directly", "nicely": never a noun, and their stems ("direct") would pass for one
        model = cls(len(parsed), {}, adjectives, verbs, names, vocabulary)
        df: Counter = Counter()
        for reviews in parsed.values():
            df.update(model._evidence(reviews, context=False).heads.keys())
        model.head_df = dict(df)
        return model

    @classmethod
    def from_store(cls, store: Any) -> LabelModel:
        """Fitted on every review a review store holds."""
        return cls.fit(texts_by_item(store))

    # ------------------------------------------------------------------ one item
    def label(self, reviews: ReviewTexts) -> str:
        """The item's label from its ``(buyer, text, title)`` reviews; empty when it cannot say."""
        return self.explain(reviews)[0]

    def explain(self, reviews: ReviewTexts) -> tuple[str, list[tuple[str, int, float]]]:
        """The label and the best head words with their buyers and scores (to check a label)."""
        evidence = self._evidence([_parse(review) for review in reviews])
        if not evidence.buyers:
            return "", []
        scores = {stem: (count / evidence.buyers) ** 2 * self._idf(stem) for stem, count in evidence.heads.items()
                  if self._headable(evidence, stem)}
        ranked = sorted(scores, key=lambda s: (-scores[s], s))
        shown = [(self._form(evidence, s), evidence.heads[s], round(scores[s], 3)) for s in ranked[:5]]
        if not ranked:
            return "", shown
        best = ranked[0]
        phrase = self._widen(evidence, best)
        head = phrase[-1]
        count = evidence.heads[head]
        if evidence.named[head] < MIN_BUYERS or count < MIN_BUYERS - TITLE_WEIGHT \
                or (count / evidence.buyers < MIN_SHARE and count < MANY_BUYERS):
            return "", shown
        for rival in ranked[1:]:
            if scores[rival] < RIVAL_SHARE * scores[best]:
                break
            if rival not in phrase and not self._related(evidence, phrase, rival) \
                    and evidence.heads[rival] >= RIVAL_SHARE * evidence.heads[best]:
                return "", shown  # two products named alike: say nothing rather than pick one
        words = [self._shown(evidence, stem) for stem in phrase]
        return clean_title(" ".join(words))[:MAX_LABEL_CHARS].strip(), shown

    # ------------------------------------------------------------------ internals
    def _idf(self, stem: str) -> float:
        return math.log((self.items + 1) / (self.head_df.get(stem, 0) + 1)) + 0.1

    def _headable(self, evidence: _Evidence, stem: str) -> bool:
        """Can ``stem`` be what a label names? Not an adjective, a verb, a name (a brand or a
        model: "Snark" may say which tuner, not what it is), a number or a word of every review."""
        form = self._form(evidence, stem).lower()
        verb = (form in self.verbs or form in self.adjectives) and evidence.nounish[stem] < MIN_BUYERS
        modifier = evidence.finals[stem] < FINAL_SHARE * evidence.heads[stem]
        return (not verb and not modifier and not self._name(evidence, stem)
                and stem not in _generic_stems() and not form.isdigit() and len(form) >= 2
                and any(c.isalpha() for c in form))

    def _name(self, evidence: _Evidence, stem: str) -> bool:
        """A proper name: mostly capitalised inside sentences, over the dataset or (a word the
        dataset does not know) in this item's reviews."""
        lower = self._form(evidence, stem).lower()
        if lower in self.names or lower in self.vocabulary:
            return lower in self.names
        written = evidence.written[stem]
        total = sum(written.values())
        return total >= 2 and sum(n for w, n in written.items() if w[0].isupper()) / total >= _NAME_RATIO

    def _widen(self, evidence: _Evidence, best: str) -> list[str]:
        """``best`` with the words its buyers say right after, then before it (at most three)."""
        phrase = [best]
        while len(phrase) < MAX_LABEL_WORDS:
            nxt = self._neighbour(evidence, phrase[-1], after=True)
            if nxt is None or nxt in phrase or not self._headable(evidence, nxt):
                break
            phrase.append(nxt)
        head = evidence.heads[phrase[-1]]
        while len(phrase) < MAX_LABEL_WORDS:
            before = self._neighbour(evidence, phrase[0], after=False, base=head)
            if before is None and len(phrase) == 1:  # "delay pedal": said anywhere, if not where it is named
                before = self._neighbour(evidence, phrase[0], after=False, base=head, pairs=evidence.context)
            if before is None or before in phrase or self._second_half(evidence, before, phrase[0]):
                break
            form = self._form(evidence, before).lower()
            if form in self.verbs or form in _FILLERS or before in _generic_stems():
                break
            phrase.insert(0, before)
        return phrase

    def _neighbour(self, evidence: _Evidence, stem: str, *, after: bool, base: float | None = None,
                   pairs: Mapping[tuple[str, str], int] | None = None) -> str | None:
        """The word said right after (before) ``stem`` by enough of the buyers who name ``stem``
        (or ``base`` buyers: those who name the label's head)."""
        pairs = evidence.pairs if pairs is None else pairs
        side = [(pair[1] if after else pair[0], n) for pair, n in pairs.items()
                if (pair[0] if after else pair[1]) == stem]
        if not side:
            return None
        word, count = max(side, key=lambda kv: (kv[1], kv[0]))
        needed = max(MIN_BUYERS, WIDEN_SHARE * (evidence.heads[stem] if base is None else base))
        return word if count >= needed else None

    def _second_half(self, evidence: _Evidence, word: str, head: str) -> bool:
        """Is ``word`` mostly the end of a compound a label cannot hold ("sound hole" before
        "pickup": "sound" is a word of every review), so that it would name half a thing?"""
        said = evidence.context.get((word, head), 0) or evidence.pairs.get((word, head), 0)
        before = [(n, first) for (first, second), n in evidence.context.items() if second == word]
        if not before:
            return False
        count, first = max(before)
        return first in _generic_stems() and count * 2 >= said

    @staticmethod
    def _related(evidence: _Evidence, phrase: list[str], rival: str) -> bool:
        """Is ``rival`` said side by side with the phrase's words by some buyer ("delay" and "pedal")?"""
        return any(evidence.pairs.get((rival, w)) or evidence.pairs.get((w, rival)) for w in phrase)

    @staticmethod
    def _form(evidence: _Evidence, stem: str) -> str:
        """The word as its buyers write it most (lower case)."""
        return max(evidence.forms[stem].items(), key=lambda kv: (kv[1], kv[0]))[0]

    def _shown(self, evidence: _Evidence, stem: str) -> str:
        """The word as shown: lower case, but a name or an acronym as written ("Snark", "USB")."""
        form = self._form(evidence, stem)
        written = [(n, w) for w, n in evidence.written[stem].items() if w.lower() == form]
        total = sum(n for n, _ in written)
        capitals = [(n, w) for n, w in written if not w.islower()]
        acronym = sum(n for n, w in capitals if w.isupper() and 1 < len(w) <= 4) * 2 > total  # USB, XLR
        if capitals and (acronym or self._name(evidence, stem)):
            return max(capitals)[1]
        return form

    def _evidence(self, reviews: Iterable[_Parsed], *, context: bool = True) -> _Evidence:
        """What the buyers of one item say of it; ``context``: also which words stand before
        which anywhere in their reviews (for widening a label, not needed to fit)."""
        evidence = _Evidence()
        for _, text_clauses, title_clauses, english in reviews:
            if not english:
                continue
            evidence.buyers += 1
            heads: dict[str, float] = {}
            finals: dict[str, float] = {}
            pairs: set[tuple[str, str]] = set()
            nounish: set[str] = set()
            runs = [(run, True) for clause in text_clauses for run in self._naming_runs(clause)]
            runs += [(run, False) for clause in title_clauses for run in self._title_runs(clause)]
            for run, in_text in runs:
                stems = [_stem(w.lower()) for _, w in run]
                for (position, word), stem in zip(run, stems):
                    heads[stem] = max(heads.get(stem, 0.0), 1.0 if in_text else TITLE_WEIGHT)
                    if word.lower() in self.verbs or word.lower() in self.adjectives:
                        nounish.add(stem)
                    evidence.forms[stem][word.lower()] += 1
                    if in_text and position > 0:
                        evidence.written[stem][word] += 1
                pairs.update(itertools.pairwise(stems))
                finals[stems[-1]] = max(finals.get(stems[-1], 0.0), 1.0 if in_text else TITLE_WEIGHT)
            if context:
                evidence.context.update(self._context_pairs(evidence, text_clauses + title_clauses))
            evidence.heads.update(heads)
            evidence.finals.update(finals)
            evidence.named.update(heads.keys())
            evidence.nounish.update(nounish)
            evidence.pairs.update(pairs)
        return evidence

    def _context_pairs(self, evidence: _Evidence, clauses: list[_Clause]) -> set[tuple[str, str]]:
        """(modifier, word) stems said side by side anywhere, the modifier a plain content word
        (no name: "Boss pedal" on another maker's pedal is a comparison)."""
        stop, pairs = _stop_words(), set()
        for _, lower in clauses:
            for first, second in itertools.pairwise(lower):
                if first in stop or first in _FILLERS or first in self.adjectives or first in self.verbs \
                        or first in self.names or "'" in first or not first.isalpha() or second in stop:
                    continue
                stem = _stem(first)
                evidence.forms[stem][first] += 1
                pairs.add((stem, _stem(second)))
        return pairs

    def _naming_runs(self, clause: _Clause) -> Iterator[list[tuple[int, str]]]:
        """Runs of content words where the review names its item: after "this"/"these", after
        "it is a" / "these are" and the like."""
        lower = clause[1]
        if not _TRIGGERS.intersection(lower):
            return
        for i, word in enumerate(lower):
            start = None
            if word in _DEICTIC or word in _CONTRACTED:
                start = i + 1
            elif word in _COPULA_SUBJECTS and i + 1 < len(lower) and lower[i + 1] in _COPULAS:
                start = i + 2
            if start is None:
                continue
            while start < len(lower) and lower[start] in _ARTICLES:
                start += 1
            run = self._run(clause, lower, start, noun_first=word == "this")
            if run:
                yield run

    def _title_runs(self, clause: _Clause) -> Iterator[list[tuple[int, str]]]:
        """Runs of content words anywhere in a review's title ("Best capo ever" -> "capo")."""
        lower = clause[1]
        i = 0
        while i < len(lower):
            run = self._run(clause, lower, i)
            if run:
                yield run
            i = run[-1][0] + 2 if run else i + 1

    def _run(self, clause: _Clause, lower: list[str], start: int, *,
             noun_first: bool = False) -> list[tuple[int, str]]:
        """The content words from ``start``: leading adjectives skipped, up to four words, ended by
        a stop word, a verb or an evaluative adjective. ``noun_first``: right after "this", a word
        used as a verb elsewhere is a noun unless it has a verb's ending ("this switch", not
        "this works", "this arrived"), and so is one used as an adjective elsewhere when a verb or
        a function word follows it ("this light is", not "this light capo")."""
        stop = _stop_words()
        i = start
        if noun_first and i < len(lower) and lower[i] in self.adjectives and lower[i] not in _FILLERS \
                and lower[i] not in stop and "'" not in lower[i] \
                and (i + 1 == len(lower) or lower[i + 1] in stop or lower[i + 1] in self.verbs):
            return [(i, clause[0][i])]
        while i < len(lower) and lower[i] not in stop \
                and (lower[i] in _FILLERS or lower[i] in self.adjectives or lower[i].isdigit()):
            i += 1
        run: list[tuple[int, str]] = []
        while i < len(lower) and len(run) < 4:
            word = lower[i]
            verb = word in self.verbs and not (noun_first and i == start and not word.endswith(_VERB_ENDINGS))
            if word in stop or verb or word in self.adjectives or word in _FILLERS or "'" in word or word.isdigit():
                break
            run.append((i, clause[0][i]))
            i += 1
        return run


_Parsed = tuple[str, list[_Clause], list[_Clause], bool]


def _parse(review: tuple[str, str, str]) -> _Parsed:
    buyer, text, title = review
    text_clauses, title_clauses = _clauses(text or ""), _clauses(title or "")
    english = _english(text_clauses) if text_clauses else bool(title_clauses) and _english(title_clauses)
    return buyer, text_clauses, title_clauses, english


@functools.cache
def _generic_stems() -> frozenset[str]:
    return frozenset(_stem(w) for w in _GENERIC_NOUNS)


class StoreLabels:
    """Labels for the items of a review store, fitted lazily: the word statistics are learnt from
    every stored review (:meth:`LabelModel.from_store`, about 3 s for the shipped data) the first
    time an item that could have a label (two buyers or more) needs one, so adding a review of a
    new item costs nothing extra."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._model: LabelModel | None = None

    def label(self, reviews: ReviewTexts) -> str:
        if len({buyer for buyer, text, title in reviews if f"{text}{title}".strip()}) < MIN_BUYERS:
            return ""
        if self._model is None:
            self._model = LabelModel.from_store(self._store)
        return self._model.label(reviews)


def review_texts(reviews: Iterable[Any]) -> list[tuple[str, str, str]]:
    """``(buyer, text, title)`` of stored reviews (anything with ``user_id``, ``text`` and ``title``)."""
    return [(r.user_id, r.text, r.title) for r in reviews]


def texts_by_item(store: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Every item of a review store -> its reviews' ``(buyer, text, title)``, read in one query."""
    texts: dict[str, list[tuple[str, str, str]]] = {item: [] for item in store.item_ids()}
    for review in store.all_reviews():
        texts.setdefault(review.item_id, []).append((review.user_id, review.text, review.title))
    return texts


def needs_label(item_id: str, title: str | None) -> bool:
    """Does the item need a label made from its reviews (no title, or a title that is markup)?"""
    return not display_name(item_id, title)


def item_labels(memory: Any, item_ids: Iterable[str]) -> dict[str, str]:
    """Item id -> the label kept with its profile, for the items that have one (a look-up in the
    memory's vectors: nothing is computed; items whose profile predates labels have none until
    their profile is rebuilt)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return {}
    found = memory.vectors.profiles("item", ids)
    return {item: profile.label for item, profile in found.items() if profile.label}


def item_names(memory: Any, item_ids: Iterable[str]) -> dict[str, str]:
    """Item id -> what to call it (its title, else its label) for the items that have either."""
    ids = list(dict.fromkeys(item_ids))
    labels = item_labels(memory, ids)
    names = {item: display_name(item, memory.item_title(item), labels.get(item)) for item in ids}
    return {item: name for item, name in names.items() if name}


def label_items(reviews_by_item: Mapping[str, ReviewTexts], model: LabelModel | None = None) -> dict[str, str]:
    """Item id -> label (empty where none can be made) for every item of ``reviews_by_item``."""
    model = model or LabelModel.fit(reviews_by_item)
    return {item: model.label(reviews) for item, reviews in reviews_by_item.items()}


def dataset_item_names(dataset: Any) -> dict[str, str]:
    """Item id -> how it is shown (``"capo (B005VLR6XC)"``, its title, or the id alone) for every
    item of a loaded review file: for views that run before or without a memory, such as the
    demo's deliberations (the memory keeps labels with its profiles instead)."""
    texts = _dataset_texts(dataset)
    labels = label_items(texts)
    return {item: item_name(item, dataset.item_titles.get(item), labels[item]) for item in texts}


def _dataset_texts(dataset: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Every item of a loaded review file -> its reviews' ``(buyer, text, title)``."""
    by_item: dict[str, list] = defaultdict(list)
    for review in dataset.reviews:
        by_item[review.item_id].append(review)
    return {item: review_texts(reviews) for item, reviews in by_item.items()}


def display_name(item_id: str, title: str | None = None, label: str | None = None) -> str:
    """What an item is called: its title (not markup, not its id), else its label, else ``""``."""
    for name in (title, label):
        if name and not looks_like_markup(name):
            cleaned = clean_title(name)
            if cleaned and cleaned != item_id:
                return cleaned
    return ""


def item_name(item_id: str, title: str | None = None, label: str | None = None) -> str:
    """How an item is shown to a person: ``"delay pedal (B004M9CKVM)"``, or the id alone."""
    name = display_name(item_id, title, label)
    return f"{name} ({item_id})" if name else item_id


def _check(argv: Sequence[str] | None = None) -> None:
    """``python -m reason4rec.memory.labels [REVIEWS [META]] [--sample N] [--seed S]``: label every
    item of a review file (default: the shipped data) and print a seeded random sample with the
    words behind each label and the first reviews, to be read against them (docs/labels-check.md)."""
    import argparse
    import random

    from ..data import load_reviews, load_shipped

    parser = argparse.ArgumentParser(prog="python -m reason4rec.memory.labels")
    parser.add_argument("reviews", nargs="?")
    parser.add_argument("meta", nargs="?")
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--seed", type=int, default=37)
    args = parser.parse_args(argv)
    dataset = load_reviews(args.reviews, args.meta, on_duplicate="keep-latest") if args.reviews else load_shipped()
    by_item: dict[str, list] = defaultdict(list)
    for review in dataset.reviews:
        by_item[review.item_id].append(review)
    texts = {item: review_texts(reviews) for item, reviews in by_item.items()}
    model = LabelModel.fit(texts)
    labels = {item: model.explain(reviews) for item, reviews in texts.items()}
    titled = sum(1 for item in by_item if not needs_label(item, dataset.item_titles.get(item)))
    named = sum(1 for label, _ in labels.values() if label)
    print(f"{len(by_item)} items: {titled} with a title, {named} with a label made from their reviews")
    items = sorted(by_item)
    random.Random(args.seed).shuffle(items)
    for number, item in enumerate(items[:args.sample], 1):
        label, words = labels[item]
        title = dataset.item_titles.get(item)
        print(f"\n{number}. {item_name(item, title, label)}  [{len(by_item[item])} reviews; "
              + ", ".join(f"{w} {n:g}" for w, n, _ in words[:4]) + "]")
        for review in by_item[item][:5]:
            print(f"   - {review.title[:60]} | {' '.join(review.text.split())[:160]}")


if __name__ == "__main__":
    _check()
