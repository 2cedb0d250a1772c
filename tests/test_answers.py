from reason4rec.agent.answers import compose

RATING = {"expected": 4.4, "confidence": 0.5, "probabilities": {"1": 0, "2": 0, "3": 0.1, "4": 0.4, "5": 0.5}}


def test_explain_answer_has_the_verdict_rating_and_reason():
    text = compose({"intent": "explain", "user_id": "A1", "item_id": "B1", "item_title": "Snark tuner",
                    "rating": RATING, "reason": "Accurate and easy to read."})
    assert text.startswith("**Snark tuner** should suit **A1**: predicted **4.40** / 5")
    assert "> Accurate and easy to read." in text


def test_ambiguous_items_are_listed_as_a_question():
    text = compose({"intent": "explain", "error": "'tuner' could mean several items",
                    "candidates": [{"id": "B1", "profile": "Known for: tuner"}, {"id": "B2", "profile": "Known for: clip"}]})
    assert "Which one did you mean?" in text and "- `B2`: Known for: clip" in text


def test_recommendation_update_and_profile_answers():
    recs = compose({"intent": "recommend", "user_id": "A1", "query": "home recording", "recommendations": [
        {"item_id": "B1", "item_title": "Pop filter", "reason": "Fits.", "rating": RATING}]})
    assert "Top 1 for **A1** for *home recording*" in recs and "1. **Pop filter**: 4.40 / 5. Fits." in recs
    pending = compose({"intent": "add_review", "user_id": "A1", "item_id": "B1",
                       "update": {"outcome": "created", "pending": True, "error": "backend down"}})
    assert "pending (backend down)" in pending
    assert "waiting to be summarized" in compose({"intent": "profile", "profile": {"user_id": "A1", "text": None}})
