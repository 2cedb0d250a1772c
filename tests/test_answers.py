from reason4rec.agent.answers import compose

RATING = {"expected": 4.4, "confidence": 0.5, "probabilities": {"1": 0, "2": 0, "3": 0.1, "4": 0.4, "5": 0.5}}


def test_explain_answer_has_the_verdict_rating_and_reason():
    text = compose({"intent": "explain", "user_id": "A1", "item_id": "B1", "item_title": "Snark tuner",
                    "rating": RATING, "reason": "Accurate and easy to read."})
    assert text.startswith("**Snark tuner (B1)** should suit **A1**: predicted **4.40** / 5")
    assert "> Accurate and easy to read." in text


def test_a_reason_names_its_item_once_by_label_never_by_a_bare_id_or_a_long_title():
    reason = "Other buyers of this item praise the clip; this item holds."
    named = compose({"intent": "explain", "user_id": "A1", "item_id": "B1", "item_name": "capo (B1)",
                     "rating": RATING, "reason": reason})
    assert "> Other buyers of this capo praise the clip; this item holds." in named
    bare = compose({"intent": "explain", "user_id": "A1", "item_id": "B1", "rating": RATING, "reason": reason})
    assert f"> {reason}" in bare
    long_title = "Ernie Ball Regular Slinky Nickel Wound Electric Guitar Strings"
    recs = compose({"intent": "recommend", "user_id": "A1", "recommendations": [
        {"item_id": "B2", "item_title": long_title, "reason": reason, "rating": RATING},
        {"item_id": "B3", "item_title": "Pop filter", "reason": reason, "rating": RATING}]})
    assert f"4.40 / 5. {reason}" in recs and "4.40 / 5. Other buyers of this Pop filter praise" in recs


def test_ambiguous_items_are_listed_as_a_question():
    text = compose({"intent": "explain", "error": "'tuner' could mean several items",
                    "candidates": [{"id": "B1", "profile": "Known for: tuner"},
                                   {"id": "B2", "profile": "Known for: clip"}]})
    assert "Which one did you mean?" in text and "- `B2`: Known for: clip" in text


def test_recommendation_update_and_profile_answers():
    recs = compose({"intent": "recommend", "user_id": "A1", "query": "home recording", "recommendations": [
        {"item_id": "B1", "item_title": "Pop filter", "reason": "Fits.", "rating": RATING}]})
    assert "Top 1 for **A1**, for: *home recording*:" in recs and "1. **Pop filter (B1)**: 4.40 / 5. Fits." in recs
    pending = compose({"intent": "add_review", "user_id": "A1", "item_id": "B1",
                       "update": {"outcome": "created", "pending": True, "error": "backend down"}})
    assert "pending (backend down)" in pending
    assert "waiting to be summarized" in compose({"intent": "profile", "profile": {"user_id": "A1", "text": None}})


def test_a_reason_that_invents_says_what_no_review_it_was_shown_mentions():
    from reason4rec.agent.nodes import check_reason
    from reason4rec.experts.prompts import HistoryEntry, TargetContext

    summary = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: microphone"
    target = TargetContext("Musical Instruments", "USB condenser microphone", (HistoryEntry("Amp", 5, summary),),
                           (HistoryEntry("a buyer", 4, summary),), 5.0, 4.0, 1, 1)
    grounded = check_reason("The user loves a warm tone, and this microphone has one.", target)
    assert grounded == {"grounding": 1.0, "invented": [], "drafts": 1}
    invented = check_reason("It is crafted from bamboo with AAC and FLAC support and a warm tone.", target)
    assert {"bamboo", "aac", "flac"} <= set(invented["invented"]) and invented["grounding"] < 0.5
    from reason4rec.experts.quality.reason_quality import Grounding  # the drafts' own measure is reported, not redone
    measured = Grounding(("warm tone",), ("bamboo",))
    assert check_reason("It is crafted from bamboo.", target, 3, measured) == {
        "grounding": 0.5, "invented": ["bamboo"], "drafts": 3}
    state = {"intent": "explain", "user_id": "A1", "item_id": "B1", "rating": RATING,
             "reason": "It is crafted from bamboo.", "reason_check": invented}
    assert "*Not in the reviews it was shown: " in compose(state) and "bamboo" in compose(state)
    assert "Not in the reviews" not in compose({**state, "reason_check": grounded})
    recs = compose({"intent": "recommend", "user_id": "A1", "recommendations": [
        {"item_id": "B1", "item_title": "Mic", "reason": "Bamboo.", "rating": RATING, "reason_check": invented}]})
    assert "(Not in the reviews it was shown: " in recs


def test_a_reason_is_not_credited_for_repeating_its_prompt():
    """The prompt's own words ("Category: Musical Instruments", "The user's past reviews") are
    shown to the Reasoner but say nothing about this user or item: a reason repeating them has
    taken nothing from the reviews, and the teacher's frame ("In past reviews the user wrote
    about ...") names no aspect."""
    from reason4rec.agent.nodes import check_reason
    from reason4rec.experts.prompts import HistoryEntry, TargetContext, reasoner_messages, shown_data

    summary = "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: microphone"
    target = TargetContext("Musical Instruments", "USB condenser microphone", (HistoryEntry("Amp", 5, summary),),
                           (), 5.0, None, 1, 0)
    prompt = " ".join(m["content"] for m in reasoner_messages(target))
    assert "Musical Instruments" in prompt and "past reviews" in prompt and "features" in prompt
    assert not any("Musical" in text or "past" in text for text in shown_data(target))
    found = check_reason("In past reviews the user wrote about warm tone but mention no other musical instruments.",
                         target)
    assert found["invented"] == ["musical instruments"] and found["grounding"] == 0.5


# --------------------------------------------------------------------------- issue 17: the person at the keyboard

def test_an_item_the_user_rated_already_says_so_first_then_the_prediction():
    state = {"intent": "explain", "user_id": "A1", "item_id": "B1", "item_title": "Snark tuner", "rating": RATING,
             "reason": "Accurate.", "already_rated": {"rating": 5.0, "date": "2013-04-02", "timestamp": 1364860800}}
    first, *rest = compose(state).splitlines()
    assert first == "**You rated it 5 stars on 2013-04-02.** What the model would have predicted without your review:"
    assert "**Snark tuner (B1)** should suit **A1**: predicted **4.40** / 5" in rest[1]
    undated = compose({**state, "intent": "predict", "already_rated": {"rating": 1.0, "date": None}})
    assert undated.startswith("**You rated it 1 star already.**")
    assert not compose({**state, "already_rated": None}).startswith("**You rated")


def test_recommendation_headers_state_the_need_they_served():
    item = {"item_id": "B2", "item_title": "Shepherd Moons", "reason": "Fits.", "rating": RATING}
    base = {"intent": "recommend", "user_id": "A1", "recommendations": [item]}
    assert compose(base).startswith("Top 1 for **A1**, by their profile:")
    liked = compose({**base, "query": "similar to Enya", "like_item": "B1", "like_title": "Enya: Watermark"})
    assert liked.startswith("Top 1 for **A1**, for: *similar to Enya* "
                            "(steered by the profile of Enya: Watermark (B1)):")
    assert "1. **Shepherd Moons (B2)**: 4.40 / 5." in liked
    by_item_only = compose({**base, "like_item": "B1", "like_title": "B1"})
    assert by_item_only.startswith("Top 1 for **A1**, for: *similar to B1*:")
    assert "matches **A1**, for: *jazz* yet" in compose({**base, "recommendations": [], "query": "jazz"})


def test_profiles_and_saved_reviews_name_items_by_title_with_the_id():
    profile = compose({"intent": "profile",
                       "profile": {"user_id": "A1", "text": "Likes: calm.", "review_count": 2,
                                   "recent": [{"item_id": "B1", "item_title": "Enya: Watermark",
                                               "rating": 5.0, "summary": "Positive Aspects: calm"},
                                              {"item_id": "B9", "item_title": "B9", "rating": 2.0,
                                               "summary": None}]}})
    assert ("- Enya: Watermark (B1) (5 stars): Positive Aspects: calm" in profile
            and "- B9 (2 stars): pending" in profile)
    saved = compose({"intent": "add_review", "user_id": "A1", "item_id": "B1", "item_title": "B1",
                     "review": {"rating": 4, "text": "x", "item_title": "Watermark"},
                     "update": {"outcome": "created", "summary": "Positive Aspects: calm"}})
    assert saved.startswith("Saved: review of **Watermark (B1)** by **A1**.")


def test_evidence_ties_a_phrase_to_the_review_whose_item_it_names():
    """A reason may name an item of the user's history by its name ("they valued the Panera Bread
    gift card"), which the prompt shows beside that review's summary: the evidence ties the phrase
    to that review, as the reason check finds it shown, instead of calling it found in none."""
    from reason4rec.agent.evidence import evidence_for
    from reason4rec.memory import HistoryRecord
    from reason4rec.memory.reviews import StoredReview

    def record(user: str, item: str, text: str) -> HistoryRecord:
        review = StoredReview(f"r-{user}-{item}", user, item, 5.0, 1_500_000_000, text, "", 0, "summarized", "v")
        return HistoryRecord(review, "Positive Aspects: easy redeem\nNegative Aspects: none\n"
                                     "User Preference Elements: none", "v")

    names = {"B1": "Panera Bread Gift Card (B1)", "B9": "Petco Gift Card (B9)"}
    found = evidence_for("In past reviews the user valued panera bread and easy redeem; buyers mention dog food.",
                         [record("U1", "B1", "Great gift, easy to redeem online.")],
                         [record("U2", "B9", "My sister loved it.")], shown=5, title_of=names.__getitem__)
    marks = {a["phrase"]: (a["mark"], [s["review_id"] for s in a["sources"]]) for a in found["aspects"]}
    assert marks["panera bread"] == (1, ["r-U1-B1"])
    assert marks["dog food"] == (None, [])


def test_a_quote_shows_the_words_the_reason_names_even_deep_in_a_long_sentence():
    """A quote is there to be checked: it is the sentence naming the reason's aspects first (before
    the review's own summary aspects), and a long one is cut around the named word, not at its start."""
    from reason4rec.agent.evidence import QUOTE_CHARS, evidence_for
    from reason4rec.memory import HistoryRecord
    from reason4rec.memory.reviews import StoredReview

    text = ("As the reviews herein say, the BX5 is a monitor of many uses. I have a basic understanding of "
            "speakers, and my goal here was a small one for practice at home through a preamp pedal or an iPad, "
            "and I was surprised how good the BX5 sounded, with a tight bass in a small room.")
    review = StoredReview("r-U1-B1", "U1", "B1", 5.0, 1_500_000_000, text, "", 0, "summarized", "v")
    record = HistoryRecord(review, "Positive Aspects: herein, bx5\nNegative Aspects: none\n"
                                   "User Preference Elements: bx5", "v")
    found = evidence_for("In past reviews the user valued sound.", [record], [], shown=5, title_of=str)
    quote = found["own"][0]["quote"]
    assert "sounded" in quote and quote.startswith("... ") and len(quote) <= QUOTE_CHARS
    assert found["aspects"][0]["sources"][0]["quote"] == quote


def test_evidence_says_when_the_reason_gives_an_aspect_to_the_wrong_side():
    """'Other buyers of this tin praise the egg design' where only the user's own review of an egg-shaped
    card says it: the evidence ties the phrase to that review and says it was said of the wrong side."""
    from reason4rec.agent.answers import evidence_lines
    from reason4rec.agent.evidence import evidence_for
    from reason4rec.memory import HistoryRecord
    from reason4rec.memory.reviews import StoredReview

    def record(user: str, item: str, text: str) -> HistoryRecord:
        review = StoredReview(f"r-{user}-{item}", user, item, 5.0, 1_500_000_000, text, "", 0, "summarized", "v")
        return HistoryRecord(review, "Positive Aspects: none\nNegative Aspects: none\nUser Preference Elements: none",
                             "v")

    mine = [record("U1", "B1", "Nice egg design of the card.")]
    theirs = [record("U2", "B9", "The tin is cute."), record("U3", "B9", "A sturdy tin.")]
    reason = "In past reviews the user valued the tin. Other buyers of this item praise the egg and the tin."
    found = evidence_for(reason, mine, theirs, shown=5, title_of=str)
    said = {a["phrase"]: a["misattributed"] for a in found["aspects"]}
    assert said == {"tin": None, "egg": "item"}  # the tin is said of both sides: no side to be wrong about
    lines = evidence_lines(found)
    assert "- *said of the buyers of this item, but only your reviews mention: egg*" in lines
    right = evidence_for("In past reviews the user valued the egg. Other buyers of this item praise the tin.",
                         mine, theirs, shown=5, title_of=str)
    assert all(a["misattributed"] is None for a in right["aspects"])
    assert not any("said of" in line for line in evidence_lines(right))
