"""The memory's collaborative estimates: the user+item bias model and SVD++ fitted on every stored rating.

The experts read reviews; these two models read only who rated what how, and say what a user would
rate an item from the ratings alone: a second opinion shown beside the Predictor's rating, and a
cheap score for many candidates at once. They are the very models the evaluation scores as
baselines (:mod:`reason4rec.data.rating_models`), fitted on every review the memory holds (pending
ones too: a rating is known the moment it is stored). On the shipped memory (10,261 reviews) a
refit takes about 0.4 s (the verdict rule below 0.1 s of it), so every change refits both at
once: ``memory build``, ``memory sync``, ``add_review`` (the CLI and the chat).

They are kept beside the review store in one file (:data:`COLLAB_FILE`) so a new process need not
refit: a magic line, a JSON header (format, the settings, which reviews they were fitted on and
the payload's size and SHA-256), then the arrays as NumPy ``.npz`` read with ``allow_pickle=False``
(nothing is unpickled, and nothing is parsed before its hash matches). Which reviews: their count
and a SHA-256 of every (review id, revision, rating), so a file fitted on other reviews (another
memory's, or this one's before a change made by another process) is never used. A file that is
missing, damaged, of another version or fitted on other reviews is said in one line (the progress
label) and refitted before the estimate that needs it; it is never silently skipped.

A user or item the models have never seen (cold start) gets what the models can say: the global
mean plus the known side's bias (``cold`` names the unknown side).

Fitted with them, on the same ratings, is the memory's **verdict rule from the ratings**
(:func:`~reason4rec.experts.fit_ratings_verdict_rule`: five more bias fits, no SVD++): where a
category's own ratings separate its unhappy buyers, a (user, item) whose bias estimate is at or
below its threshold is told "a poor match" without a ``calibrate`` run; a calibration that placed a
threshold of its own decides instead (:func:`~reason4rec.experts.rule_in_use`).

Example:
    >>> estimates = CollabEstimates(store, path)                     # doctest: +SKIP
    >>> estimates.estimates("A1", ["B0002E1G5C"])                    # doctest: +SKIP
    {'B0002E1G5C': {'bias': 4.31, 'svdpp': 4.4, 'cold': None}}
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..data import SVDPP_SETTING, BiasModel, Review, cold_side, fit_surprise
from ..experts import VerdictRule, fit_ratings_verdict_rule

if TYPE_CHECKING:
    from ..config import Config
    from .reviews import ReviewStorage, StoredReview

__all__ = ["COLLAB_FILE", "COLLAB_FORMAT", "CollabCheck", "CollabEstimates", "CollabModels", "CollabSettings",
           "Fingerprint", "collab_path", "fingerprint_of", "fit_models", "inspect_file", "read_models", "write_models"]

COLLAB_FILE = "collab-models.bin"
COLLAB_FORMAT = 2
"""2: the verdict rule from the ratings is kept in the header (a format-1 file is refitted)."""
_MAGIC = b"reason4rec collaborative models\n"
_LENGTH = struct.Struct(">Q")
_MAX_HEADER = 1 << 20
_ARRAYS = ("users", "items", "bias_user", "bias_item", "svdpp_user_bias", "svdpp_item_bias", "svdpp_user",
           "svdpp_item")

Problem = Literal["missing", "damaged", "version", "other_memory", "changed"]
ProgressFactory = Callable[[str], Callable[[int, int], None]]
"""``factory(label) -> update(done, total)``: Rich bars at the CLI, step events in the agent."""


def collab_path(config: Config) -> Path:
    """Where a memory's models are kept: beside its SQLite review store, or in the home's memory
    folder when the reviews live in PostgreSQL (each machine keeps its own fitted copy)."""
    folder = config.home / "memory" if config.memory.store_url else config.store_path.parent
    return Path(folder).expanduser() / COLLAB_FILE


@dataclass(frozen=True, slots=True)
class CollabSettings:
    """How the models are fitted (a file fitted otherwise counts as another version)."""

    bias_l2: float = 5.0
    bias_iterations: int = 20
    seed: int = 42
    svdpp: dict[str, Any] = field(default_factory=lambda: dict(SVDPP_SETTING))

    @classmethod
    def of(cls, config: Config) -> CollabSettings:
        found = config.baselines
        return cls(found.bias_l2, found.bias_iterations, found.seed)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Which reviews a model was fitted on: how many, and a SHA-256 of their (id, revision, rating)."""

    reviews: int
    sha256: str


def fingerprint_of(reviews: Iterable[StoredReview]) -> Fingerprint:
    digest, count = hashlib.sha256(), 0
    for review in sorted(reviews, key=lambda r: r.review_id):
        digest.update(f"{review.review_id}\0{review.revision}\0{review.rating!r}\n".encode())
        count += 1
    return Fingerprint(count, digest.hexdigest())


@dataclass(frozen=True, slots=True, eq=False)
class CollabModels:
    """Both fitted models as arrays indexed alike (``users``/``items`` give the rows): all that
    predicting needs. ``svdpp_user`` already holds SVD++'s implicit part, ``p_u + |N(u)|^-1/2 sum y_j``."""

    fingerprint: Fingerprint
    settings: CollabSettings
    mu: float
    users: dict[str, int]
    items: dict[str, int]
    bias_user: np.ndarray
    bias_item: np.ndarray
    svdpp_mu: float
    svdpp_user_bias: np.ndarray
    svdpp_item_bias: np.ndarray
    svdpp_user: np.ndarray
    svdpp_item: np.ndarray
    verdict: VerdictRule
    """The verdict rule these ratings give (used or not: ``verdict.applied``)."""
    fitted_at: float = 0.0
    seconds: float = 0.0

    def estimate(self, user_id: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Both estimates of ``user_id``'s rating of each item (clipped to 1..5), vectorised; a
        side the models never saw contributes nothing (``cold`` names it). The bias estimate's
        parts come too (``mean``, ``user_offset``, ``item_offset``; None for a side never seen):
        they are what a person can check it by."""
        if not item_ids:
            return {}
        user = self.users.get(user_id)
        rows = np.array([self.items.get(i, -1) for i in item_ids], dtype=np.int64)
        known, at = rows >= 0, np.maximum(rows, 0)
        bias = self.mu + np.where(known, self.bias_item[at], 0.0)
        svdpp = self.svdpp_mu + np.where(known, self.svdpp_item_bias[at] + self.svdpp_item[at] @ (
            self.svdpp_user[user] if user is not None else np.zeros(self.svdpp_item.shape[1])), 0.0)
        if user is not None:
            bias, svdpp = bias + self.bias_user[user], svdpp + self.svdpp_user_bias[user]
        bias, svdpp = np.clip(bias, 1.0, 5.0), np.clip(svdpp, 1.0, 5.0)
        mean, user_offset = round(float(self.mu), 3), None if user is None else round(float(self.bias_user[user]), 3)
        return {item: {"bias": round(float(b), 3), "svdpp": round(float(s), 3),
                       "cold": cold_side(user is None, not k), "mean": mean,
                       "user_offset": user_offset, "item_offset": round(float(self.bias_item[r]), 3) if k else None}
                for item, b, s, k, r in zip(item_ids, bias, svdpp, known, at)}


def fit_models(reviews: Sequence[StoredReview], settings: CollabSettings = CollabSettings()) -> CollabModels:
    """Fit both models on ``reviews`` (at least one): the evaluation's bias model and surprise's SVD++,
    in review-id order (SVD++'s stochastic descent depends on the order: any store, any process,
    the same reviews give the same models)."""
    started = time.perf_counter()
    reviews = sorted(reviews, key=lambda r: r.review_id)
    rows = [Review(r.user_id, r.item_id, r.rating, r.timestamp, "") for r in reviews]
    bias = BiasModel(l2=settings.bias_l2, iterations=settings.bias_iterations).fit(rows)
    users, items = bias.index.users, bias.index.items
    svdpp = fit_surprise(rows, settings.svdpp, settings.seed, implicit=True)
    verdict = fit_ratings_verdict_rule(rows, bias_l2=settings.bias_l2, bias_iterations=settings.bias_iterations)
    trainset = svdpp.trainset
    implicit = np.zeros_like(svdpp.pu)
    for inner, rated in trainset.ur.items():
        implicit[inner] = svdpp.yj[[j for j, _ in rated]].sum(axis=0) / np.sqrt(len(rated))
    u = np.array([trainset.to_inner_uid(user) for user in users], dtype=np.int64)
    i = np.array([trainset.to_inner_iid(item) for item in items], dtype=np.int64)
    return CollabModels(fingerprint_of(reviews), settings, bias.mu, users, items, bias.b_user, bias.b_item,
                        float(trainset.global_mean), svdpp.bu[u], svdpp.bi[i], (svdpp.pu + implicit)[u],
                        svdpp.qi[i], verdict, time.time(), time.perf_counter() - started)


# ------------------------------------------------------------------ the file
@dataclass(frozen=True, slots=True)
class CollabCheck:
    """What a look at the file found: the models (when usable), else the ``problem`` and one ``line``."""

    models: CollabModels | None
    problem: Problem | None = None
    line: str = ""
    header: dict[str, Any] | None = None
    payload: bytes | None = None
    """The arrays' bytes, once their SHA-256 matched the header's."""


def write_models(path: Path, models: CollabModels, memory: str) -> None:
    """Write atomically and durably (a temporary file, fsync, rename): a crash leaves the old file or the new."""
    buffer = io.BytesIO()
    arrays = {name: getattr(models, name) for name in _ARRAYS}
    arrays["users"], arrays["items"] = np.array(list(models.users), dtype=str), np.array(list(models.items), dtype=str)
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    header = {"format": COLLAB_FORMAT, "settings": asdict(models.settings), "memory": memory,
              "fingerprint": asdict(models.fingerprint), "mu": models.mu, "svdpp_mu": models.svdpp_mu,
              "verdict": models.verdict.as_dict(),
              "fitted_at": models.fitted_at, "seconds": round(models.seconds, 4), "payload_bytes": len(payload),
              "payload_sha256": hashlib.sha256(payload).hexdigest()}
    raw = json.dumps(header, sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(_MAGIC + _LENGTH.pack(len(raw)) + raw + payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def inspect_file(path: Path, settings: CollabSettings | None = None) -> CollabCheck:
    """The file checked without using it: a problem line when it is missing, not ours, damaged
    (its payload's SHA-256 differs from its header's) or of another version; ``settings`` None
    skips the settings' comparison (the doctor, which has no store open)."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return CollabCheck(None, "missing", "none fitted yet")
    except OSError as err:
        return CollabCheck(None, "damaged", f"{name} cannot be read ({err})")
    start = len(_MAGIC) + _LENGTH.size
    if raw[:len(_MAGIC)] != _MAGIC or len(raw) < start:
        return CollabCheck(None, "damaged", f"{name} is damaged (it does not start as a reason4rec collaborative "
                           "models file)")
    (length,) = _LENGTH.unpack(raw[len(_MAGIC):start])
    try:
        header = json.loads(raw[start:start + length]) if length <= _MAX_HEADER else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("fingerprint"), dict):
        return CollabCheck(None, "damaged", f"{name} is damaged (its header cannot be read)")
    if header.get("format") != COLLAB_FORMAT:
        return CollabCheck(None, "version", f"{name} is of another version (format {header.get('format')!r}; "
                           f"this reason4rec reads {COLLAB_FORMAT})", header)
    if settings is not None and header.get("settings") != json.loads(json.dumps(asdict(settings))):
        return CollabCheck(None, "version", f"{name} was fitted with other settings", header)
    payload = raw[start + length:]
    if len(payload) != header.get("payload_bytes") or hashlib.sha256(payload).hexdigest() != header.get(
            "payload_sha256"):
        return CollabCheck(None, "damaged", f"{name} is damaged (its contents do not match their SHA-256)", header)
    return CollabCheck(None, header=header, payload=payload)


def read_models(path: Path, settings: CollabSettings, fingerprint: Fingerprint, memory: str) -> CollabCheck:
    """The models in ``path`` if they were fitted on exactly the reviews ``fingerprint`` names with
    ``settings``; otherwise why not, in one line. The payload is parsed only once its SHA-256
    matches, and as plain arrays (no pickle)."""
    checked = inspect_file(path, settings)
    header = checked.header
    if checked.problem or header is None or checked.payload is None:
        return checked
    found = header["fingerprint"]
    if found != asdict(fingerprint):
        if header.get("memory") != memory:
            return CollabCheck(None, "other_memory", f"{path.name} was fitted on another memory "
                               f"({header.get('memory')}, {found.get('reviews', 0):,} reviews)", header)
        return CollabCheck(None, "changed", f"the reviews changed since they were fitted ({found.get('reviews', 0):,} "
                           f"then, {fingerprint.reviews:,} now)", header)
    try:
        models = _models(header, np.load(io.BytesIO(checked.payload), allow_pickle=False), settings, fingerprint)
    except (ValueError, KeyError, TypeError, OSError) as err:
        return CollabCheck(None, "damaged", f"{path.name} is damaged ({type(err).__name__}: {err})", header)
    return CollabCheck(models, header=header)


def _models(header: dict[str, Any], arrays: Any, settings: CollabSettings, fingerprint: Fingerprint) -> CollabModels:
    found = {name: arrays[name] for name in _ARRAYS}
    users = {str(u): n for n, u in enumerate(found.pop("users"))}
    items = {str(i): n for n, i in enumerate(found.pop("items"))}
    shapes = {"bias_user": (len(users),), "bias_item": (len(items),), "svdpp_user_bias": (len(users),),
              "svdpp_item_bias": (len(items),)}
    if any(found[name].shape != shape for name, shape in shapes.items()) or found["svdpp_user"].shape[0] != len(
            users) or found["svdpp_item"].shape != (len(items), found["svdpp_user"].shape[1]):
        raise ValueError("its arrays do not fit together")
    verdict = header.get("verdict")
    if not isinstance(verdict, dict):
        raise ValueError("its verdict rule is missing")
    return CollabModels(fingerprint, settings, float(header["mu"]), users, items, found["bias_user"],
                        found["bias_item"], float(header["svdpp_mu"]), found["svdpp_user_bias"],
                        found["svdpp_item_bias"], found["svdpp_user"], found["svdpp_item"],
                        VerdictRule.from_dict(verdict), float(header.get("fitted_at", 0.0)),
                        float(header.get("seconds", 0.0)))


# ------------------------------------------------------------------ the memory's estimates
class CollabEstimates:
    """The models of one memory, kept in step with its review store: checked against the stored
    reviews before each use (reading them takes about 60 ms for 10,261), refitted when they differ.

    ``path`` None keeps them in RAM only (a memory without a folder, as in tests).
    """

    def __init__(self, store: ReviewStorage, path: Path | None, settings: CollabSettings | None = None) -> None:
        self._store, self.path, self.settings = store, path, settings or CollabSettings()
        self._models: CollabModels | None = None
        self._lock = threading.Lock()
        self.last_refit: str | None = None
        """Why the models were last refitted and how long it took (one line), None before any refit."""
        self.refits = 0
        """How many times this process refitted them."""
        self.write_error: str | None = None
        """Why the last refit could not be kept on disk (the models still serve from RAM)."""

    def ensure(self, progress: ProgressFactory | None = None, *, refit: bool = False) -> CollabModels | None:
        """The models fitted on every stored review: loaded from the file, or refitted (saying why
        through ``progress``) when it is missing, damaged, of another version or fitted on other
        reviews; ``refit`` refits regardless (``memory build``). None while the memory holds no review."""
        with self._lock:
            reviews = self._reviews()
            fingerprint = fingerprint_of(reviews)
            if not reviews:
                self._models = None
                return None
            if not refit and self._models is not None and self._models.fingerprint == fingerprint:
                return self._models
            why = "rebuilt on request"
            if not refit:
                checked = self._read(fingerprint)
                if checked.models is not None:
                    self._models = checked.models
                    return self._models
                why = checked.line if self._models is None else "the reviews changed"
            return self._fit(reviews, why, progress)

    def estimates(self, user_id: str, item_ids: Sequence[str],
                  progress: ProgressFactory | None = None) -> dict[str, dict[str, Any]]:
        """Per item: ``bias`` and ``svdpp`` (1..5) and ``cold`` (``user``, ``item``, ``both`` or
        None). One check of the models for the whole batch (rank hundreds of candidates at once);
        a memory with no review yet gives None estimates."""
        models = self.ensure(progress)
        if models is None:
            return {item: {"bias": None, "svdpp": None, "cold": "both"} for item in item_ids}
        return models.estimate(user_id, list(dict.fromkeys(item_ids)))

    @property
    def verdict_rule(self) -> VerdictRule | None:
        """The verdict rule from the ratings of the models last fitted or read (the ones the
        estimates just given came from), used or not; None before any."""
        return self._models.verdict if self._models is not None else None

    def state(self) -> dict[str, Any]:
        """What the models are now, without fitting (for status lines)."""
        models = self._models
        return {"path": str(self.path) if self.path else None, "fitted_on": models.fingerprint.reviews if models
                else None, "fitted_at": models.fitted_at if models else None, "last_refit": self.last_refit,
                "write_error": self.write_error}

    def _reviews(self) -> list[StoredReview]:
        return self._store.all_reviews()

    def _read(self, fingerprint: Fingerprint) -> CollabCheck:
        if self.path is None:
            return CollabCheck(None, "missing", "none fitted yet")
        return read_models(self.path, self.settings, fingerprint, self._store.where)

    def _fit(self, reviews: list[StoredReview], why: str, progress: ProgressFactory | None) -> CollabModels:
        update = progress(f"collaborative models: {why}; fitting bias + SVD++ on {len(reviews):,} reviews") \
            if progress else None
        if update:
            update(0, len(reviews))
        models = fit_models(reviews, self.settings)
        self._models, self.write_error = models, None
        if self.path is not None:
            try:
                write_models(self.path, models, self._store.where)
            except OSError as err:  # the estimates still serve from RAM; the next refit tries again
                self.write_error = f"{self.path} could not be written ({err})"
        self.last_refit = f"{why}: refitted on {len(reviews):,} reviews in {models.seconds:.2f} s"
        self.refits += 1
        if update:
            update(len(reviews), len(reviews))
        return models
