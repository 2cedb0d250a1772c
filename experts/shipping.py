"""Copy a training run's adapters (with cards) and its summary cache into a shippable folder.

The shipped folder is what a fresh install uses: ``experts/adapters/<expert>/`` (peft files +
``card.json``) and ``summaries.jsonl.gz`` (the trained Summarizer's summaries of the history
reviews used in training and evaluation, so the main job does not recompute them).

Example:
    >>> export_run(Path("~/.cache/reason4rec/runs/cpu-small").expanduser())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import Expert
from ..data import among_categories
from ..errors import Reason4RecError
from .model.adapters import ADAPTER_WEIGHTS, CARD, EXPERTS, AdapterCard, adapter_version, shipped_adapters_root
from .prompts import NO_ANALYSIS, spoken_list
from .summaries import SummaryCache, summary_version

SHIPPED_SUMMARIES = "summaries.jsonl.gz"
SUMMARY_FILES = (SHIPPED_SUMMARIES, "summaries.jsonl")
"""Where an adapters folder keeps its history summaries: shipped or exported (gzip), a training run's."""
MIN_MENTIONS = 2
"""A word of the summaries is learnt vocabulary once it is named this often (a typo named once is not
something the experts learnt to say)."""
_WORD = re.compile(r"[a-z][a-z'-]*")


def export_run(run: Path, to: Path | None = None, extra_caches: tuple[Path, ...] = ()) -> list[str]:
    """Copy every trained adapter of ``run``; returns a line per file group written.

    The summaries of the run (and of ``extra_caches``, e.g. an evaluation's cache) made by the
    run's Summarizer are merged into one gzip file next to the adapters."""
    run = Path(run).expanduser()
    to = Path(to) if to else shipped_adapters_root()
    lines: list[str] = []
    summarizer_version = None
    for name in EXPERTS:
        source = run / name / "adapter"
        if not (source / CARD).is_file():
            continue
        target = to / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for file in (ADAPTER_WEIGHTS, CARD):
            shutil.copy2(source / file, target / file)
        peft_config = json.loads((source / "adapter_config.json").read_text())
        # peft records the training machine's folder; the card's base name is what matters here.
        peft_config["base_model_name_or_path"] = AdapterCard.load(source).base_model
        (target / "adapter_config.json").write_text(json.dumps(peft_config, indent=2, sort_keys=True))
        size = (target / ADAPTER_WEIGHTS).stat().st_size / 1e6
        lines.append(f"{name}: {target} ({size:.1f} MB)")
        if name == Expert.SUMMARIZER:
            summarizer_version = adapter_version(target)
    if not lines:
        raise Reason4RecError(f"no trained adapters under {run}")
    caches = [run / "summaries.jsonl", *extra_caches]
    if summarizer_version and any(c.is_file() for c in caches):
        merged = SummaryCache(to / ".export-summaries.jsonl", seeds=[c for c in caches if c.is_file()])
        count = merged.export(to / SHIPPED_SUMMARIES, summary_version(summarizer_version))
        lines.append(f"summaries: {count} of version {summarizer_version} -> {to / SHIPPED_SUMMARIES}")
    return lines


def find_adapters(root: Path, names: tuple[Expert, ...] = EXPERTS) -> dict[Expert, Path]:
    """Expert -> folder of each adapter under ``root``, laid out as shipped (``<root>/<expert>``)
    or as a training run (``<root>/<expert>/adapter``)."""
    found = {}
    for name in names:
        for folder in (root / name, root / name / "adapter"):
            if (folder / CARD).is_file():
                found[name] = folder
                break
    return found


def adapter_dirs(source: Path | None = None, with_one_step: bool = True) -> dict[Expert, Path]:
    """Expert name -> adapter folder from a shipped-style folder, a run folder, or the package."""
    from .model.adapters import SERVING_EXPERTS, shipped_adapter_dirs

    names = (*SERVING_EXPERTS, Expert.ONE_STEP) if with_one_step else SERVING_EXPERTS
    if source is None:
        return shipped_adapter_dirs(names=names)
    source = Path(source).expanduser()
    found = find_adapters(source, names)
    missing = [name for name in SERVING_EXPERTS if name not in found]
    if missing:
        raise Reason4RecError(f"no {', '.join(missing)} adapter under {source} "
                              "(expected <dir>/<expert>/card.json or <run>/<expert>/adapter/card.json)")
    return found


def summary_cache(home: Path, adapters: Path | None = None) -> SummaryCache:
    """The history-summary cache: ``<home>/cache/summaries.jsonl``, seeded with the shipped file
    and, for a run folder, that run's own cache."""
    seeds = [shipped_adapters_root() / SHIPPED_SUMMARIES]
    if adapters is not None:
        seeds += [Path(adapters) / name for name in SUMMARY_FILES]
    return SummaryCache(Path(home) / "cache" / "summaries.jsonl", seeds=[s for s in seeds if s.is_file()])


def learnt_vocabulary(adapters: Mapping[Any, Path]) -> list[str]:
    """The words of the history summaries kept with ``adapters`` (beside an expert's folder,
    ``<dir>/<expert>``, or a run's, ``<run>/<expert>/adapter``) named at least :data:`MIN_MENTIONS`
    times: what the experts learnt to say, which the Reasoner's aspect guard keeps to what a prompt
    names (:mod:`.aspect_guard`). Empty where no summaries are kept (the guard is then off)."""
    folders = dict.fromkeys(folder for adapter in adapters.values() for folder in list(Path(adapter).parents)[:2])
    files = [folder / name for folder in folders for name in SUMMARY_FILES if (folder / name).is_file()]
    counts: Counter[str] = Counter()
    for summary in SummaryCache(Path(), seeds=files).summaries():  # Path(): read only, nothing written
        for field in summary.lower().splitlines():  # the field values, not their names
            counts.update(word for word in _WORD.findall(field.partition(":")[2]) if word != NO_ANALYSIS)
    return sorted(word for word, count in counts.items() if count >= MIN_MENTIONS and len(word) > 2)


def category_notice(category: str, adapters: Path | None = None) -> str | None:
    """One plain line when ``category`` (the reviews a person brought) is not one the experts were
    trained on, with the command that fits them to it; None when it is, or when the cards do not
    say (a run from before cards recorded categories)."""
    from .model.adapters import SERVING_EXPERTS

    dirs = adapter_dirs(adapters, with_one_step=False)
    known = sorted({c for name in SERVING_EXPERTS if name in dirs for c in AdapterCard.load(dirs[name]).categories})
    if not known or among_categories(category, known):
        return None
    return (f"The experts were trained on {spoken_list(known)} reviews, not {category}: their reasons may name "
            f"aspects of the wrong kind of product. To adapt them to your reviews (about an hour on two "
            f"cores): `reason4rec train all --recipe adapt --reviews FILE --category \"{category}\"`, "
            "then add `--adapters` with the run folder it names; to fit only their ratings to your stars (minutes): "
            f"`reason4rec calibrate --reviews FILE --category \"{category}\"`.")

