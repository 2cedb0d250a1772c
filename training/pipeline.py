"""The training pipeline, stage by stage, into one run folder (resumable at every step).

Stages and what each writes under ``<run>/<stage>/``:

1. ``summarizer``: teacher summaries of sampled training reviews (``teacher.jsonl``), then the
   adapter. Afterwards the trained Summarizer summarises every history review the later stages
   show (``<run>/summaries.jsonl``, keyed by review id and adapter version).
2. ``reward``: the reward model, trained on the Predictor's prompt with the user's REAL review as
   analysis (and, for a share of targets, ``none``, the format of the baseline score b).
3. ``reasoner``: teacher candidates filtered by the reward model (``accepted.jsonl``,
   ``filter.json``), then the Reasoner trained on the accepted reasons.
4. ``predictor``: the trained Reasoner writes reasons for the accepted targets (``reasons.jsonl``);
   the Predictor learns the true rating from those reasons, the ones it will really get.
5. ``one_step``: the ablation, one adapter that writes the teacher's reason then the rating.

A stage whose ``adapter/card.json`` exists is skipped (``force`` retrains it); inside a stage the
Trainer resumes from its last checkpoint and teacher outputs are cached as they are produced.

A recipe with ``start = "shipped"`` (``adapt``) fine-tunes the shipped adapters instead of training
fresh ones, fits its subsets to the file (refusing one too small before any training), measures
the experts before and after on the file's own validation targets (:mod:`.adapt_report`) and fits
the file's calibration for the experts it trained into ``<run>/calibrations`` (:mod:`.calibrate`).

Example:
    >>> pipeline = TrainingPipeline(load_config(), load_recipe("cpu-small"), Path("artifacts/runs/x"))  # doctest: +SKIP
    >>> pipeline.run(["all"])                                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..config import Config, Expert
from ..data import (
    Review,
    ReviewDataset,
    Target,
    among_categories,
    build_targets,
    dataset_of,
    load_configured,
    make_split,
    merge_datasets,
    require_category,
)
from ..errors import Reason4RecError
from ..experts import (
    CALIBRATION_DIR,
    ESTIMATES_KEY,
    MIN_CALIBRATION_TARGETS,
    PROMPT_VERSION,
    SERVING_EXPERTS,
    STARS_KEY,
    AdapterCard,
    Calibration,
    LocalBackend,
    SummaryCache,
    TargetContext,
    adapter_version,
    base_fingerprint,
    calibrations_for,
    find_adapters,
    fresh_base,
    local_backend,
    one_step_messages,
    one_step_response,
    predictor_messages,
    rating_response,
    reasoner_messages,
    shipped_adapters_root,
    spoken_list,
    summarizer_messages,
    target_contexts,
    tidy_summary,
)
from .adapt_report import AdaptReport, validation_targets
from .calibrate import fit_calibration
from .estimates import attach_estimates, training_estimates
from .eval_run import write_atomically
from .recipes import Recipe
from .reward_filter import FilterItem, filter_reasons, resumable_scorer
from .sft import train_adapter
from .sft_types import LoraSettings, SFTExample, TrainingError, TrainResult
from .teachers import Teacher

STAGES = tuple(Expert)
"""Every expert is a training stage, in the order each needs the one before."""
START_FILE = "start.json"
"""A run's record of the adapters its stages fine-tune (recipes with ``start = "shipped"``)."""


def parse_stages(names: Sequence[str]) -> list[Expert]:
    """Stage names from a person (``one-step`` spelt either way, ``all``) as experts; unknown ones fail."""
    if "all" in names:
        return list(STAGES)
    wanted = [name.replace("-", "_") for name in names]
    unknown = [name for name in wanted if name not in STAGES]
    if unknown:
        raise PipelineError(f"unknown stage(s) {unknown}; use {', '.join(STAGES)} or all")
    return [Expert(name) for name in wanted]
Say = Callable[[str], None]
BarFactory = Callable[[str], Callable[[int, int], None]]


class PipelineError(Reason4RecError, RuntimeError):
    """A stage cannot run (usually: an earlier stage has not been trained yet)."""


class TrainingPipeline:
    """Runs the stages of one recipe into ``run_dir`` with one teacher."""

    def __init__(self, config: Config, recipe: Recipe, run_dir: Path, teacher: Teacher,
                 say: Say = lambda message: None, bars: BarFactory | None = None,
                 dataset: ReviewDataset | None = None, start_adapters: Mapping[Expert, Path] | None = None) -> None:
        self.config = config
        self.recipe = recipe
        self.run_dir = Path(run_dir)
        self.teacher = teacher
        self.say = say
        self.bars = bars or (lambda label: (lambda done, total: None))
        self.dataset = training_dataset(dataset or dataset_of(config.data), recipe)
        self.split = make_split(self.dataset, recipe.split, recipe.seed)
        self.start_root = Path(config.agent.adapters).expanduser() if config.agent.adapters else shipped_adapters_root()
        """Where ``start = "shipped"`` finds the experts it fine-tunes: the ones the person uses
        (``[agent] adapters``, ``train --adapters``: adapters or a run folder), else the shipped ones."""
        if start_adapters is None and recipe.start == "shipped":
            start_adapters = find_adapters(self.start_root)
        self.start_adapters: dict[Expert, Path] = dict(start_adapters or {})
        """The adapter each stage fine-tunes (``start = "shipped"``); a stage not here starts fresh."""
        self.check_data()  # a file too small for the recipe: said before anything is sampled or trained
        self.check_held_out()
        self._reward_targets, self._reasoner_targets, self._other_targets = self._sample_targets()
        self._context_memo: dict[str, TargetContext] = {}
        """Prompt view by target review id (:meth:`_contexts`)."""

    # ------------------------------------------------------------------ orchestration
    def run(self, stages: Sequence[str], force: bool = False) -> dict[Expert, AdapterCard]:
        """Train ``stages`` (expert names as typed on the command line, ``one-step`` or ``all``) in order."""
        wanted = parse_stages(stages)
        self._check_start(wanted)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if len(self.dataset.categories) > 1:
            counts = Counter(self.dataset.category_of(r.item_id) for r in self.dataset.reviews)
            self.say("[data] " + ", ".join(f"{name} ({counts[name]:,} reviews)" for name in self.dataset.categories)
                     + ": each prompt names its item's category")
        changed = self._recipe_changes()
        if changed:
            self.say(f"[run] {self.run_dir} was trained with another recipe (changed: {', '.join(changed)}); stages "
                     "already trained are kept as they are (--force trains the named stages again)")
        write_atomically(self.run_dir / "recipe.json", self.recipe.model_dump_json(indent=2))
        self._record_start()
        cards, began = {}, time.perf_counter()
        report = self._report()
        if report is not None and all(e in self.start_adapters for e in report.experts):
            report.measure("before", self.start_adapters)
        todo = [stage for stage in STAGES if stage in wanted]
        for number, stage in enumerate(todo, 1):
            card_path = self.adapter_dir(stage) / "card.json"
            if card_path.is_file() and not force:
                self.say(f"[{stage}] already trained ({card_path}); skipping (use --force to redo)")
                cards[stage] = AdapterCard.load(self.adapter_dir(stage))
                continue
            self.say(f"[{stage}] stage {number} of {len(todo)}, {_minutes(time.perf_counter() - began)} into this "
                     f"run{', fine-tuning ' + str(self.start_adapters[stage]) if stage in self.start_adapters else ''}")
            started = time.perf_counter()
            cards[stage] = getattr(self, f"_stage_{stage}")()
            self.say(f"[{stage}] done in {time.perf_counter() - started:.0f} s")
        serving_trained = all((self.adapter_dir(e) / "card.json").is_file() for e in SERVING_EXPERTS)
        if report is not None and serving_trained:  # the report measures the serving experts
            report.measure("after", {e: self.adapter_dir(e) for e in report.experts})
            for line in report.lines():
                self.say(line)
        if self.recipe.calibrate.validation_targets and serving_trained:
            self._calibrate()
        return cards

    def _calibrate(self) -> Calibration | None:
        """The file's calibration for the experts this run trained, in ``<run>/calibrations`` (where
        ``--adapters <run>`` finds it); kept and not fitted again while it matches them."""
        wanted = self.recipe.calibrate.validation_targets
        dirs = {e: self.adapter_dir(e) for e in SERVING_EXPERTS}
        folder = self.run_dir / CALIBRATION_DIR
        if len(self.dataset.categories) > 1:
            self.say(f"[calibrate] skipped: this run learnt {spoken_list(self.dataset.categories)}; fit each with "
                     f"reason4rec calibrate --reviews FILE --adapters {self.run_dir} --out {folder}")
            return None
        available = len(validation_targets(self.split, wanted, self.recipe.seed))
        if available < MIN_CALIBRATION_TARGETS:
            self.say(f"[calibrate] skipped: {available} validation targets with histories, a calibration needs "
                     f"{MIN_CALIBRATION_TARGETS}; ratings stay the Predictor's")
            return None
        found = calibrations_for(self.config, self.run_dir).find(self.dataset.category)
        if found is not None and found.fitted_on.get("reviews") == (self.dataset.source or None):
            self.say(f"[calibrate] already fitted for these experts: {found.summary()}")
            return found
        self.say(f"[calibrate] fitting the {self.dataset.category} calibration on {available} validation targets")
        began = time.perf_counter()
        found = fit_calibration(self.config, self.dataset, self.split, dirs, wanted, self.recipe.seed,
                                self.run_dir / "calibrate", say=self.say, bars=self.bars,
                                batch_size=self.recipe.generation_batch, summaries=self._measure_summaries())
        path = found.save(folder)
        self.say(f"[calibrate] {found.summary()}; {found.spread_summary()}; written to {path} "
                 f"in {time.perf_counter() - began:.0f} s")
        return found

    def _report(self) -> AdaptReport | None:
        """The before/after measures the recipe asks for (None: it asks for none)."""
        if not self.recipe.report.validation_targets:
            return None
        return AdaptReport(self.config, self.dataset, self.split, self.recipe.report.validation_targets,
                           self.recipe.seed, self.run_dir / "report", say=self.say, bars=self.bars,
                           batch_size=self.recipe.generation_batch, summary_batch=self.recipe.summary_batch,
                           summaries=self._measure_summaries())

    def _measure_summaries(self) -> SummaryCache:
        """The report's and the calibration's summaries: their own file, read beside the run's (the
        trained Summarizer's summaries of the histories the stages showed, keyed by its version)."""
        return SummaryCache(self.run_dir / "report" / "summaries.jsonl", seeds=[self.run_dir / "summaries.jsonl"])

    def _validation_targets(self) -> list[Target]:
        return validation_targets(self.split, self.recipe.report.validation_targets, self.recipe.seed)

    def check_held_out(self) -> None:
        """Refuse training data that has the recipe's held-out category (``held_out``): the measure on
        that category would no longer be of experts that never saw it."""
        held_out = self.recipe.held_out
        if held_out and among_categories(held_out, self.dataset.categories):
            raise PipelineError(f"recipe {self.recipe.name} holds out {held_out}, but the training data has "
                                f"{held_out} reviews ({self.dataset.source or 'the configured file'}): give "
                                "--reviews a file of another category; nothing was trained")

    def check_data(self) -> None:
        """Refuse, in one line and before any training, a file too small for what the recipe needs.

        Only recipes that fit themselves to the file (``subset.min_fraction`` above 0) are checked:
        each must get that share of its summarizer reviews, of its reward + Reasoner targets and
        of the report's validation targets. The line says how many reviews would do, estimated
        from this file's own ratio of targets to reviews.
        """
        share = self.recipe.subset.min_fraction
        if not share:
            return
        subset = self.recipe.subset
        texts = sum(1 for r in self.split.train if r.text.strip())
        needs = [("training reviews with text", subset.summarizer_reviews, texts),
                 ("training targets with user and item histories", subset.reward_targets + subset.reasoner_targets,
                  self.training_targets_available())]
        if self.recipe.report.validation_targets:
            needs.append(("validation targets with histories", self.recipe.report.validation_targets,
                          len(self._validation_targets())))
        short = [(what, math.ceil(share * asked), have) for what, asked, have in needs if have < share * asked]
        if not short:
            return
        name = Path(self.dataset.source).name if self.dataset.source else "the data"
        wants = [f"{need:,} {what} (it has {have:,})" for what, need, have in short]
        estimate = ""
        if all(have for _, _, have in short):  # this file's own ratio of what it gives to its size
            scale = max(need / have for _, need, have in short)
            estimate = f"; about {math.ceil(len(self.dataset) * scale / 100) * 100:,} reviews like these would do"
        raise PipelineError(f"{name} is too small to adapt on ({len(self.dataset):,} reviews): recipe "
                            f"{self.recipe.name} needs at least {spoken_list(wants)}{estimate}; nothing was trained")

    def _check_start(self, wanted: Sequence[Expert]) -> None:
        """A recipe that starts from the shipped adapters needs one for every stage it trains, and
        none that already learnt the category it holds out (``held_out``)."""
        if self.recipe.start != "shipped":
            return
        missing = [stage for stage in wanted if stage not in self.start_adapters]
        if missing:
            raise PipelineError(f"recipe {self.recipe.name} fine-tunes existing adapters, but there is none for "
                                f"{', '.join(missing)} (looked in {self.start_root})")
        held_out = self.recipe.held_out
        if not held_out:
            return
        cards = {stage: AdapterCard.load(self.start_adapters[stage]) for stage in wanted}
        seen = [stage.value for stage, card in cards.items() if among_categories(held_out, card.categories)]
        if seen:
            raise PipelineError(f"recipe {self.recipe.name} holds out {held_out}, but the {', '.join(seen)} "
                                f"{_adapters(seen)} in {self.start_root} learnt it: pass --adapters with "
                                f"experts that never saw {held_out}; nothing was trained")
        unknown = [stage.value for stage, card in cards.items() if not card.categories]
        if unknown:
            self.say(f"[run] the cards of the {', '.join(unknown)} {_adapters(unknown)} in {self.start_root} "
                     f"do not list their categories: make sure they never saw {held_out}")

    def _record_start(self) -> None:
        """Which adapters the stages fine-tune (``start.json``): a run resumed from other ones says so
        once, as a changed recipe does (the stages already trained keep what they started from)."""
        if self.recipe.start != "shipped":
            return
        path, now = self.run_dir / START_FILE, {e.value: str(p) for e, p in sorted(self.start_adapters.items())}
        try:
            before = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            before = None
        if before is not None and before != now:
            self.say(f"[run] {self.run_dir} fine-tuned other adapters before ({_common_folder(before)}); stages "
                     f"already trained are kept as they are, the others start from {self.start_root}")
        write_atomically(path, json.dumps(now, indent=2))

    def _recipe_changes(self) -> list[str]:
        """The recipe fields that differ from the ones this run folder was trained with."""
        path = self.run_dir / "recipe.json"
        if not path.is_file():
            return []
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            return ["(the saved recipe.json is unreadable)"]
        now = json.loads(self.recipe.model_dump_json())
        if not isinstance(before, dict):
            return ["(the saved recipe.json is not a recipe)"]
        before = _with_defaults(before, json.loads(Recipe(name=self.recipe.name).model_dump_json()))
        return sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))

    def stage_dir(self, stage: Expert) -> Path:
        return self.run_dir / stage

    def adapter_dir(self, stage: Expert) -> Path:
        return self.stage_dir(stage) / "adapter"

    def _require(self, stage: Expert) -> Path:
        folder = self.adapter_dir(stage)
        if not (folder / "card.json").is_file():
            raise PipelineError(f"stage needs the {stage} adapter; run `reason4rec train {stage}` first "
                                f"(looked in {folder})")
        return folder

    # ------------------------------------------------------------------ data selection
    def training_targets_available(self) -> int:
        """How many training targets the split has for any stage (both histories non-empty): the
        ceiling on data a recipe can ask for."""
        return len(self._training_targets())

    def _training_targets(self) -> list[Target]:
        return [t for t in build_targets(self.split, "train", self.recipe.history_k) if t.has_histories]

    def _sample_targets(self) -> tuple[list[Target], list[Target], list[Target]]:
        """Disjoint random subsets of training targets that have both histories (method note): the
        reward model's, the Reasoner's, and the rest (which only a Predictor asking for more uses)."""
        targets = self._training_targets()
        random.Random(self.recipe.seed).shuffle(targets)
        n_reward, n_reason = self.recipe.subset.reward_targets, self.recipe.subset.reasoner_targets
        if len(targets) < 2:
            raise PipelineError("the training split has too few targets with user and item histories")
        if self.recipe.subset.min_fraction and len(targets) < n_reward + n_reason:  # fit to the file
            n_reward = round(len(targets) * n_reward / (n_reward + n_reason))
            n_reason = len(targets) - n_reward
        return targets[:n_reward], targets[n_reward:n_reward + n_reason], targets[n_reward + n_reason:]

    def _contexts(self, targets: Sequence[Target]) -> list[TargetContext]:
        """Prompt views of ``targets``, summarising their history reviews with the trained Summarizer.

        Remembered per target: the reasoner, predictor and one-step stages share theirs and the
        Predictor's pool takes slices of sets already built, so the Summarizer is loaded only for
        targets not seen before.
        """
        todo = list({t.review.review_id: t for t in targets if t.review.review_id not in self._context_memo}.values())
        if todo:
            backend = local_backend(self.config, {Expert.SUMMARIZER: self._require(Expert.SUMMARIZER)},
                                    batch_size=self.recipe.summary_batch)
            built = target_contexts(
                backend, todo, SummaryCache(self.run_dir / "summaries.jsonl"), self.dataset.category_of,
                self.dataset.title, batch_size=self.recipe.summary_batch,
                max_review_chars=self.recipe.max_review_chars, progress=self.bars("summarising history reviews"),
                reasoner_stars=self._reasoner_sees_stars())
            self._context_memo.update({t.review.review_id: context for t, context in zip(todo, built, strict=True)})
        return [self._context_memo[t.review.review_id] for t in targets]

    # ------------------------------------------------------------------ stages
    def _stage_summarizer(self) -> AdapterCard:
        folder = self.stage_dir(Expert.SUMMARIZER)
        pool = list(self.split.train)
        random.Random(self.recipe.seed).shuffle(pool)
        chosen = [r for r in pool if r.text.strip()][: self.recipe.subset.summarizer_reviews]
        cache = SummaryCache(folder / "teacher.jsonl")
        version = f"teacher:{self.teacher.name}"
        bar = self.bars(f"teacher summaries ({self.teacher.name})")
        for done, review in enumerate(chosen, 1):
            if cache.get(review.review_id, version) is None:
                summary = self.teacher.summarize(self.dataset.category_of(review.item_id),
                                                 self.dataset.title(review.item_id),
                                                 review.rating, review.text)
                cache.put_many([(review.review_id, version, summary)])
            bar(done, len(chosen))
        examples = [SFTExample(self._summarizer_prompt(r), tidy_summary(cache.get(r.review_id, version) or ""))
                    for r in chosen]  # clean targets: the three fields and nothing else
        return self._train(Expert.SUMMARIZER, examples, {"reviews": len(examples), "source": "train split",
                                                    "teacher": self.teacher.name})

    def _summarizer_prompt(self, review: Review):
        return summarizer_messages(self.dataset.category_of(review.item_id), self.dataset.title(review.item_id),
                                   review.rating, review.text, self.recipe.max_review_chars)

    def _stage_reward(self) -> AdapterCard:
        targets = self._reward_targets
        contexts = self._contexts(targets)
        with_none = round(len(targets) * self.recipe.subset.reward_none_fraction)
        examples = [SFTExample(predictor_messages(ctx, t.review.text or None), rating_response(t.review.rating))
                    for t, ctx in zip(targets, contexts)]
        examples += [SFTExample(predictor_messages(ctx, None), rating_response(t.review.rating))
                     for t, ctx in zip(targets[:with_none], contexts[:with_none])]
        random.Random(self.recipe.seed).shuffle(examples)
        return self._train(Expert.REWARD, examples, {"targets": len(targets), "with_real_review": len(targets),
                                                "with_no_analysis": with_none, "history_k": self.recipe.history_k})

    def _stage_reasoner(self) -> AdapterCard:
        folder = self.stage_dir(Expert.REASONER)
        accepted_path = folder / "accepted.jsonl"
        targets = self._reasoner_targets
        contexts = self._contexts(targets)
        if accepted_path.is_file():
            accepted, _ = self._accepted()
            try:
                report = json.loads((folder / "filter.json").read_text())
            except (OSError, ValueError) as err:
                raise PipelineError(f"{folder / 'filter.json'} is missing or unreadable ({err}) beside "
                                    f"{accepted_path}: move accepted.jsonl aside to filter again") from err
            self.say(f"[reasoner] reusing {len(accepted)} accepted reasons from {accepted_path}")
        else:
            reward = local_backend(self.config, {Expert.REWARD: self._require(Expert.REWARD)},
                                   batch_size=self.recipe.generation_batch)
            items = [FilterItem(t.review.review_id, ctx, t.review.rating, t.review.text)
                     for t, ctx in zip(targets, contexts)]
            scores = SummaryCache(folder / "reward-scores.jsonl")  # key -> score: a stopped filter resumes
            scorer = resumable_scorer(_reward_scorer(reward), scores, reward.version(Expert.REWARD),
                                      progress=self.bars("reward model scores"))
            kept, filter_report = filter_reasons(
                items, self.teacher, scorer, tau=self.recipe.filter.tau, max_retries=self.recipe.filter.max_retries,
                progress=self.bars("reward filter rounds"), hint_first=self.recipe.filter.hint_first)
            report = filter_report.as_dict()
            folder.mkdir(parents=True, exist_ok=True)
            accepted = [{"key": a.key, "reason": a.reason, "attempt": a.attempt,
                         "baseline": round(a.baseline, 4), "score": round(a.score, 4)} for a in kept]
            write_atomically(folder / "filter.json", json.dumps(report, indent=2))  # first: accepted.jsonl
            _write_jsonl(accepted_path, accepted)  # present means the report is too
        self.say(f"[reasoner] reward filter: kept {report['kept']} of {report['targets']} targets "
                 f"({report['kept_first']} first try, {report['kept_hinted']} hinted), dropped "
                 f"{report['dropped']}; rejected {report['leaks_rejected']} leaking, "
                 f"{report['reward_rejected']} by the reward model; tau {report['tau']:.3f}")
        if not accepted:
            raise TrainingError("the reward filter kept no reason: nothing to train the Reasoner on "
                                "(raise tau or max_retries, or use a stronger teacher)")
        by_key = {t.review.review_id: ctx for t, ctx in zip(targets, contexts)}
        examples = [SFTExample(reasoner_messages(by_key[a["key"]]), a["reason"]) for a in accepted]
        stars = {STARS_KEY: True} if self._reasoner_sees_stars() else {}
        return self._train(Expert.REASONER, examples, {"targets": len(targets), "accepted": len(accepted),
                                                  "teacher": self.teacher.name, "filter": report, **stars})

    def _reasoner_sees_stars(self) -> bool:
        """The recipe shows the Reasoner the stars, or the Reasoner it fine-tunes learnt with them."""
        start = self.start_adapters.get(Expert.REASONER)
        return self.recipe.reasoner_stars or (start is not None and bool(AdapterCard.load(start).data.get(STARS_KEY)))

    def _accepted(self) -> tuple[list[dict], dict[str, tuple[Target, TargetContext]]]:
        path = self.stage_dir(Expert.REASONER) / "accepted.jsonl"
        if not path.is_file():
            raise PipelineError("no accepted reasons yet; run `reason4rec train reasoner` first")
        try:
            accepted = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            keys = [a["key"] for a in accepted]
        except (ValueError, KeyError, TypeError) as err:
            raise PipelineError(f"{path} is damaged ({err}); move it aside to filter again") from err
        targets = self._reasoner_targets
        foreign = set(keys) - {t.review.review_id for t in targets}
        if foreign:
            raise PipelineError(f"{path} holds reasons for {len(foreign)} target(s) this recipe and data do not "
                                "pick for the Reasoner (made with another recipe, seed or data set?); use another "
                                "run folder, or move it aside to filter again")
        contexts = self._contexts(targets)
        return accepted, {t.review.review_id: (t, ctx) for t, ctx in zip(targets, contexts)}

    def _predictor_pool(self, wanted: int | None = None) -> tuple[list[tuple[Target, TargetContext]], int]:
        """The Predictor's first ``wanted`` targets (default ``subset.predictor_targets``) and how
        many of them had an accepted teacher reason.

        The accepted targets first, then the other reasoner targets, the reward targets and the
        remaining training targets (the Reasoner writes its own reason for every one of them); with
        no count, the accepted targets alone. With ``subset.predictor_pool = "unseen-by-reasoner"``:
        the reward targets, then the remaining ones, never a target the Reasoner learnt from.
        Prompt views are built only for targets taken.
        """
        wanted = self.recipe.subset.predictor_targets if wanted is None else wanted
        if wanted is not None and self.recipe.subset.predictor_pool == "unseen-by-reasoner":
            self._require(Expert.REASONER)
            pool: list[tuple[Target, TargetContext]] = []
            for more in (self._reward_targets, self._other_targets):
                more = more[:max(0, wanted - len(pool))]
                pool += list(zip(more, self._contexts(more))) if more else []
            return pool, 0
        accepted, by_key = self._accepted()
        chosen = [by_key[a["key"]] for a in accepted]
        if wanted is None:
            return chosen, len(chosen)
        taken = {t.review.review_id for t, _ in chosen}
        pool = chosen + [(t, c) for t, c in zip(self._reasoner_targets, self._contexts(self._reasoner_targets))
                         if t.review.review_id not in taken]
        for more in (self._reward_targets, self._other_targets):
            if len(pool) < wanted:
                more = more[:wanted - len(pool)]
                pool += list(zip(more, self._contexts(more)))
        pool = pool[:wanted]
        return pool, min(len(chosen), len(pool))

    def _predictor_examples(self, pool: Sequence[tuple[Target, TargetContext]]) -> tuple[list[SFTExample], str]:
        """The Predictor's examples of ``pool``, each with the trained Reasoner's own greedy reason
        (written once, kept in the stage's ``reasons.jsonl``), and that Reasoner's version."""
        cached = SummaryCache(self.stage_dir(Expert.PREDICTOR) / "reasons.jsonl")  # key -> generated reason
        backend = local_backend(self.config, {Expert.REASONER: self._require(Expert.REASONER)},
                                batch_size=self.recipe.generation_batch)
        version = backend.version(Expert.REASONER)
        todo = [(t, c) for t, c in pool if cached.get(t.review.review_id, version) is None]
        bar = self.bars("trained Reasoner writes reasons")
        batch = self.recipe.generation_batch
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            texts = backend.generate(Expert.REASONER, [reasoner_messages(c) for _, c in chunk])
            cached.put_many([(t.review.review_id, version, text) for (t, _), text in zip(chunk, texts)])
            bar(min(start + batch, len(todo)), len(todo))
        del backend
        contexts = [c for _, c in pool]
        if self._predictor_reads_estimates():
            contexts = attach_estimates(contexts, training_estimates(
                self.config, self.split, [t.review for t, _ in pool], folds=self.recipe.collab.folds,
                seed=self.recipe.seed))
        examples = [SFTExample(predictor_messages(c, cached.get(t.review.review_id, version)),
                               rating_response(t.review.rating)) for (t, _), c in zip(pool, contexts)]
        bare = sorted(random.Random(self.recipe.seed).sample(range(len(pool)),
                                                             round(len(pool) * self.recipe.collab.none_fraction)))
        examples += [SFTExample(predictor_messages(contexts[i], None), rating_response(pool[i][0].review.rating))
                     for i in bare]
        return examples, version

    def _stage_predictor(self) -> AdapterCard:
        pool, accepted = self._predictor_pool()
        examples, version = self._predictor_examples(pool)
        collab = self.recipe.collab
        estimates = {} if not self._predictor_reads_estimates() else {ESTIMATES_KEY: {
            "models": ["user+item bias", "SVD++"], "folds": collab.folds, "seed": self.recipe.seed,
            "fitted_on": "the training reviews without the fold's targets (k-fold cross-fitting)"}}
        return self._train(Expert.PREDICTOR, examples, {"targets": len(pool), "examples": len(examples),
                                                   "with_accepted_reason": accepted,
                                                   "pool": self.recipe.subset.predictor_pool,
                                                   "none_fraction": collab.none_fraction, **estimates,
                                                   "reasons": f"trained Reasoner ({version}), greedy"})

    def _predictor_reads_estimates(self) -> bool:
        """The recipe asks for the collaborative estimates, or the Predictor it fine-tunes learnt with them."""
        start = self.start_adapters.get(Expert.PREDICTOR)
        return self.recipe.collab.estimates or (start is not None and ESTIMATES_KEY in AdapterCard.load(start).data)

    def _stage_one_step(self) -> AdapterCard:
        accepted, by_key = self._accepted()
        examples = [SFTExample(one_step_messages(by_key[a["key"]][1]),
                               one_step_response(a["reason"], by_key[a["key"]][0].review.rating))
                    for a in accepted]
        return self._train(Expert.ONE_STEP, examples, {"targets": len(examples),
                                                  "reasons": "accepted teacher reasons"})

    # ------------------------------------------------------------------ training
    def predictor_curve(self, sizes: Sequence[int], seed: int = 2020, variant: str | None = None) -> dict[int, Path]:
        """Predictor adapters trained on nested seeded subsets of the predictor stage's examples.

        For a learning curve (error vs training targets): each size gets its own folder
        ``<run>/predictor-curve/n<size>/`` with the stage's settings, so only the amount of data
        differs; a size equal to the stage's count is the stage's own adapter. Each resumes.
        ``variant`` names other training settings (this pipeline's recipe, e.g. more LoRA layers)
        on the same subsets: its folders are ``<run>/predictor-curve/<variant>/n<size>/`` and every
        size is trained, the stage's own count too. A size above the stage's count takes all its
        examples and the pool's next targets (:meth:`_predictor_pool`; the Reasoner writes their
        reasons first), up to every training target the split has.
        """
        if variant is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", variant):
            raise PipelineError(f"curve variant {variant!r}: use lower-case letters, digits, '.' and '-'")
        data_path = self.stage_dir(Expert.PREDICTOR) / "data.jsonl"
        self._require(Expert.PREDICTOR)
        examples = [SFTExample.from_json(line) for line in data_path.read_text().splitlines() if line.strip()]
        ceiling = self.training_targets_available()
        bad = [n for n in sizes if not 0 < n <= ceiling]
        if bad:
            raise PipelineError(f"curve sizes {bad} are outside 1..{ceiling:,} (the split's training targets "
                                f"with both histories; the predictor stage has {len(examples):,})")
        stage_count = len(examples)
        root = self.run_dir / "predictor-curve" / (variant or "")
        untrained_above = [n for n in sizes
                           if n > stage_count and not (root / f"n{n}" / "adapter" / "card.json").is_file()]
        if untrained_above:  # only then: it loads the Summarizer and the Reasoner
            examples += self._more_predictor_examples(examples, max(untrained_above))
        order = list(range(stage_count))
        random.Random(seed).shuffle(order)
        adapters = {}
        for n in sorted(set(sizes)):
            if n == stage_count and variant is None:
                adapters[n] = self.adapter_dir(Expert.PREDICTOR)
                continue
            folder = root / f"n{n}"
            if variant is not None and (folder / "adapter" / "card.json").is_file():
                trained_with = AdapterCard.load(folder / "adapter").recipe
                if trained_with != self.recipe.name:
                    raise PipelineError(f"curve variant {variant!r} at {folder} was trained with recipe "
                                        f"{trained_with!r}, not {self.recipe.name!r}: use another variant name")
            if not (folder / "adapter" / "card.json").is_file():
                if n <= stage_count:
                    chosen = [examples[i] for i in sorted(order[:n])]
                    data = {"targets": n, "subset_of": stage_count, "subset_seed": seed,
                            "reasons": "the predictor stage's, a seeded subset"}
                else:  # all the stage's examples and the next targets of its pool: nested with the smaller sizes
                    chosen = examples[:n]
                    data = {"targets": n, "stage_targets": stage_count, "more_targets": n - stage_count,
                            "reasons": "the predictor stage's, and the same Reasoner's for the pool's next targets"}
                self._train(Expert.PREDICTOR, chosen, data, folder)
            adapters[n] = folder / "adapter"
        return adapters

    def _more_predictor_examples(self, stage_examples: list[SFTExample], wanted: int) -> list[SFTExample]:
        """Examples of the Predictor pool's targets after the stage's, up to ``wanted`` in all (none
        when the stage has enough); the stage's own must be the pool's first, or the curve would not
        be nested."""
        if wanted <= len(stage_examples):
            return []
        pool, _ = self._predictor_pool(wanted)
        examples, _ = self._predictor_examples(pool)
        if examples[:len(stage_examples)] != stage_examples:
            raise PipelineError("the predictor stage's examples are not the first of its pool today (another "
                                "recipe, data or Reasoner?): retrain the stage before extending its curve")
        return examples[len(stage_examples):]

    def _train(self, stage: Expert, examples: list[SFTExample], data: dict, folder: Path | None = None) -> AdapterCard:
        folder = folder or self.stage_dir(stage)
        folder.mkdir(parents=True, exist_ok=True)
        _write_jsonl(folder / "data.jsonl", [json.loads(e.to_json()) for e in examples])
        settings = self.recipe.expert(stage)
        start = self.start_adapters.get(stage)
        start_card = AdapterCard.load(start) if start is not None else None
        lora = settings.lora if start_card is None else LoraSettings(**{**start_card.lora,
                                                                       "dropout": settings.lora.dropout})
        layers = f"top {lora.layers} layers" if lora.layers else "all layers"
        self.say(f"[{stage}] training on {len(examples)} examples ({'QLoRA NF4' if settings.train.qlora else 'LoRA'}, "
                 f"r={lora.r}, {layers}, {settings.train.engine} engine, loss {settings.train.loss})")
        fingerprint: dict[str, str] = {}

        def load(qlora: bool):
            base = fresh_base(self.config, load_in_4bit=qlora)
            fingerprint["value"] = base_fingerprint(base.model)
            fingerprint["device"] = str(base.device)
            if start_card is not None and start_card.base_fingerprint != fingerprint["value"]:
                raise PipelineError(f"the {stage} adapter to fine-tune ({start}) was trained on base model "
                                    f"{start_card.base_model!r}, not {self.config.base_model.name_or_path!r}")
            return base

        result: TrainResult = train_adapter(load, examples, lora, settings.train, folder,
                                            progress=self.bars(f"training {stage}"), start_from=start,
                                            bottom_progress=self.bars(f"training {stage}: the frozen layers, once"))
        categories = {c.casefold(): c for c in (*(start_card.categories if start_card else ()),
                                                  *self.dataset.categories)}
        started_from = {} if start is None else {"started_from": {
            "adapter": str(start), "version": adapter_version(start), "recipe": start_card.recipe,
            "categories": list(start_card.categories)}}
        card = AdapterCard(
            expert=stage,
            base_model=self.config.base_model.name_or_path,
            base_fingerprint=fingerprint["value"],
            prompt_version=PROMPT_VERSION,
            recipe=self.recipe.name,
            lora=lora.model_dump(),
            data={**data, "split": self.recipe.split, "seed": self.recipe.seed,
                  "dataset": " + ".join(Path(part).name for part in self.dataset.source.split(" + "))
                  if self.dataset.source else "shipped",
                  "categories": list(categories.values()), **started_from,
                  "history_k": self.recipe.history_k, "max_review_chars": self.recipe.max_review_chars},
            training={**result.as_dict(), **settings.train.model_dump(), "device": fingerprint["device"]},
        )
        card.save(folder / "adapter")
        return card


def _adapters(names: Sequence[str]) -> str:
    return "adapter" if len(names) == 1 else "adapters"


def training_dataset(dataset: ReviewDataset, recipe: Recipe) -> ReviewDataset:
    """``dataset`` and the review files the recipe also trains on (``also``), merged: each file's
    items keep their own category, so every prompt names the right one. A missing or bad file,
    or one whose category is neither given nor in its name, is refused with the loader's message."""
    if not recipe.also:
        return dataset
    extra = [load_configured(Path(source.reviews), None if source.meta is None else Path(source.meta),
                             source.category or require_category(Path(source.reviews)),
                             on_duplicate=source.on_duplicate)
             for source in recipe.also]
    return merge_datasets([dataset, *extra])


def _reward_scorer(backend: LocalBackend):
    def score(contexts: Sequence[TargetContext], analyses: Sequence[str | None]) -> list[float]:
        prompts = [predictor_messages(ctx, analysis) for ctx, analysis in zip(contexts, analyses)]
        return [d.expected for d in backend.rate(Expert.REWARD, prompts)]

    return score


def _with_defaults(saved: dict, defaults: dict) -> dict:
    """A recipe saved before newer fields existed, with those fields at their defaults (one table
    deep): a field added since is not a change of recipe."""
    merged = {**{key: value for key, value in defaults.items() if key not in saved}, **saved}
    for key, value in defaults.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**{k: v for k, v in value.items() if k not in merged[key]}, **merged[key]}
    return merged


def _common_folder(start: object) -> str:
    """The folder a saved ``start.json``'s adapters share (what the run fine-tuned before)."""
    try:
        return os.path.commonpath([str(path) for path in dict(start).values()])  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "unreadable start.json"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomically(path, "".join(json.dumps(row) + "\n" for row in rows))
