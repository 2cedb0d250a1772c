"""A category's calibration: the Predictor's expected rating mapped onto that category's stars.

The Predictor's expected rating can be in the right order for a category and still squeezed and
high: on 200 magazine test targets the shipped experts' ratings correlate 0.58 with the true ones
but spread 0.20 stars where the true ratings spread 1.21, so every rating sits near 4.5. A straight
line fitted on the category's own validation targets (``rating = intercept + slope * expected``,
clipped to 1..5) turns that order into ratings that spread like the category's; where the
Predictor carries little signal for a category, the line would only pull ratings to the mean.

So a line is *used* only when it helps where it was not fitted: the targets are cross-fitted in
folds, and the line is applied only if its out-of-fold MAE **and** RMSE are both below the
Predictor's own, with a positive slope (so it never reverses or flattens a ranking). Otherwise the
calibration is kept as "identity", with the numbers that said so. A calibration belongs to one
category and one set of experts (their adapter versions): fitted for other experts, it is not used.

The rating stays the Predictor's where no calibration applies; ``why --json`` shows both numbers.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> true = rng.integers(1, 6, 200).astype(float)
    >>> expected = 4.3 + 0.1 * (true - 3) + rng.normal(0, 0.05, 200)   # in order, squeezed
    >>> line = fit_line(expected, true)
    >>> line.applied, round(line.slope, 1) > 1
    (True, True)
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import Reason4RecError
from .verdict_rule import VerdictRule

FORMAT = "reason4rec-calibration-1"
"""The file format's name and version: a file of another format is not read."""
MIN_CALIBRATION_TARGETS = 50
"""Fewer rated targets than this cannot tell a line from noise (five folds of ten)."""
FOLDS = 5
CALIBRATION_DIR = "calibrations"
"""Where calibrations live: ``<home>/calibrations`` (a person's) and beside the adapters they were
fitted for (the shipped ones, an adapt run's)."""

__all__ = ["CALIBRATION_DIR", "FORMAT", "MIN_CALIBRATION_TARGETS", "Calibration", "CalibrationError",
           "CalibrationLine", "Calibrations", "calibration_file", "calibrations_for", "file_slug", "fit_line"]


class CalibrationError(Reason4RecError, ValueError):
    """A calibration cannot be fitted (too few targets) or a file cannot be read."""


@dataclass(frozen=True, slots=True)
class CalibrationLine:
    """``intercept + slope * expected`` and whether it is used, with the out-of-fold measures that decided."""

    slope: float
    intercept: float
    applied: bool
    measures: dict[str, float] = field(default_factory=dict)
    """``mae``/``rmse`` of the Predictor and ``calibrated_mae``/``calibrated_rmse`` out of fold, and the
    spreads of the Predictor's, the calibrated and the true ratings on the fitting targets."""

    def apply(self, expected: float) -> float:
        if not self.applied:
            return expected
        return min(5.0, max(1.0, self.intercept + self.slope * expected))


@dataclass(frozen=True, slots=True)
class Calibration:
    """One category's line for one set of experts, and where it was fitted."""

    category: str
    experts: dict[str, str]
    """Expert name -> adapter version (:func:`~reason4rec.experts.adapter_version`) it was fitted for."""
    line: CalibrationLine
    targets: int
    fitted_on: dict[str, Any] = field(default_factory=dict)
    """The review file, split, seed and sample the targets came from (for a person to re-run it)."""
    verdict: VerdictRule | None = None
    """The category's verdict rule (:mod:`.verdict_rule`), fitted on the same targets; None in a
    file written before there was one. Whether it decides, or the memory's own rule does, is
    :func:`~reason4rec.experts.verdict_rule.rule_in_use`'s to say."""

    def rating(self, expected: float) -> float:
        return self.line.apply(expected)

    def summary(self) -> str:
        """One line: what the calibration does and why."""
        m = self.line.measures
        tried = (f"out of fold on {self.targets} validation targets, MAE {m['mae']:.3f} -> {m['calibrated_mae']:.3f}, "
                 f"RMSE {m['rmse']:.3f} -> {m['calibrated_rmse']:.3f}")
        if self.line.applied:
            return (f"{self.category}: rating = {self.line.intercept:+.2f} + {self.line.slope:.2f} x the Predictor's "
                    f"expected rating ({tried})")
        return f"{self.category}: the Predictor's expected rating is used as it is (a line did not help: {tried})"

    def spread_summary(self) -> str:
        """How far the ratings spread before and after the line, beside the stars' own spread."""
        m = self.line.measures
        after = f" -> {m['calibrated_spread']:.2f}" if self.line.applied else ", kept"
        return f"predictions spread {m['spread']:.2f}{after} (true ratings {m['true_spread']:.2f})"

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "category": self.category, "experts": dict(self.experts),
                "line": asdict(self.line), "targets": self.targets, "fitted_on": dict(self.fitted_on),
                **({"verdict": self.verdict.as_dict()} if self.verdict is not None else {})}

    def view(self) -> dict[str, Any]:
        """What an answer carries about it (``--json``)."""
        return {"category": self.category, "applied": self.line.applied, "slope": round(self.line.slope, 4),
                "intercept": round(self.line.intercept, 4), "targets": self.targets}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise CalibrationError(f"not a {FORMAT} file (format {found!r})")
        line = data["line"]
        values = (float(line["slope"]), float(line["intercept"]))
        if not all(math.isfinite(v) for v in values):
            raise CalibrationError("its line is not finite")
        verdict = data.get("verdict")
        return cls(category=str(data["category"]), experts={str(k): str(v) for k, v in dict(data["experts"]).items()},
                   line=CalibrationLine(values[0], values[1], bool(line["applied"]),
                                        {str(k): float(v) for k, v in dict(line.get("measures", {})).items()}),
                   targets=int(data["targets"]), fitted_on=dict(data.get("fitted_on", {})),
                   verdict=None if verdict is None else VerdictRule.from_dict(verdict))

    def save(self, folder: Path) -> Path:
        """Write ``<folder>/<category>.json`` atomically (a reader never sees half a file)."""
        path = calibration_file(folder, self.category)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.as_dict(), indent=1))
        os.replace(partial, path)
        return path


def file_slug(text: str) -> str:
    """``Magazine Subscriptions`` -> ``magazine-subscriptions``: a name as part of a file name."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def calibration_file(folder: Path, category: str) -> Path:
    return Path(folder) / f"{file_slug(category) or 'reviews'}.json"


def fit_line(expected: Sequence[float], true: Sequence[float], *, folds: int = FOLDS,
             seed: int = 2020) -> CalibrationLine:
    """Least squares of the true rating on the Predictor's expected one, used only if it beats the
    Predictor out of fold on MAE and RMSE with a positive slope (see the module's docstring)."""
    import numpy as np

    x, y = np.asarray(expected, dtype=float), np.asarray(true, dtype=float)
    if len(x) != len(y):
        raise CalibrationError(f"{len(x)} predictions for {len(y)} true ratings")
    if len(x) < MIN_CALIBRATION_TARGETS:
        raise CalibrationError(f"a calibration needs at least {MIN_CALIBRATION_TARGETS} rated targets; got {len(x)}")
    order = np.random.default_rng(seed).permutation(len(x))
    out_of_fold = np.empty_like(x)
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part)
        slope, intercept = _least_squares(x[rest], y[rest])
        out_of_fold[part] = np.clip(intercept + slope * x[part], 1.0, 5.0)
    slope, intercept = _least_squares(x, y)
    measures = {"mae": float(np.mean(np.abs(x - y))), "rmse": float(np.sqrt(np.mean((x - y) ** 2))),
                "calibrated_mae": float(np.mean(np.abs(out_of_fold - y))),
                "calibrated_rmse": float(np.sqrt(np.mean((out_of_fold - y) ** 2)))}
    applied = (slope > 0 and measures["calibrated_mae"] < measures["mae"]
               and measures["calibrated_rmse"] < measures["rmse"])
    fitted = np.clip(intercept + slope * x, 1.0, 5.0)
    measures |= {"spread": float(np.std(x)), "calibrated_spread": float(np.std(fitted)),
                 "true_spread": float(np.std(y))}
    return CalibrationLine(float(slope), float(intercept), bool(applied), {k: round(v, 4) for k, v in measures.items()})


def _least_squares(x: Any, y: Any) -> tuple[float, float]:
    """Slope and intercept; a slope of 0 (the mean) where the predictions do not vary."""
    import numpy as np

    spread = float(np.var(x))
    if spread <= 1e-12:
        return 0.0, float(np.mean(y))
    slope = float(np.mean((x - x.mean()) * (y - y.mean())) / spread)
    return slope, float(y.mean() - slope * x.mean())


@dataclass
class Calibrations:
    """The calibrations in some folders (a person's first, then the shipped ones), for one set of experts.

    :meth:`find` returns the category's calibration fitted for these experts, or None; why there
    is none (a damaged file, one fitted for other experts) is in :attr:`notes`, said once.
    """

    folders: Sequence[Path]
    experts: Mapping[str, str]
    notes: list[str] = field(default_factory=list)

    def find(self, category: str) -> Calibration | None:
        """The first fitting calibration; a damaged or mismatched file is noted only when no folder
        has one that fits (a run's own calibration behind a person's stale one is not a problem)."""
        notes: list[str] = []
        for folder in dict.fromkeys(Path(f) for f in self.folders):
            path = calibration_file(folder, category)
            if not path.is_file():
                continue
            try:
                found = Calibration.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError, CalibrationError) as err:
                notes.append(f"the calibration {path} cannot be read ({type(err).__name__}: {err}); ratings are "
                             f"the Predictor's until it is fitted again: reason4rec calibrate --reviews FILE")
                continue
            if found.category.casefold() != category.casefold():
                continue
            if {k: found.experts.get(k) for k in self.experts} != dict(self.experts):
                notes.append(f"the calibration {path} was fitted for other experts; ratings are the Predictor's "
                             f"until it is fitted for these: reason4rec calibrate --reviews FILE")
                continue
            return found
        for note in notes:
            self._note(note)
        return None

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def calibrations_for(config: Config, adapters: Path | None = None, *,
                     versions: Mapping[str, str] | None = None) -> Calibrations:
    """The calibrations for the experts in ``adapters`` (the shipped ones when None), or for the
    adapter ``versions`` of experts already loaded: a person's own (``reason4rec calibrate`` writes
    ``<home>/calibrations``), then those beside the adapters (an adapt run fits one into
    ``<run>/calibrations``), then those shipped with the package's adapters."""
    from .model.adapters import SERVING_EXPERTS, adapter_version, shipped_adapters_root
    from .shipping import adapter_dirs

    if versions is None:
        dirs = adapter_dirs(adapters, with_one_step=False)
        versions = {expert.value: adapter_version(dirs[expert]) for expert in SERVING_EXPERTS}
    beside = [Path(adapters).expanduser() / CALIBRATION_DIR] if adapters is not None else []
    return Calibrations([Path(config.home) / CALIBRATION_DIR, *beside, shipped_adapters_root() / CALIBRATION_DIR],
                        dict(versions))
