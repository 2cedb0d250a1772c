"""Best of N drafts: which reason is kept, and the sampling it rests on."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, SamplingFake

from reason4rec.experts.backend import SamplingBackend
from reason4rec.experts.quality.reason_drafts import ROUND_SEED_STEP, ChosenReason, choose_reasons, draft_seed
from reason4rec.experts.quality.reason_quality import grounding

SHOWN = ["Positive Aspects: warm tone, quiet hum\nNegative Aspects: none", "Item: Compressor Pedal"]
ASK = [{"role": "user", "content": "Will they like the Compressor Pedal?"}]


def test_the_draft_inventing_least_is_kept_and_what_the_first_invented_is_said():
    backend = SamplingFake(drafts=["It is carved from bamboo.", "A warm tone and a quiet hum, as they like."])
    [chosen] = choose_reasons(backend, [ASK], ["Warm tone, but the rosewood neck"], [SHOWN], drafts=4)
    assert chosen == ChosenReason("A warm tone and a quiet hum, as they like.", 2, 4, ("rosewood neck",))
    assert chosen.replaced and backend.asked("sample")[0].conversations == 1
    assert chosen.found == grounding(chosen.text, SHOWN)  # measured once, by the choice, and kept


def test_the_greedy_draft_is_kept_on_a_tie_and_with_one_draft_nothing_is_sampled():
    backend = SamplingFake(drafts=["It is bamboo."])
    assert choose_reasons(backend, [ASK], ["It is bamboo."], [SHOWN], drafts=3) == [
        ChosenReason("It is bamboo.", 0, 3)]
    assert choose_reasons(backend, [ASK], ["It is bamboo."], [SHOWN], drafts=1) == [ChosenReason("It is bamboo.", 0, 1)]
    assert len(backend.asked("sample")) == 1


def test_a_greedy_reason_that_names_what_it_was_shown_costs_no_drafts():
    backend = SamplingFake(drafts=["A warm tone and a quiet hum, as they like."])
    told: list[int] = []
    [chosen] = choose_reasons(backend, [ASK], ["Warm tone pedal."], [SHOWN], drafts=4, rounds=2, on_round=told.append)
    assert chosen == ChosenReason("Warm tone pedal.", 0, 1) and chosen.found == grounding("Warm tone pedal.", SHOWN)
    assert backend.asked("sample") == [] and told == []


def test_drafts_are_seeded_by_the_question_so_asking_again_answers_the_same():
    backend = SamplingFake()
    choose_reasons(backend, [ASK], ["x."], [SHOWN], drafts=2)
    choose_reasons(backend, [ASK], ["x."], [SHOWN], drafts=2)
    other = [{"role": "user", "content": "Will they like the Tuner?"}]
    assert backend.seeds[0] == backend.seeds[1] == draft_seed([ASK]) != draft_seed([other])
    choose_reasons(backend, [ASK], ["x."], [SHOWN], drafts=2, seed=11)
    assert backend.seeds[-1] == 11


def test_mismatched_inputs_are_refused_and_only_sampling_backends_qualify():
    with pytest.raises(ValueError, match="one each"):
        choose_reasons(SamplingFake(), [ASK, ASK], ["x."], [SHOWN, SHOWN], drafts=2)
    with pytest.raises(ValueError, match="at least 1"):
        choose_reasons(SamplingFake(), [ASK], ["x."], [SHOWN], drafts=0)
    assert isinstance(SamplingFake(), SamplingBackend) and not isinstance(FakeBackend(), SamplingBackend)


def test_a_kept_draft_still_poorly_grounded_gets_another_round_and_only_it():
    invented, better = "It is carved from bamboo.", "A warm tone and a quiet hum, as they like."
    backend = SamplingFake()
    backend.drafts = lambda conversation: [invented] if len(backend.seeds) == 1 else [invented, better]
    told: list[int] = []
    fine, poor = choose_reasons(backend, [ASK, [{"role": "user", "content": "And the Tuner?"}]],
                                ["Warm tone pedal.", "Rosewood neck."], [SHOWN, SHOWN], drafts=4, rounds=2,
                                seed=5, on_round=told.append)
    assert fine == ChosenReason("Warm tone pedal.", 0, 1)  # fully grounded: no drafts at all for it
    assert poor == ChosenReason(better, 5, 8, ("rosewood neck",))  # the second round's second draft
    assert [c.conversations for c in backend.asked("sample")] == [1, 1] and backend.seeds == [5, 5 + ROUND_SEED_STEP]
    assert told == [3, 4]


def test_more_rounds_stop_once_every_kept_draft_is_grounded_and_rounds_are_checked():
    backend = SamplingFake(drafts=["A warm tone and a quiet hum, as they like."])
    [chosen] = choose_reasons(backend, [ASK], ["It is bamboo."], [SHOWN], drafts=2, rounds=3)
    assert chosen.index == 1 and chosen.drafts == 2 and len(backend.asked("sample")) == 1
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        choose_reasons(backend, [ASK], ["x."], [SHOWN], drafts=2, rounds=0)


@pytest.mark.parametrize("backend_name", ["tiny_engine_backend", "tiny_backend"])
def test_local_backends_sample_count_drafts_per_conversation_repeatably(backend_name, request):
    from reason4rec.experts.prompts import HistoryEntry, TargetContext, reasoner_messages

    backend = request.getfixturevalue(backend_name)
    entry = HistoryEntry("Amp", 4, "Positive Aspects: warm tone\nNegative Aspects: hum\nUser Preference Elements: amps")
    asks = [reasoner_messages(TargetContext("Music", title, (entry,), (entry,), 4.0, 3.5, 1, 1))
            for title in ("Pedal", "Tuner")]
    assert isinstance(backend, SamplingBackend)
    drawn = backend.sample("reasoner", asks, count=3, temperature=1.5, seed=5, max_new_tokens=10)
    assert [len(row) for row in drawn] == [3, 3] and all(isinstance(t, str) for row in drawn for t in row)
    pieces: dict[int, str] = {}
    again = backend.sample("reasoner", asks, count=3, temperature=1.5, seed=5, max_new_tokens=10,
                           on_text=lambda row, piece: pieces.update({row: pieces.get(row, "") + piece}))
    assert again == drawn and [pieces.get(row, "").strip() for row in range(6)] == [t for r in drawn for t in r]
    assert len({t for row in drawn for t in row}) > 1
    with pytest.raises(ValueError, match="at least 1"):
        backend.sample("reasoner", asks, count=0, temperature=1.0)
