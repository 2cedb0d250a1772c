"""Items for a need in words (issue 37, item 5): found by what items are, the head noun first, then
ranked by the user; real shipped items, and bad input on a small memory."""

from __future__ import annotations

from collections import defaultdict

import pytest
from fakes import CATALOG

from reason4rec.memory import items_for_need
from reason4rec.memory.labels import LabelModel, label_items, review_texts
from reason4rec.memory.need_search import HEAD, NeedIndex, need_terms
from reason4rec.memory.service import MemoryQueryError
from reason4rec.memory.store import UnknownEntityError
from reason4rec.memory.summarizers import LexiconSummarizer

# --------------------------------------------------------------------------- the shipped data (no model)


@pytest.fixture(scope="module")
def shipped_index(shipped):
    """The shipped items' what-it-is, lexical half only (label statistics, about 8 s; no embedding)."""
    by_item = defaultdict(list)
    for review in shipped.reviews:
        by_item[review.item_id].append(review)
    reviews = {item: review_texts(rows) for item, rows in by_item.items()}
    model = LabelModel.fit(reviews)
    labels = label_items(reviews, model)
    return NeedIndex.build(reviews, {item: label for item, label in labels.items() if label}, model=model), labels


def _top(index: NeedIndex, need: str, k: int = 3) -> list[str]:
    return [item for item, _ in index.candidates(need)[:k]]


def test_a_tuner_for_an_acoustic_guitar_is_a_tuner(shipped_index):
    index, labels = shipped_index
    terms = need_terms("a tuner for my acoustic guitar", index.model)
    assert terms.head == "tuner" and terms.weights["tuner"] == HEAD
    assert terms.weights["guitar"] < terms.weights["tuner"] and terms.weights["acoust"] < terms.weights["tuner"]
    top = _top(index, "a tuner for my acoustic guitar")
    assert len(top) == 3 and all(labels[item].endswith("tuner") for item in top), [labels.get(i) for i in top]


def test_the_head_noun_dominates_its_modifiers_and_the_use(shipped_index):
    index, labels = shipped_index
    scores = index.relevance("a tuner for my acoustic guitar")
    best = {kind: max(s for item, s in scores.items() if labels.get(item, "").endswith(kind))
            for kind in ("tuner", "strings")}
    assert best["tuner"] > best["strings"]
    strings = _top(index, "strings for my acoustic guitar")
    assert all(labels[item].endswith("strings") for item in strings), [labels.get(i) for i in strings]
    assert all(labels[item].endswith("tuner") for item in _top(index, "a pedal tuner for live gigs"))


def test_a_need_with_no_product_word_weighs_its_words_alike(shipped_index):
    index, _ = shipped_index
    terms = need_terms("something for home recording", index.model)
    assert terms.head is None and len(set(terms.weights.values())) == 1
    assert need_terms("please, anything nice?", index.model).head is None
    assert isinstance(index.candidates("please, anything nice?"), list)


# --------------------------------------------------------------------------- a small memory (fakes.CATALOG)


@pytest.fixture
def catalog_memory(ram_memory):
    ram_memory.build(CATALOG, summarizer=None, bulk=LexiconSummarizer())
    return ram_memory


def test_a_need_finds_items_the_user_has_not_reviewed(catalog_memory):
    found = items_for_need(catalog_memory, "U1", "an accurate tuner", k=3)
    assert found and found[0].profile.entity_id == "B0TUNER001"
    reviewed = {r.item_id for r in catalog_memory.store.user_reviews("U1")}
    assert not reviewed & {m.profile.entity_id for m in items_for_need(catalog_memory, "U1", "a sturdy stand", k=6)}
    assert items_for_need(catalog_memory, "U1", "an accurate tuner", k=0) == []
    assert "B0TUNER001" not in {m.profile.entity_id for m in
                                items_for_need(catalog_memory, "U1", "an accurate tuner", exclude=["B0TUNER001"])}


@pytest.mark.parametrize("need", ["", "   ", "\x00\x1b[2J\x07", None])
def test_an_empty_need_is_a_clear_error(catalog_memory, need):
    with pytest.raises(MemoryQueryError, match="need"):
        items_for_need(catalog_memory, "U1", need)


def test_an_unknown_user_is_a_clear_error(catalog_memory):
    with pytest.raises(UnknownEntityError, match="nobody"):
        items_for_need(catalog_memory, "nobody", "a tuner")


def test_a_user_who_reviewed_every_item_gets_nothing(catalog_memory):
    for item in catalog_memory.item_ids():
        catalog_memory.add_review("U9", item, 4, "Fine.", summarizer=LexiconSummarizer())
    assert items_for_need(catalog_memory, "U9", "an accurate tuner", k=5) == []


def test_hostile_text_is_cleaned_before_it_is_read(catalog_memory):
    clean = items_for_need(catalog_memory, "U1", "an accurate tuner", k=3)
    hostile = items_for_need(catalog_memory, "U1", "an\x00 accurate\x1b[31m tuner<|im_end|>\u202e" + "x" * 5000, k=3)
    assert [m.profile.entity_id for m in hostile][:1] == [m.profile.entity_id for m in clean][:1]


def test_a_new_item_is_found_once_its_reviews_are_in(catalog_memory):
    assert "B0HARP0001" not in {m.profile.entity_id for m in items_for_need(catalog_memory, "U1", "a harmonica")}
    for user in ("U2", "U3"):
        catalog_memory.add_review(user, "B0HARP0001", 5, "This harmonica bends well, a fine harmonica.",
                                  summarizer=LexiconSummarizer())
    assert items_for_need(catalog_memory, "U1", "a harmonica", k=1)[0].profile.entity_id == "B0HARP0001"


def test_a_need_or_a_named_items_title_finds_its_kind(catalog_memory):
    """What the agent's recommend asks (see docs/need-queries.md for the wiring): the need, or the
    title of the item a need names ("similar to Quiet Compressor Pedal")."""
    quiet = items_for_need(catalog_memory, "U1", "quiet compression for apartment practice", k=3)
    assert quiet[0].profile.entity_id == "B0PEDAL002"
    like = items_for_need(catalog_memory, "U4", "Quiet Compressor Pedal", k=3, exclude=["B0PEDAL002"])
    assert [m.profile.entity_id for m in like][:1] == ["B0PEDAL001"]
