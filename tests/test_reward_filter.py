from dataclasses import dataclass

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
