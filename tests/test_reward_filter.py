from dataclasses import dataclass

import pytest

from reason4rec.experts.prompts import TargetContext
from reason4rec.training.reward_filter import FilterItem, auto_tau, filter_reasons

CTX = TargetContext("Music", "Pedal", (), (), None, None)


@dataclass
class ScriptedTeacher:
    """Returns scripted candidates per (target key, attempt); records hints it was given."""

    script: dict
    name: str = "scripted"

    def __post_init__(self):
        self.hints = []

    def reason(self, ctx, review_text, attempt, hint_rating=None):
        self.hints.append((review_text, attempt, hint_rating))
        return self.script[(review_text, attempt)]


def _score(contexts, analyses):
    """A reward model stand-in with a clear rule: 'good' pushes to 5, 'bad' to 1, none = 3."""
    out = []
    for analysis in analyses:
        out.append(3.0 if analysis is None else 5.0 if "good" in analysis else 1.0 if "bad" in analysis else 3.0)
    return out


def test_filter_keeps_helpful_reasons_retries_with_hints_and_rejects_leaks():
    items = [FilterItem("a", CTX, 5.0, "A"), FilterItem("b", CTX, 1.0, "B"), FilterItem("c", CTX, 5.0, "C")]
    teacher = ScriptedTeacher({
        ("A", 0): "this is a good pedal for them overall",           # helps: kept first try
        ("B", 0): "this is a good pedal for them overall",           # hurts (true 1): retry
        ("B", 1): "I would give it 1 star, a bad fit for them",      # leaks: rejected
        ("B", 2): "a bad fit for what they like in pedals",          # helps: kept (hinted)
        ("C", 0): "4 stars, a good pedal for them overall",          # first candidate leaks too
        ("C", 1): "neutral words about the pedal and the strings",   # no help: rejected
        ("C", 2): "nothing new about the pedal and the strings",
    })
    accepted, report = filter_reasons(items, teacher, _score, tau=0.0, max_retries=2)
    assert [a.key for a in accepted] == ["a", "b"]
    assert accepted[1].attempt == 2 and accepted[1].reason.startswith("a bad fit")
    assert (report.kept_first, report.kept_hinted, report.dropped) == (1, 1, 1)
    assert report.leaks_rejected == 2 and report.reward_rejected == 3 and report.candidates == 7
    assert all(h[2] is None for h in teacher.hints if h[1] == 0)
    assert all(h[2] is not None for h in teacher.hints if h[1] > 0)  # retries are hinted


def test_auto_tau_keeps_about_half_of_first_candidates():
    assert auto_tau([-1.0, -0.5, 0.5, 1.0]) == 0.0
    items = [FilterItem(str(i), CTX, 5.0, str(i)) for i in range(4)]
    script = {("0", 0): "good good words are here", ("1", 0): "good words are here ok",
              ("2", 0): "bad words are here ok", ("3", 0): "bad bad words are here"}
    accepted, report = filter_reasons(items, ScriptedTeacher(script), _score, tau="auto", max_retries=0)
    assert len(accepted) == 2 and report.tau_source.startswith("auto")


def test_a_stopped_filter_scores_only_what_it_had_not_when_started_again(tmp_path):
    """The scores reach the cache chunk by chunk: a run killed part-way keeps its finished chunks,
    and the rerun (same deterministic teacher, same pairs) asks the reward model for the rest."""
    from reason4rec.experts.summaries import SummaryCache
    from reason4rec.training.reward_filter import resumable_scorer

    contexts = [TargetContext("Music", f"Pedal {n}", (), (), 4.0, None) for n in range(10)]
    analyses = [None if n % 3 == 0 else f"a good pedal number {n}" for n in range(10)]
    asked: list[int] = []

    def score(ctxs, texts, fail_after=None):
        if fail_after is not None and len(asked) >= fail_after:
            raise KeyboardInterrupt
        asked.append(len(ctxs))
        return [float(c.item_title.split()[-1]) + (0.5 if t else 0.0) for c, t in zip(ctxs, texts)]

    expected = score(contexts, analyses)
    asked.clear()
    path = tmp_path / "reward-scores.jsonl"
    stopped = resumable_scorer(lambda c, t: score(c, t, fail_after=1), SummaryCache(path), "reward-v1", chunk=4)
    with pytest.raises(KeyboardInterrupt):
        stopped(contexts, analyses)
    assert asked == [4]
    with path.open("a") as handle:
        handle.write('{"review_id": "torn')  # the write the kill cut short
    seen: list[tuple[int, int]] = []
    resumed = resumable_scorer(score, SummaryCache(path), "reward-v1", chunk=4,
                               progress=lambda done, total: seen.append((done, total)))
    assert resumed(contexts, analyses) == expected
    assert asked == [4, 4, 2] and seen == [(8, 10), (10, 10)]
    assert resumed(contexts, analyses) == expected and asked == [4, 4, 2]  # all cached now
    assert len(SummaryCache(path)) == 10  # the torn line swallowed no row written after it
    other = resumable_scorer(score, SummaryCache(path), "reward-v2", chunk=4)  # another reward adapter
    assert other(contexts[:2], analyses[:2]) == expected[:2] and asked == [4, 4, 2, 2]


def test_auto_per_stars_keeps_unhappy_buyers_that_one_threshold_would_drop():
    """Margins are easiest on 5-star targets (the reward model leans high): one median keeps mostly
    those; a median per star group keeps about half of the 1-2 star targets too."""
    def score(contexts, analyses):  # none = 4.5; a reason moves it a little toward its word
        return [4.5 if a is None else 5.0 if "good" in a else 4.0 for a in analyses]

    happy = [FilterItem(f"h{i}", CTX, 5.0, f"h{i}") for i in range(4)]
    unhappy = [FilterItem(f"u{i}", CTX, 1.0, f"u{i}") for i in range(4)]
    script = {(f"h{i}", 0): "a good pedal for what they like" for i in range(4)}
    script |= {(f"u{i}", 0): ("a bad pedal for what they like" if i < 2 else "a good pedal for what they like")
               for i in range(4)}
    one, report_one = filter_reasons(happy + unhappy, ScriptedTeacher(script), score, tau="auto", max_retries=0)
    each, report_each = filter_reasons(happy + unhappy, ScriptedTeacher(script), score, tau="auto-per-stars",
                                       max_retries=0)
    assert not any(a.key.startswith("u") for a in one)  # happy margins -0.5, unhappy -0.5/+0.5: tau -0.5
    assert {a.key for a in each if a.key.startswith("u")} == {"u0", "u1"}  # the reasons that say "bad"
    assert report_each.taus["1-2"] > report_each.taus["4-5"] and report_each.tau_source.startswith("auto per star")
    assert report_one.taus["1-2"] == report_one.taus["4-5"]


def test_hint_first_tells_the_teacher_the_rating_from_the_first_candidate():
    items = [FilterItem("a", CTX, 2.0, "A")]
    teacher = ScriptedTeacher({("A", 0): "a bad fit for what they like in pedals"})
    accepted, report = filter_reasons(items, teacher, _score, tau=0.5, max_retries=1, hint_first=True)
    assert teacher.hints == [("A", 0, 2.0)] and report.kept_first == 1 and len(accepted) == 1
