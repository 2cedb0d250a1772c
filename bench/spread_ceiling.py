"""Issue 36's spread goal against the accuracy goals: can predictions spread like the ratings and
still be as accurate as the bias model?

For a prediction p whose correlation with the true ratings r is ``rho``, the best straight line
a + b*p (fitted on the very targets it is scored on: a ceiling, not a method) that spreads its
answers ``c`` times the true ratings' standard deviation ``s`` has

    RMSE^2 = s^2 * (1 - 2*c*rho + c^2),

least at c = rho (RMSE = s*sqrt(1 - rho^2): the best line spreads only ``rho`` times the truth).
Issue 36 asks for c >= 0.5. At c = 0.5, RMSE = s*sqrt(1.25 - rho), which matches the best
baseline's RMSE only when rho >= 1.25 - (RMSE_baseline / s)^2. This prints, per method of an
evaluation folder (the pipeline's rows and every baseline), its correlation, its spread and
these two RMSEs, and the correlation a half-spread prediction would need to match the bias model
(the goal's yardstick) and the best method.

    .venv/bin/python bench/spread_ceiling.py artifacts/bench/eval-shipped-leave-last-out-full \
        artifacts/bench/eval-shipped-temporal-full --out artifacts/bench/spread-ceiling.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

HALF = 0.5
"""Issue 36's spread goal: predictions spread at least half as much as the true ratings."""
BIAS = "user+item bias"
"""The yardstick of issue 36's accuracy goal (the category's bias model)."""


def method_predictions(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The true ratings and each method's predictions of an ``eval --out`` folder's results.json."""
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    targets = results["targets"]
    true = np.array([t["true"] for t in targets], dtype=float)
    methods: dict[str, np.ndarray] = {}
    for name in targets[0]["predictions"]:
        methods[name] = np.array([t["predictions"][name] for t in targets], dtype=float)
    for name, values in results["baseline_predictions"].items():
        if values is not None and len(values) == len(true):
            methods[name] = np.asarray(values, dtype=float)
    return true, methods


def spread_table(true: np.ndarray, methods: dict[str, np.ndarray]) -> dict[str, object]:
    """Per method: correlation, spread, RMSE as is, the best line's RMSE and spread, the RMSE of
    the best line that spreads half the truth; and the correlation that half-spread line needs to
    match the best RMSE of any method as it is."""
    s = float(true.std())
    rows = {}
    for name, predicted in methods.items():
        rho = float(np.corrcoef(predicted, true)[0, 1]) if predicted.std() > 0 else 0.0
        rows[name] = {"correlation": round(rho, 4), "spread": round(float(predicted.std()), 4),
                      "rmse": round(float(np.sqrt(np.mean((predicted - true) ** 2))), 4),
                      "best_line_rmse": round(s * math.sqrt(1 - rho ** 2), 4),
                      "best_line_spread": round(s * max(rho, 0.0), 4),
                      "half_spread_rmse": round(s * math.sqrt(1.25 - rho), 4)}
    best_name = min(rows, key=lambda name: rows[name]["rmse"])
    yardsticks = {"best": best_name, "bias model": BIAS if BIAS in rows else best_name}
    needed = {label: {"method": name, "rmse": rows[name]["rmse"],
                      "correlation_needed_at_half_spread": round(1.25 - (rows[name]["rmse"] / s) ** 2, 4)}
              for label, name in yardsticks.items()}
    return {"targets": len(true), "true_spread": round(s, 4), "goal_spread": round(HALF * s, 4),
            "to_match": needed, "methods": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="`reason4rec eval --out` folders")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {}
    for folder in args.folders:
        table = spread_table(*method_predictions(folder))
        report[str(folder)] = table
        print(f"\n{folder} ({table['targets']} targets): true spread {table['true_spread']}, goal >= "
              f"{table['goal_spread']}")
        for label, match in table["to_match"].items():
            print(f"  a half-spread prediction matches the {label}'s RMSE ({match['method']}, {match['rmse']}) only "
                  f"if its correlation >= {match['correlation_needed_at_half_spread']}")
        print(f"  {'method':44} {'corr':>6} {'spread':>6} {'RMSE':>6} {'best line':>9} {'its spread':>10} "
              f"{'half-spread RMSE':>16}")
        for name, row in table["methods"].items():
            print(f"  {name:44} {row['correlation']:6.3f} {row['spread']:6.3f} {row['rmse']:6.3f} "
                  f"{row['best_line_rmse']:9.3f} {row['best_line_spread']:10.3f} {row['half_spread_rmse']:16.3f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
