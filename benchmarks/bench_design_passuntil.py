"""Does a ``design-passuntil`` plan reach its precision? (issue 15, item 3)

Per simulated dataset (``passuntil.simulate.simulate_family``: 40 instances, pilot counts at
N = 1e8, 2e8, 4e8, 8e8 by sample-until-r, r = 2, budget 20000 per instance): plan for a
relative precision P on the pass rate at N* = 3.2e9, draw fixed-budget counts exactly as the
plan says from the true per-instance rates, predict N* with the dataset-level line (log(-log
mean R/K) against log N), and count a hit when |log(prediction / reference)| <= log(1 + P).
Two references: the **law's own extrapolation** (the line through the true task means at the
planned sizes: what sampling can buy) and the **true pass rate** at N* (adds the bias of the
dataset-level line when instances differ). Families: "heterogeneous" (instance slopes sd 0.3,
log(-log) offsets sd 0.5: the package's default spread) and "law holds" (identical instances:
the task mean follows the law exactly).

Usage: ``python benchmarks/bench_design_passuntil.py [--datasets 100] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emergence_law.design.passuntil import plan_passuntil  # noqa: E402
from emergence_law.passuntil.simulate import _family_eta, simulate_family  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1e8, 2e8, 4e8, 8e8)
TARGET = 3.2e9
FAMILIES = {"heterogeneous": {"sd_alpha": 0.3, "sd_eta_small": 0.5},
            "law holds": {"sd_alpha": 0.0, "sd_eta_small": 0.0}}


def _line(params: np.ndarray, means: np.ndarray) -> float:
    x, y = np.log(params), np.log(-np.log(means))
    return float(np.exp(-np.exp(np.polyval(np.polyfit(x, y, 1), np.log(TARGET)))))


def one(seed: int, precision: float, family: dict) -> dict:
    fam = simulate_family(40, SIZES, mean_eta_small=2.0, seed=seed, **family)
    t = time.perf_counter()
    plan = plan_passuntil(fam.counts, TARGET, precision)
    dt = time.perf_counter() - t
    a = plan.allocation
    idx = a["instance"].str[1:].astype(int).to_numpy()
    eta = np.array([_family_eta(fam, np.log(n))[i] for n, i in zip(a["params"], idx,
                                                                    strict=True)])
    rng = np.random.default_rng(1000 + seed)
    k = a["samples"].to_numpy()
    got = a.assign(passes=rng.binomial(k, np.exp(-np.exp(eta))))
    m = got.groupby("params").apply(lambda d: float((d["passes"] / d["samples"]).mean()))
    sizes = m.index.to_numpy()
    pred = _line(sizes, m.to_numpy()) if (m.to_numpy() > 0).all() else float("nan")
    law = _line(sizes, np.array([fam.true_pass_rate(n) for n in sizes]))
    truth = fam.true_pass_rate(TARGET)
    h = np.log1p(precision)
    return {"seed": seed, "cost": plan.total_cost, "sizes": [float(s) for s in sizes],
            "expected_rel_width": plan.expected_rel_width, "predicted_by_pilot":
            plan.predicted_pass_rate, "prediction": pred, "law": law, "truth": truth,
            "hit_law": bool(abs(np.log(pred / law)) <= h), "hit_truth":
            bool(abs(np.log(pred / truth)) <= h), "law_bias": float(np.log(law / truth)),
            "plan_s": dt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=100)
    ap.add_argument("--precision", type=float, nargs="+", default=[0.1, 0.2])
    ap.add_argument("--json", type=Path, default=RESULTS / "bench_design_passuntil.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = {}
    for name, fam in FAMILIES.items():
        for p in args.precision:
            rows = [one(s, p, fam) for s in range(args.datasets)]
            df = pd.DataFrame(rows)
            s = {"family": name, "precision": p, "datasets": len(df),
                 "share_within_precision_of_law": float(df["hit_law"].mean()),
                 "share_within_precision_of_truth": float(df["hit_truth"].mean()),
                 "law_bias_median": float(df["law_bias"].median()),
                 "law_bias_max_abs": float(df["law_bias"].abs().max()),
                 "cost_median": float(df["cost"].median()),
                 "cost_q25_q75": [float(df["cost"].quantile(q)) for q in (0.25, 0.75)],
                 "sizes_used": sorted({tuple(x) for x in df["sizes"]}),
                 "plan_s_median": float(df["plan_s"].median())}
            print(json.dumps(s), flush=True)
            out[f"{name} P={p}"] = {"summary": s, "datasets": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": out, "total_s": time.perf_counter() - t0,
                                     "load_avg_1min": os.getloadavg()[0]}, indent=2,
                                    default=float))


if __name__ == "__main__":
    main()
