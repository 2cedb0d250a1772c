"""The experts as LoRA adapters over ONE loaded base model, switched per call (peft multi-adapter).

Each adapter folder holds peft's files plus ``card.json``: which expert it is, the prompt version
and the base model it was trained on (by name and by an architecture fingerprint), the recipe,
the data subset, steps, loss, time and metrics. Loading checks the card so a wrong base model or
stale prompts fail with a message naming what is wrong instead of producing nonsense.

Example:
    >>> experts = ExpertModel.load(base, shipped_adapter_dirs())   # doctest: +SKIP
    >>> with experts.use("reasoner"):                              # doctest: +SKIP
    ...     ...  # every forward pass here runs base + the reasoner's LoRA weights
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Expert
from ...errors import Reason4RecError
from ..prompts import COMPATIBLE_PROMPTS, PROMPT_VERSION

if TYPE_CHECKING:
    from .base_model import LoadedModel

EXPERTS = (Expert.SUMMARIZER, Expert.REWARD, Expert.REASONER, Expert.PREDICTOR, Expert.ONE_STEP)
"""``one_step`` is the ablation (reason and rate with one adapter); ``reward`` is used in training."""
SERVING_EXPERTS = (Expert.SUMMARIZER, Expert.REASONER, Expert.PREDICTOR)
CARD = "card.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class AdapterError(Reason4RecError, RuntimeError):
    """An adapter is missing, damaged, or does not belong to the loaded base model or prompts."""


@dataclass
class AdapterCard:
    """What an adapter is and how it was made: enough to reproduce it and to refuse misuse."""

    expert: Expert
    base_model: str
    base_fingerprint: str
    prompt_version: str = PROMPT_VERSION
    recipe: str = ""
    lora: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @property
    def categories(self) -> tuple[str, ...]:
        """The product categories of the reviews it was trained on (empty: not recorded)."""
        return tuple(str(c) for c in self.data.get("categories") or ())

    def save(self, folder: Path) -> None:
        (folder / CARD).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @property
    def reads_todays_prompts(self) -> bool:
        """Trained on today's prompts, or on a version whose adapters still read them
        (:data:`~reason4rec.experts.prompts.COMPATIBLE_PROMPTS`, each change measured)."""
        return self.prompt_version == PROMPT_VERSION or self.prompt_version in COMPATIBLE_PROMPTS

    @classmethod
    def load(cls, folder: Path) -> AdapterCard:
        path = folder / CARD
        if not path.is_file():
            raise AdapterError(f"adapter folder {folder} has no {CARD}; was it made by reason4rec?")
        try:
            raw = json.loads(path.read_text())
            expert = raw.get("expert")
            if expert not in tuple(Expert):
                raise AdapterError(f"{path} is damaged: it names no known expert ({expert!r}; "
                                   f"known: {', '.join(Expert)})")
            return cls(**{**raw, "expert": Expert(expert)})
        except (json.JSONDecodeError, TypeError, AttributeError) as err:
            raise AdapterError(f"{path} is damaged: {err}") from err


def base_fingerprint(model: Any) -> str:
    """Architecture fingerprint: adapters only fit bases with the same shapes and vocabulary."""
    return config_fingerprint(model.config)


_SHAPE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "intermediate_size", "vocab_size")


def config_fingerprint(config: Any) -> str:
    """:func:`base_fingerprint` from a model config alone (no weights loaded: the engine's path)."""
    return _shape_hash({key: getattr(config, key, None) for key in _SHAPE_KEYS})


def folder_fingerprint(model_dir: Path) -> str:
    """:func:`config_fingerprint` read from ``config.json`` as JSON, so the llama.cpp path never
    imports transformers' config classes (they import torch: seconds of a fresh process).

    Only a file that states every shape key itself is read this way; otherwise the class defaults
    transformers would fill in decide, and its ``AutoConfig`` is asked.
    """
    try:
        raw = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        raw = None
    if isinstance(raw, dict):
        raw.setdefault("num_key_value_heads", raw.get("num_attention_heads"))  # Llama's own default
        if all(raw.get(key) is not None for key in _SHAPE_KEYS):
            return _shape_hash({key: raw[key] for key in _SHAPE_KEYS})
    from transformers import AutoConfig

    return config_fingerprint(AutoConfig.from_pretrained(str(model_dir), local_files_only=True))


def _shape_hash(shape: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def adapter_version(folder: Path) -> str:
    """``<expert>-<prompt version>-<weights hash>``: the cache key for anything an adapter made."""
    card = AdapterCard.load(folder)
    weights = folder / ADAPTER_WEIGHTS
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:10] if weights.is_file() else "none"
    return f"{card.expert}-{card.prompt_version}-{digest}"


def shipped_adapters_root() -> Path:
    return Path(str(resources.files("reason4rec.experts") / "adapters"))


def shipped_adapter_dirs(root: Path | None = None, names: tuple[Expert, ...] = EXPERTS) -> dict[Expert, Path]:
    """The adapters shipped inside the package (those present; the serving three must be)."""
    root = root or shipped_adapters_root()
    found = {name: root / name for name in names if (root / name / CARD).is_file()}
    missing = [name for name in SERVING_EXPERTS if name in names and name not in found]
    if missing:
        raise AdapterError(
            f"no shipped adapter for {', '.join(missing)} under {root}; train them with "
            "`reason4rec train all --recipe cpu-small` or point --adapters at a run folder"
        )
    return found


def check_adapter(folder: Path, expected_expert: Expert, base: LoadedModel) -> AdapterCard:
    """Raise AdapterError naming the problem unless ``folder`` is this expert for this base."""
    return check_adapter_fits(folder, expected_expert, base.name, base_fingerprint(base.model))


def check_adapter_fits(folder: Path, expected_expert: Expert, base_name: str, fingerprint: str) -> AdapterCard:
    """:func:`check_adapter` against a base known by name and fingerprint."""
    if not folder.is_dir():
        raise AdapterError(f"adapter for {expected_expert!r} not found: {folder}")
    card = AdapterCard.load(folder)
    if not (folder / "adapter_config.json").is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        raise AdapterError(f"adapter folder {folder} lacks adapter_config.json or {ADAPTER_WEIGHTS}")
    if card.expert != expected_expert:
        raise AdapterError(f"{folder} holds the {card.expert!r} adapter, not {expected_expert!r}")
    if card.base_fingerprint != fingerprint:
        raise AdapterError(
            f"adapter {expected_expert!r} ({folder}) was trained on base model {card.base_model!r} "
            f"(fingerprint {card.base_fingerprint}), but the loaded base is {base_name!r} "
            f"(fingerprint {fingerprint}); load the matching base model or retrain the adapter"
        )
    if not card.reads_todays_prompts:
        raise AdapterError(
            f"adapter {expected_expert!r} ({folder}) was trained on prompts {card.prompt_version!r}, "
            f"this reason4rec uses {PROMPT_VERSION!r}; retrain it"
        )
    return card


@dataclass(frozen=True, slots=True)
class PromptShape:
    """The prompt sizes the adapters were trained with; inference must use the same."""

    history_k: int
    max_review_chars: int
    estimates: bool = False
    """The Predictor learnt with the collaborative estimates in its prompt, so it must be given them."""
    reasoner_stars: bool = False
    """The Reasoner learnt with each history line's stars in its prompt, so it must be shown them."""


def prompt_shape(cards: Mapping[Expert, AdapterCard], default_history_k: int = 10,
                 default_review_chars: int = 400) -> PromptShape:
    """History length and whether it reads the collaborative estimates from the Predictor's card,
    review cut from the Summarizer's (their recipe)."""
    predictor, summarizer, reasoner = (cards.get(e) for e in (Expert.PREDICTOR, Expert.SUMMARIZER, Expert.REASONER))
    return PromptShape(
        history_k=int(predictor.data.get("history_k", default_history_k)) if predictor else default_history_k,
        max_review_chars=int(summarizer.data.get("max_review_chars", default_review_chars))
        if summarizer else default_review_chars,
        estimates=bool(predictor and predictor.data.get(ESTIMATES_KEY)),
        reasoner_stars=bool(reasoner and reasoner.data.get(STARS_KEY)),
    )


ESTIMATES_KEY = "collab_estimates"
"""The Predictor card's ``data`` entry that says how the estimates it learnt with were made."""
STARS_KEY = "history_stars"
"""The Reasoner card's ``data`` entry that says it learnt with each history line's stars."""


class ExpertModel:
    """One base model carrying several named LoRA adapters; :meth:`use` picks one per call."""

    def __init__(self, base: LoadedModel, peft_model: Any, cards: dict[str, AdapterCard],
                 versions: dict[str, str]) -> None:
        self.base = base
        self.model = peft_model
        self.cards = cards
        self.versions = versions

    @classmethod
    def load(cls, base: LoadedModel, adapters: Mapping[Expert, Path]) -> ExpertModel:
        """Attach every adapter in ``adapters`` (expert name -> folder) to ``base``.

        Raises:
            AdapterError: an adapter is missing, damaged, of another expert, base or prompt version.
        """
        from peft import PeftModel

        if not adapters:
            raise AdapterError("no adapters given")
        cards = {name: check_adapter(Path(folder), name, base) for name, folder in adapters.items()}
        model = None
        for name, folder in adapters.items():
            try:
                if model is None:
                    model = PeftModel.from_pretrained(base.model, str(folder), adapter_name=name,
                                                      is_trainable=False)
                else:
                    model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
            except (ValueError, RuntimeError, OSError, KeyError) as err:
                raise AdapterError(f"cannot load adapter {name!r} from {folder}: {err}") from err
        model.eval()
        versions = {name: adapter_version(Path(folder)) for name, folder in adapters.items()}
        return cls(base, model, cards, versions)

    @property
    def names(self) -> tuple[Expert, ...]:
        return tuple(self.cards)

    @property
    def tokenizer(self):
        return self.base.tokenizer

    @property
    def device(self):
        return self.base.model.device

    @contextlib.contextmanager
    def use(self, name: str | None) -> Iterator[Any]:
        """Run the block with adapter ``name`` active (``None``: the plain base model)."""
        if name is None:
            with self.model.disable_adapter():
                yield self.model
            return
        if name not in self.cards:
            raise AdapterError(f"no {name!r} adapter loaded (have: {', '.join(self.names)})")
        self.model.set_adapter(name)
        yield self.model
