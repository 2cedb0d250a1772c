"""Training recipes: every size, subset and hyper-parameter of a run, as one TOML file.

Shipped recipes live in ``training/recipes/`` (``cpu-small``, ``cpu-full``, ``gpu-paper``, and
``adapt``, which fine-tunes the shipped adapters on a person's file); a path to any TOML file with
the same tables works too.

Example:
    >>> load_recipe("cpu-small").subset.reward_targets
    48
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import ConfigError, SplitName
from ..data import OnDuplicate, meta_beside
from .sft_types import LoraSettings, TrainSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubsetSettings(_Strict):
    summarizer_reviews: int = Field(160, ge=1)
    reward_targets: int = Field(64, ge=1)
    reasoner_targets: int = Field(64, ge=1)
    reward_none_fraction: float = Field(0.5, ge=0, le=1)
    predictor_targets: int | None = Field(None, ge=1)
    """None: the Predictor learns on the targets with an accepted reason; N: on N targets (those
    first, then other training targets), each with the trained Reasoner's own reason."""
    predictor_pool: Literal["accepted-first", "unseen-by-reasoner"] = "accepted-first"
    """Where the Predictor's N targets come from: the accepted ones first (the older recipes), or
    only targets the Reasoner never learnt from (the reward model's, then the rest), so the
    reasons it learns to read are like those it gets at question time: on a target the Reasoner
    was trained on, it repeats the teacher's verdict, which saw the true rating."""
    min_fraction: float = Field(0.0, ge=0, le=1)
    """0: subsets are taken as asked (the reward model's first). Above 0, the recipe fits the file
    it is given: when the file has fewer training targets than asked, the reward and Reasoner
    subsets shrink in proportion, and a file that cannot give this share of every subset (and of
    the report's validation targets) is refused before any training starts."""


class CollabRecipe(_Strict):
    """The collaborative estimates in the Predictor's prompt (issue 35): off in the older recipes."""

    estimates: bool = False
    """The Predictor reads the user+item bias model's and SVD++'s estimates; a training target's
    come from models fitted without it (``folds``-fold cross-fitting over the training targets)."""
    folds: int = Field(5, ge=2)
    none_fraction: float = Field(0.0, ge=0, le=1)
    """This share of the Predictor's targets is also given with ``Analysis: none``, so the same
    adapter rates without a reason too (the ablation "estimates, no reason" is then fair)."""


class FilterSettings(_Strict):
    tau: float | Literal["auto", "auto-per-stars"] = "auto"
    """A number, the median first-round margin (``auto``), or that median within 1-2, 3 and 4-5
    star targets apiece (``auto-per-stars``: unhappy buyers kept as often as happy ones)."""
    max_retries: int = Field(3, ge=0)
    hint_first: bool = False
    """The teacher is told the true rating from its first candidate (the paper's teacher sees it):
    every verdict is the rating's, not the review text's sentiment."""


class ReportSettings(_Strict):
    validation_targets: int = Field(0, ge=0)
    """Before/after measures of the experts on a seeded sample of this many of the file's own
    validation targets (0: no report)."""


class CalibrateSettings(_Strict):
    validation_targets: int = Field(0, ge=0)
    """After the last stage, the file's calibration for the trained experts is fitted on a seeded
    sample of this many of its validation targets (0: none) and kept in ``<run>/calibrations``,
    where ``--adapters <run>`` finds it: an adapted Predictor's ratings spread like the file's
    stars where its order holds out of fold (:mod:`~reason4rec.experts.calibration`)."""


class ExtraReviews(_Strict):
    """One more review file a recipe trains on beside the configured one (its own category)."""

    reviews: str
    """Path of a McAuley review file, relative to the directory the command runs in."""
    meta: str | None = None
    """Its metadata file (item titles), if any."""
    category: str | None = None
    """None: guessed from a McAuley file name (``Gift_Cards_5.json.gz``), else refused."""
    on_duplicate: OnDuplicate = "error"
    """A user's second review of one item: refused, or the later one kept (``--on-duplicate``)."""


class ExpertRecipe(_Strict):
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)


class Recipe(_Strict):
    name: str
    split: SplitName = "leave-last-out"
    seed: int = 2020
    history_k: int = Field(3, ge=1, le=200)
    max_review_chars: int = Field(400, ge=50)
    summary_batch: int = Field(16, ge=1)
    generation_batch: int = Field(8, ge=1)
    start: Literal["fresh", "shipped"] = "fresh"
    """``fresh``: new LoRA weights; ``shipped``: every expert starts from the adapter the package
    ships (its LoRA shape taken from that adapter's card): fine-tuning, not training anew."""
    held_out: str | None = None
    """Leave-one-category-out: a category these experts must never see. Training data with its
    reviews, or adapters to fine-tune whose card lists it, are refused before anything is trained,
    so a held-out measure cannot be spoilt by experts that already learnt the category."""
    reasoner_stars: bool = False
    """The Reasoner's prompt shows each history line's stars (issue 35), so its verdict can follow
    how the user rated before and how buyers rated the item; its card says so and every caller
    then shows them. A Reasoner fine-tuned from one that learnt with them keeps them."""
    also: list[ExtraReviews] = Field(default_factory=list)
    """More review files, each of its own category, trained on together with the configured one
    (experts for several categories: the category is in every prompt)."""
    subset: SubsetSettings = Field(default_factory=SubsetSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    calibrate: CalibrateSettings = Field(default_factory=CalibrateSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    collab: CollabRecipe = Field(default_factory=CollabRecipe)
    summarizer: ExpertRecipe = Field(default_factory=ExpertRecipe)
    reward: ExpertRecipe = Field(default_factory=ExpertRecipe)
    reasoner: ExpertRecipe = Field(default_factory=ExpertRecipe)
    predictor: ExpertRecipe = Field(default_factory=ExpertRecipe)
    one_step: ExpertRecipe = Field(default_factory=ExpertRecipe)

    def expert(self, name: str) -> ExpertRecipe:
        return getattr(self, name)


def with_extra_reviews(recipe: Recipe, paths: list[Path], on_duplicate: OnDuplicate = "error") -> Recipe:
    """``recipe`` training on more review files too (``reason4rec train --also FILE``), each with
    McAuley's metadata file beside it when there is one and its category from its name."""
    extra = [ExtraReviews(reviews=str(path), meta=None if (meta := meta_beside(Path(path))) is None else str(meta),
                          on_duplicate=on_duplicate) for path in paths]
    return recipe.model_copy(update={"also": [*recipe.also, *extra]}) if extra else recipe


def shipped_recipes() -> list[str]:
    folder = resources.files("reason4rec.training") / "recipes"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name, or a TOML file by path.

    Raises:
        ConfigError: unknown name, unreadable file, or invalid values (each named).
    """
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        shipped = resources.files("reason4rec.training") / "recipes" / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise ConfigError(f"unknown recipe {name_or_path!r}: not a file, and the shipped recipes "
                              f"are {', '.join(shipped_recipes())}")
        path = Path(str(shipped))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return Recipe(**raw)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"recipe {path} is not valid TOML: {err}") from err
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"recipe {path} is invalid: {problems}") from err
