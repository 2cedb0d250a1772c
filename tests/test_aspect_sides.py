"""The aspect-side model: its labels, examples, training round trip and its place in the aspects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reason4rec.errors import Reason4RecError
from reason4rec.experts.aspect_sides import (
    SIDE_LABELS,
    SideModel,
    SideModelError,
    SideQuestion,
    model_text,
    read_card,
    shipped_side_model,
)
from reason4rec.training.aspect_sides import SideExample, fit_side_model, read_side_labels, side_examples


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_labels_are_read_strictly(tmp_path: Path) -> None:
    good = {"review_id": "r1", "aspect": "clip", "label": "criticised", "quote": "the clip broke"}
    assert read_side_labels([_write(tmp_path / "a.jsonl", [good, ""])])[0].label == "criticised"
    with pytest.raises(Reason4RecError, match=r"b.jsonl:2: not a side label"):
        read_side_labels([_write(tmp_path / "b.jsonl", [good, "{broken"])])
    with pytest.raises(Reason4RecError, match=r"c.jsonl:1: label 'bad'"):
        read_side_labels([_write(tmp_path / "c.jsonl", [{**good, "label": "bad"}])])


def test_a_side_label_trains_on_its_quoted_sentence_and_neither_on_every_mention(tmp_path: Path) -> None:
    text = "The clip is shiny. The clip broke after a week. The tone is fine and the tone knob turns."
    labels = read_side_labels([_write(tmp_path / "l.jsonl", [
        {"review_id": "r1", "aspect": "clip", "label": "criticised", "quote": "The clip broke after a week"},
        {"review_id": "r1", "aspect": "tone knob", "label": "neither", "quote": "the tone knob turns"},
        {"review_id": "r1", "aspect": "strap", "label": "praised", "quote": "not in the review"},
        {"review_id": "r2", "aspect": "clip", "label": "praised", "quote": "a review we do not have"},
    ])])
    examples = side_examples(labels, {"r1": text})
    assert [(e.question.written, e.question.sentence, SIDE_LABELS[e.label], e.question.rule) for e in examples] == [
        ("clip", "The clip broke after a week.", "criticised", -1),
        ("tone knob", "The tone is fine and the tone knob turns.", "neither", 0)]
    assert all(e.review_id == "r1" for e in examples)  # the strap is not in it; r2's text is unknown


def test_the_model_reads_the_aspect_the_rules_verdict_and_the_sentence() -> None:
    assert model_text(SideQuestion("the clip", "The clip broke.", 1)) == ("the clip (rules: good)", "The clip broke.")


def test_fit_save_and_load_give_the_same_answers(tmp_path: Path, sentence_model_dir: Path) -> None:
    questions = [SideQuestion("the tone", "The tone is great.", 1), SideQuestion("the clip", "The clip broke.", -1),
                 SideQuestion("the box", "It came in a box.", 0)]
    examples = [SideExample(q, label, f"r{i}") for i, (q, label) in enumerate(zip(questions, (2, 0, 1)))] * 4
    fitted = fit_side_model(examples, sentence_model_dir, tmp_path / "sides", epochs=1, batch_size=4)
    card = read_card(tmp_path / "sides")
    assert card["version"].startswith("sides-") and card["labels"] == list(SIDE_LABELS)
    assert card["examples"] == 12 and fitted.version == card["version"]
    loaded = SideModel.load(tmp_path / "sides", sentence_model_dir)
    assert loaded.version == fitted.version
    for before, after in zip(fitted.probabilities(questions), loaded.probabilities(questions)):
        assert after == pytest.approx(before, abs=1e-4)
        assert sum(after) == pytest.approx(1.0, abs=1e-5)
    assert set(loaded.polarities(questions)) <= {-1, 0, 1}


@pytest.mark.parametrize("card", ["{broken", json.dumps({"version": "sides-x", "labels": ["a", "b"]}), None])
def test_a_damaged_or_missing_card_is_refused_in_one_line(tmp_path: Path, card: str | None) -> None:
    if card is not None:
        (tmp_path / "card.json").write_text(card, encoding="utf-8")
    with pytest.raises(SideModelError, match="card.json"):
        read_card(tmp_path)


def test_no_training_examples_is_an_error(sentence_model_dir: Path) -> None:
    with pytest.raises(Reason4RecError, match="no training examples"):
        fit_side_model([], sentence_model_dir)


@pytest.mark.skipif(shipped_side_model() is None, reason="this package ships no aspect-side model")
def test_the_shipped_model_decides_the_sides_everywhere_aspects_are_read() -> None:
    from reason4rec.experts.product_aspects import (
        ASPECTS_VERSION,
        configure_sides,
        many_review_aspects,
        review_aspects,
        side_model,
    )

    texts = ["Bright tone but the clip broke.", "The strap came off during a gig. The buckle is solid.", "ok"]
    try:
        configure_sides(enabled=True)
        assert side_model() is not None and ASPECTS_VERSION == f"aspects-2+{side_model().version}"
        sides = {m.aspect: m.polarity for m in review_aspects(texts[0])}
        assert sides == {"tone": 1, "clip": -1}
        assert many_review_aspects(texts) == [review_aspects(t) for t in texts]  # batched == one by one
        configure_sides(enabled=False)
        assert side_model() is None
        assert all(m.polarity == m.rule for m in review_aspects(texts[1]))
    finally:
        configure_sides(enabled=True)
