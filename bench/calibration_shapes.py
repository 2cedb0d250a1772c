"""Which shape of calibration the data supports: a line, an isotonic fit, or a temperature and a
bias per star on the Predictor's probabilities, each cross-fitted (five folds) on an evaluation's
own test targets, against the Predictor's expected rating and the file's bias model.

It chose the line that ``reason4rec calibrate`` fits (docs/calibration.md): on the magazine
targets it gives nearly the isotonic fit's errors with two numbers, and it keeps the ranking.

    .venv/bin/python bench/calibration_shapes.py artifacts/bench/eval-shipped-magazine-200 \\
        artifacts/bench/eval-leave-last-out-full --out artifacts/bench/calibration-shapes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold

STARS = np.arange(1, 6)


def _probabilities_fit(logp: np.ndarray, true: np.ndarray) -> np.ndarray:
    """A temperature and four star biases (star 1's is 0) by the negative log-likelihood."""
    def loss(theta: np.ndarray) -> float:
        z = logp * np.exp(theta[0]) + np.r_[0, theta[1:]]
        z -= z.max(1, keepdims=True)
        log_soft = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -log_soft[np.arange(len(true)), true.astype(int) - 1].mean() + 1e-3 * (theta[1:] ** 2).sum()
    return minimize(loss, np.zeros(5), method="L-BFGS-B").x


def _probabilities_apply(theta: np.ndarray, logp: np.ndarray) -> np.ndarray:
    z = logp * np.exp(theta[0]) + np.r_[0, theta[1:]]
    z -= z.max(1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(1, keepdims=True)) @ STARS


def _measures(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    spread = float(np.std(predicted))
    return {"mae": round(float(np.mean(np.abs(predicted - true))), 4),
            "rmse": round(float(np.sqrt(np.mean((predicted - true) ** 2))), 4), "spread": round(spread, 4),
            "correlation": round(float(np.corrcoef(predicted, true)[0, 1]), 4) if spread > 0 else 0.0}


def shapes(folder: Path, seed: int = 2020) -> dict[str, dict[str, float]]:
    results = json.loads((folder / "results.json").read_text())
    targets = results["targets"]
    true = np.array([t["true"] for t in targets])
    expected = np.array([t["distribution"]["expected"] for t in targets])
    logp = np.log(np.clip([[t["distribution"]["probabilities"][s] for s in "12345"] for t in targets], 1e-6, 1))
    out = {name: np.zeros(len(true)) for name in ("line", "isotonic", "probabilities")}
    for train, test in KFold(5, shuffle=True, random_state=seed).split(true):
        slope, intercept = np.polyfit(expected[train], true[train], 1)
        out["line"][test] = np.clip(intercept + slope * expected[test], 1, 5)
        iso = IsotonicRegression(y_min=1, y_max=5, out_of_bounds="clip").fit(expected[train], true[train])
        out["isotonic"][test] = iso.predict(expected[test])
        out["probabilities"][test] = _probabilities_apply(_probabilities_fit(logp[train], true[train]), logp[test])
    bias = np.array(results["baseline_predictions"]["user+item bias"])
    return {"targets": len(true), "true_spread": round(float(np.std(true)), 4),
            "Predictor": _measures(expected, true), "user+item bias": _measures(bias, true),
            **{name: _measures(values, true) for name, values in out.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evals", type=Path, nargs="+", help="evaluation folders (results.json)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    found = {str(folder): shapes(folder) for folder in args.evals}
    for folder, rows in found.items():
        print(f"{folder} ({rows['targets']} targets, true spread {rows['true_spread']:.2f})")
        for name, m in rows.items():
            if isinstance(m, dict):
                print(f"  {name:<16} MAE {m['mae']:.3f} RMSE {m['rmse']:.3f} spread {m['spread']:.2f} "
                      f"corr {m['correlation']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
