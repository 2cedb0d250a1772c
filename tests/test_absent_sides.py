"""A reason speaks of each side only where that side has reviews, and says of each side only what
that side's reviews say: "In past reviews the user valued ..." is never told a user who has
written none, streamed or returned, on every backend and in the agent."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, FakeCompletions

from reason4rec.experts import (
    NEGATIVE_CLOSING,
    NEGATIVE_OPENING,
    HistoryEntry,
    ReasonStream,
    TargetContext,
    absent_sides,
    finished_reason,
    reasoner_messages,
    reasons_for,
)
from reason4rec.experts.prompts import NEGATIVE_ITEM_OPENING
from reason4rec.experts.quality.attribution import misattributed, sentence_side, without_sides

WRITTEN = ("In past reviews the user valued warm tone and the clip. They were disappointed by hum. "
           "Other buyers of this item praise the clip but mention hum. What buyers say about the clip matches "
           "what this user looks for. Overall it should suit them well, and they will likely be pleased with it.")
ENTRY = HistoryEntry("Amp", 4, "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: tone")


def _target(*, user: bool = True, item: bool = True, forced: bool = False) -> TargetContext:
    return TargetContext("Musical Instruments", "Pedal", (ENTRY,) if user else (), (ENTRY,) if item else (),
                         4.0 if user else None, 3.5 if item else None, int(user), int(item),
                         verdict_from_ratings=forced)


@pytest.mark.parametrize(("sentence", "side"), [
    ("In past reviews the user valued tone.", "user"),
    ("They were disappointed by hum.", "user"),
    ("Other buyers of this item praise the clip.", "item"),
    ("A few buyers of this item mention hum.", "item"),
    ("What buyers say about the clip matches what this user looks for.", None),  # both sides
    ("Overall it should suit them well.", None),
])
def test_a_sentence_speaks_of_the_side_it_opens_with(sentence, side):
    assert sentence_side(sentence) == side


def test_sentences_about_a_side_with_no_reviews_are_dropped():
    assert absent_sides(_target()) == frozenset()
    assert absent_sides(_target(user=False)) == {"user"} and absent_sides(_target(user=False, item=False)) == {
        "user", "item"}
    new_user = finished_reason(_target(user=False), WRITTEN)
    assert new_user.startswith("Other buyers of this item praise the clip") and "In past reviews" not in new_user
    assert "disappointed by hum" not in new_user and "What buyers say about the clip" in new_user
    new_item = finished_reason(_target(item=False), WRITTEN)
    assert "Other buyers" not in new_item and new_item.startswith("In past reviews the user valued")
    assert finished_reason(_target(), WRITTEN) == WRITTEN  # both sides reviewed: as written
    assert without_sides(WRITTEN, ()) == WRITTEN


def test_a_new_users_forced_verdict_opens_about_the_item_and_closes_as_a_poor_match():
    messages = reasoner_messages(_target(user=False, forced=True))
    assert messages[-1] == {"role": "assistant", "content": NEGATIVE_ITEM_OPENING}
    assert reasoner_messages(_target(forced=True))[-1]["content"] == NEGATIVE_OPENING
    assert reasoner_messages(_target(user=False, item=False, forced=True))[-1]["role"] != "assistant"
    both_new = finished_reason(_target(user=False, item=False, forced=True), WRITTEN)
    assert both_new == f"What buyers say about the clip matches what this user looks for. {NEGATIVE_CLOSING}"


@pytest.mark.parametrize("cut", [1, 4, 9, 60])
@pytest.mark.parametrize("kind", [dict(user=False), dict(item=False), dict(user=False, forced=True),
                                  dict(user=False, item=False), dict()],
                         ids=["new-user", "new-item", "new-user-forced", "both-new", "both-reviewed"])
def test_what_streams_is_the_reason_returned(cut, kind):
    target, seen = _target(**kind), []
    stream = ReasonStream(lambda row, piece: seen.append(piece), [target])
    written = WRITTEN + " And the"  # an unfinished sentence at the token budget
    for start in range(0, len(written), cut):
        stream.on_text(0, written[start:start + cut])
    stream.finish()
    assert "".join(seen).strip() == finished_reason(target, written)


@pytest.mark.parametrize("backend", [FakeBackend(answers={"reasoner": WRITTEN}),
                                     FakeCompletions(answers={"reasoner": WRITTEN})],
                         ids=["fake", "generate_by_complete"])
def test_the_deliberation_drops_them_streamed_and_returned(backend):
    targets = [_target(), _target(user=False), _target(item=False)]
    streamed: dict[int, str] = {}
    reasons = reasons_for(backend, targets, batch_size=2,
                          on_text=lambda row, piece: streamed.update({row: streamed.get(row, "") + piece}))
    assert reasons == [finished_reason(t, WRITTEN) for t in targets]
    assert "In past reviews" not in reasons[1] and "Other buyers" not in reasons[2]
    assert {row: text.strip() for row, text in streamed.items()} == dict(enumerate(reasons))


def test_an_aspect_given_to_the_wrong_side_is_named():
    user, item = ["Easter Egg card: + egg design"], ["Snowflake tin: + tin; - dent"]
    assert misattributed("In past reviews the user valued egg design. Other buyers praise the tin.",
                         user=user, item=item) == ()
    assert misattributed("In past reviews the user valued the tin. Other buyers praise the egg and the dent.",
                         user=user, item=item) == (("tin", "user"), ("egg", "item"))
    assert misattributed("Other buyers praise bamboo.", user=user, item=item) == ()  # invented, not misattributed
