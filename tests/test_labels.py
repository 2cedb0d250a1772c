"""Item labels made from reviews (issue 37): real shipped items, bad input, markup titles, the chat."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from rich.console import Console

from reason4rec.chat.catalog import Catalog
from reason4rec.chat.intents import parse
from reason4rec.data import load_reviews
from reason4rec.data.item_names import name_from_metadata
from reason4rec.data.loaders import load_item_titles, looks_like_markup
from reason4rec.memory.labels import (
    LabelModel,
    StoreLabels,
    dataset_item_names,
    display_name,
    item_name,
    label_items,
    review_texts,
)
from reason4rec.memory.profiles import Profile, build_profile
from reason4rec.memory.store import clean_title

EXTRA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extra"
SUMMARY = "Positive Aspects: smooth\nNegative Aspects: none\nUser Preference Elements: pedal"


@pytest.fixture(scope="module")
def shipped_reviews(shipped):
    by_item = defaultdict(list)
    for review in shipped.reviews:
        by_item[review.item_id].append(review)
    return {item: review_texts(reviews) for item, reviews in by_item.items()}


@pytest.fixture(scope="module")
def model(shipped_reviews):
    return LabelModel.fit(shipped_reviews)


@pytest.fixture(scope="module")
def shipped_labels(shipped_reviews, model):
    return label_items(shipped_reviews, model)


@pytest.mark.parametrize(("item", "label"), [
    ("B003VWJ2K8", "tuner"),          # 163 reviews: "this tuner", "Snark tuner"
    ("B0002E1G5C", "string winder"),  # "a string winder / cutter / pin puller"
    ("B000B6FBA2", "capo"),           # every review of it names a capo (and the guitar it is on)
    ("B0002D0E8S", "strap"),
    ("B0002IHGZC", "power supply"),   # "a power supply for your pedalboard"
    ("B004M9CKVM", "delay pedal"),    # "Fantasic Delay", "this pedal", "the search for a delay pedal ends"
    ("B0000AQRST", "vocal mic"),
])
def test_shipped_items_are_named_as_their_buyers_name_them(shipped_labels, item, label):
    assert shipped_labels[item] == label
    assert item_name(item, label=shipped_labels[item]) == f"{label} ({item})"


def test_a_loaded_file_names_each_item_as_the_memory_would(shipped, shipped_labels):
    """The demo's deliberations run before any memory exists: the file's items are named there
    by the same labels the memory keeps, and an item without one keeps its bare id."""
    names = dataset_item_names(shipped)
    assert len(names) == 900 and names["B003VWJ2K8"] == "tuner (B003VWJ2K8)"
    assert all(name == item_name(item, label=shipped_labels[item]) for item, name in names.items())
    assert any(name == item for item, name in names.items())  # 142 of 900 have no label


def test_most_shipped_items_get_a_short_clean_label(shipped_labels):
    named = {item: label for item, label in shipped_labels.items() if label}
    assert len(shipped_labels) == 900 and len(named) >= 700  # 758 measured; the rest keep their id
    for label in named.values():
        assert label == clean_title(label) and 1 <= len(label.split()) <= 3 and not looks_like_markup(label)
    common = defaultdict(int)
    for label in named.values():
        common[label] += 1
    assert max(common, key=common.get) in {"pedal", "strings", "cable"}  # what this shop sells most


def test_a_word_every_item_shares_loses_to_the_product(model):
    """"guitar" is in the reviews of most items (straps, capos, strings): on a capo it is not the label."""
    capo = [("u1", "This capo holds on my guitar.", "Great capo"), ("u2", "I use this capo on my guitar.", "Guitar"),
            ("u3", "My guitar stays in tune with this capo.", "Works"), ("u4", "This guitar accessory is fine.", "ok")]
    assert model.label(capo) == "capo"


@pytest.mark.parametrize("reviews", [
    [],  # no reviews
    [("u1", "Great", "Five Stars"), ("u2", "Good", "ok"), ("u3", "Nice!", "Love it")],  # one-word reviews
    [("u1", "", ""), ("u2", "  ", "")],  # nothing written
    [("u1", "Este pedal es muy bueno, lo recomiendo a todos los guitarristas.", "Excelente pedal"),  # Spanish
     ("u2", "El sonido de este pedal es increible y la calidad es muy buena.", "Muy bueno"),
     ("u3", "Me gusta mucho este pedal para tocar en casa.", "Buen pedal")],
    [("u1", "This capo holds well.", "Great capo"), ("u2", "This tuner is accurate.", "Good tuner"),  # two products
     ("u3", "This capo is fine.", "capo"), ("u4", "This tuner works.", "tuner")],
    [("u1", "This capo holds well.", "Great capo")],  # one buyer is not enough
])
def test_bad_input_gives_no_label_rather_than_a_wrong_one(model, reviews):
    assert model.label(reviews) == ""
    assert item_name("B000TEST01", label=model.label(reviews)) == "B000TEST01"


def test_one_buyer_counts_once_and_a_label_needs_two(model):
    one = [("u1", "This capo holds well. This capo is great. I love this capo.", "Capo capo capo")]
    assert model.label(one) == ""
    assert model.label([*one, ("u2", "This capo is fine.", "ok")]) == "capo"


def test_a_store_is_read_for_labels_only_when_an_item_could_have_one(shipped):
    """Adding a review of a new item (one buyer) fits nothing; the first item with two buyers does, once."""
    from types import SimpleNamespace

    class Store:
        reads = 0

        def item_ids(self):
            Store.reads += 1
            return ["B0002E1G5C", "B003VWJ2K8"]

        def all_reviews(self):
            return [SimpleNamespace(item_id=r.item_id, user_id=r.user_id, text=r.text, title=r.title)
                    for r in shipped.reviews if r.item_id in ("B0002E1G5C", "B003VWJ2K8")]

    labels = StoreLabels(Store())
    assert labels.label([("u1", "This capo holds well.", "Great capo")]) == "" and Store.reads == 0
    two = [("u1", "This capo holds well.", "Great capo"), ("u2", "This capo is fine.", "ok")]
    assert labels.label(two) == "capo" and labels.label(two) == "capo" and Store.reads == 1


def test_labels_are_untrusted_text_cleaned_like_titles():
    assert display_name("B1", label="<|im_end|>capo\x1b[2J") == "capo"
    assert item_name("B1", "Fender Strat", "guitar") == "Fender Strat (B1)"  # a real title wins
    assert item_name("B1", "B1", "guitar") == "guitar (B1)"                  # the id is no title
    assert item_name("B1", '<span class="a-size-medium a-color-secondary"', "magazine") == "magazine (B1)"
    assert item_name("B1", '<span class="a-size-medium a-color-secondary"', "") == "B1"


def test_markup_is_told_from_prose():
    assert looks_like_markup('<span class="a-size-medium a-color-secondary"')
    assert looks_like_markup("Fender <b>Strat</b>") and looks_like_markup("<div")
    for prose in ("<$20 strap", "I <3 it", "<grin> nice", "Tom & Jerry", "Better Homes & Gardens"):
        assert not looks_like_markup(prose)


def test_a_markup_title_becomes_a_name_from_the_metadata_or_none():
    assert name_from_metadata({"brand": "Conde Nast Publications",
                               "description": ["Allure is the beauty expert. Every issue ..."]}) == "Allure"
    assert name_from_metadata({"brand": "Reason Magazine", "description": ["REASON is edited for ..."]}) \
        == "Reason Magazine"
    assert name_from_metadata({"brand": "Meredith", "description": ["This magazine reports ..."]},
                              makers={"meredith"}) == ""
    assert name_from_metadata({"brand": "ARTnews LLC", "description": ["This magazine reports ..."]}) == ""
    assert name_from_metadata({"brand": "", "description": ["Written by and for musicians. Covers ..."]}) == ""


@pytest.mark.parametrize(("description", "name"), [
    ("Week after week, The New Yorker keeps its reader current.", "The New Yorker"),  # a clause's opening name
    ("Harper's BAZAAR, the fashion authority, brings you ...", "Harper's BAZAAR"),  # an appositive
    ("WIRED makes sense of a world in constant transformation.", "WIRED"),  # any verb in -s after a name
    ("Popular Mechanics directly aligns with the mindset ...", "Popular Mechanics"),  # an adverb between
    ("Published 8 times a year, Whisky Magazine is the perfect complement", "Whisky Magazine"),
    ("O, The Oprah Magazine gives confident, smart women ...", "The Oprah Magazine"),
    ("Dr. Oz The Good Life is a new lifestyle magazine", "Dr. Oz The Good Life"),  # an abbreviation
    ("Discover magazine provides a comprehensive look", "Discover magazine"),
    # the first word of a text is capitalised whatever it is: less rather than wrong
    ("Includes articles on classic films, film history ...", ""),
    ("Authoritative articles by and about expert gardeners", ""),
    ("Nobody knows more about star power than Vanity Fair.", ""),
    ("Founded in 1914, The New Republic covers politics", "The New Republic"),  # not "Founded in 1914"
    ("204 Sudoku puzzles including loads of Loco Sudoku", ""),
    ("From the Panhandle to the Keys, Florida's best bets for hunters", ""),  # a plural noun is no verb
    ("The Premier Guide to Historical Resources for Film, TV and Reenactors is the central", ""),  # a list
])
def test_a_description_names_its_product_where_a_clause_opens_with_the_name(description, name):
    assert name_from_metadata({"description": [description]}) == name


def test_a_brand_repeated_on_the_lines_of_one_item_is_still_its_name(tmp_path):
    """McAuley metadata repeats lines: a brand is a maker when it is on many items, not many lines."""
    meta = tmp_path / "meta.json"
    span = '<span class=\\"a-size-medium a-color-secondary\\"'
    lines = [f'{{"asin": "{asin}", "title": "{span}", "brand": "{brand}", "description": ["A magazine for girls."]}}'
             for asin, brand in [("G1", "Discovery Girls"), ("G2", "Discovery Girls")] * 3
             + [("M1", "Meredith"), ("M2", "Meredith"), ("M3", "Meredith")]]
    meta.write_text("\n".join(lines) + "\n")
    assert load_item_titles(meta) == {"G1": "Discovery Girls", "G2": "Discovery Girls"}


@pytest.mark.skipif(not (EXTRA / "meta_Magazine_Subscriptions.json.gz").is_file(), reason="shared data not here")
def test_magazines_get_names_never_markup_and_untitled_ones_a_label_or_their_id():
    dataset = load_reviews(EXTRA / "Magazine_Subscriptions_5.json.gz", EXTRA / "meta_Magazine_Subscriptions.json.gz",
                           on_duplicate="keep-latest")
    items = {r.item_id for r in dataset.reviews}
    titles = {item: dataset.item_titles.get(item, "") for item in items}
    assert not any(looks_like_markup(title) for title in dataset.item_titles.values())
    assert titles["B00005N7QC"] == "Glamour" and titles["B00005N7OV"] == "Better Homes & Gardens"
    assert titles["B0000633EA"] == "Discovery Girls"  # a brand on two items, each on repeated lines
    assert sum(1 for title in titles.values() if title) >= 80  # 84 of 157: description or brand names
    names = dataset_item_names(dataset)
    assert set(names) == items and names["B00005N7QC"] == "Glamour (B00005N7QC)"
    for item in items:
        assert "<" not in names[item] and (names[item].endswith(f"({item})") or names[item] == item)


@pytest.mark.skipif(not (EXTRA / "meta_Gift_Cards.json.gz").is_file(), reason="shared data not here")
def test_gift_cards_keep_their_real_titles():
    dataset = load_reviews(EXTRA / "Gift_Cards_5.json.gz", EXTRA / "meta_Gift_Cards.json.gz",
                           on_duplicate="keep-latest")
    items = {r.item_id for r in dataset.reviews}
    assert all(dataset.item_titles.get(item) and not looks_like_markup(dataset.item_titles[item]) for item in items)


def test_a_profile_keeps_its_label_and_leads_its_text_with_it():
    profile = build_profile("item", "B004M9CKVM", [(5.0, SUMMARY)], recent=10, label="delay pedal")
    assert profile.label == "delay pedal" and profile.text.startswith("Delay pedal. Known for: ")
    assert Profile.from_metadata(profile.text, profile.metadata()) == profile
    titled = build_profile("item", "B1", [(5.0, SUMMARY)], recent=10, title="Tube Screamer", label="pedal")
    assert titled.label == "" and titled.text.startswith("Tube Screamer.")
    markup = build_profile("item", "B1", [(5.0, SUMMARY)], recent=10, title='<span class="a-size-medium"',
                           label="magazine")
    assert markup.title == "" and markup.label == "magazine" and "<" not in markup.text
    old = dict(profile.metadata())
    del old["label"]  # a profile written before labels existed
    assert Profile.from_metadata(profile.text, old).label == ""


def test_the_chat_resolves_an_item_by_its_label(shipped, shipped_labels):
    catalog = Catalog(users=["A2EZWZ8MBEDOLN"], items=sorted(shipped_labels), labels=shipped_labels)
    assert parse("why would the cable tester suit me?", catalog).fields == {"item_id": "B000CCIVCA"}
    assert parse("would I like that gooseneck?", catalog).fields == {"item_id": "B0002GX5NG"}
    assert parse("would I like those cable testers?", catalog).fields == {"item_id": "B000CCIVCA"}  # plural
    assert parse("/why cable testr", catalog).fields == {"item_id": "B000CCIVCA"}  # a typo
    assert parse("why would the Snark tuner suit me?", catalog).fields == {"item_query": "the Snark tuner"}
    assert parse("why would a cable suit me?", catalog).action == "unclear"  # 25 cables: which one?
    several = parse("why would that delay pedal suit me?", catalog)  # several items are delay pedals
    delay_pedals = sorted(item for item, label in shipped_labels.items() if label == "delay pedal")
    assert several.action == "unclear" and len(delay_pedals) > 1
    assert "delay pedal (B" in several.note and several.answers["1"].fields["item_id"] in delay_pedals
    assert several.answers[delay_pedals[-1].lower()].fields == {"item_id": delay_pedals[-1]}
    assert catalog.name("B0002E1G5C") == "string winder (B0002E1G5C)" and catalog.name("1384719342") == "1384719342"


@pytest.fixture(scope="module")
def labelled_memory(tmp_path_factory, tiny_eval_config, small_dataset):
    """The shipped reviews of 25 items built into a real memory (lexicon summaries)."""
    from reason4rec.config import MemoryConfig
    from reason4rec.memory.service import Memory
    from reason4rec.memory.summarizers import LexiconSummarizer

    folder = tmp_path_factory.mktemp("labels")
    config = tiny_eval_config.model_copy(update={"memory": MemoryConfig(
        store_path=folder / "reviews.sqlite", chroma_path=folder / "chroma")})
    with Memory.open(config) as memory:
        memory.build(small_dataset, summarizer=None, bulk=LexiconSummarizer())
        yield memory


@pytest.mark.slow
def test_the_memory_keeps_labels_with_item_profiles_and_the_chat_finds_them(labelled_memory):
    memory = labelled_memory
    profile = memory.profile("item", "B0002CZR3G")
    assert profile.label == "tremolo pedal" and profile.text.startswith("Tremolo pedal.")
    catalog = Catalog.from_memory(memory)
    assert catalog.labels["B0002CZR3G"] == "tremolo pedal" and catalog.name("B0002CZR3G") == \
        "tremolo pedal (B0002CZR3G)"
    assert len(catalog.labels) >= 15  # of 25 items
    assert parse("why would the tremolo pedal suit me?", catalog).fields == {"item_id": "B0002CZR3G"}
    assert memory.search_items("tremolo pedal", k=1)[0].profile.entity_id == "B0002CZR3G"


@pytest.mark.slow
def test_panels_name_a_users_items_by_their_labels(labelled_memory):
    """A profile panel (``memory profile``, the demo) names the items behind a user's reviews by
    title, else by the label kept with the item's profile, else by the id."""
    from types import SimpleNamespace

    from reason4rec.app.service import Service
    from reason4rec.chat import profile_panel

    titles = Service.titles(SimpleNamespace(memory=lambda: labelled_memory), ["B0002CZR3G", "NOT-AN-ITEM"])
    assert titles == {"B0002CZR3G": "tremolo pedal", "NOT-AN-ITEM": "NOT-AN-ITEM"}
    user = next(r.user_id for r in labelled_memory.store.all_reviews() if r.item_id == "B0002CZR3G")
    records = labelled_memory.user_history(user, 5)
    panel = profile_panel("user", user, labelled_memory.profile("user", user), records, titles)
    console = Console(record=True, width=200)
    console.print(panel)
    assert "tremolo pedal (B0002CZR3G)" in console.export_text()
