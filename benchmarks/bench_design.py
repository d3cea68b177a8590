"""What designed finetuning batches buy, on simulated paper-like tables (issue 15).

Tables: random paper-like laws (``simulate_random_table``) at two noise levels ("low":
n_eval 3000, subset noise 0.01; "high": n_eval 1000, subset noise 0.02), the paper's grid
(25 checkpoints x D = 30..3000 x 2 subsets), of which a forecaster can use the pre-emergence
checkpoints: the *full grid* is every finetuning run on those (cost 1 per run).

Scenario "pilot" (warm start): the table so far = few-shot rows + a pilot of 15 runs (subset 0
of D = 100, 1000, 3000 on the 5 most capable pre-emergence checkpoints); the rest of the grid is
the candidate list. Scenario "cold": few-shot rows only, the whole grid is the candidate list.
For budgets of 10-60 % of the full grid's cost (pilot included) the designed batch is run (its
values taken from the same simulated table, so designed, random and full grid see the same
outcomes of the same runs) and the law refitted (parametric bootstrap, 500 replicates):

1. cost to reach the full grid's 90% width: the smallest budget fraction whose designed batch
   gives a width <= the full grid's (goal <= 50 %);
2. at equal cost: width of the designed batch / mean width of 3 random batches of the same
   cost (same candidates), per table, with its spread over tables (random batches the
   estimator refuses count as "not identifiable", reported apart);
3. design time for 200 candidates (20 checkpoints x 5 D x 2 subsets, budget 40), wall and CPU,
   against an extrapolated exact-criterion greedy (every candidate of every greedy step scored
   by simulated refits, at the measured time per refit evaluation).

Usage: ``python benchmarks/bench_design.py [--tables 4] [--json PATH]`` (tables per noise
level). Writes benchmarks/results/bench_design.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emergence_law.design import design_runs  # noqa: E402
from emergence_law.errors import NotIdentifiableError  # noqa: E402
from emergence_law.fitting import EmergenceLaw  # noqa: E402
from emergence_law.simulate import simulate_random_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NOISE = {"low": {"n_eval": 3000, "subset_sd": 0.01}, "high": {"n_eval": 1000, "subset_sd": 0.02}}
COLS = ["model", "checkpoint", "loss", "n_train", "method", "subset"]
KEY = ["checkpoint", "n_train", "subset"]
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
DESIGN = {"n_tables": 10, "n_boot": 30, "max_evals": 6}


def fit_width(table: pd.DataFrame, truth: float) -> tuple[float, float]:
    """(90% width, |MLE - truth|) of the bootstrap fit; (inf, nan) if refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = EmergenceLaw(posterior="bootstrap", n_samples=500, seed=0).fit(table, "simtask")
    except NotIdentifiableError:
        return float("inf"), float("nan")
    lo, hi = f.interval(0.9)
    return float(hi - lo), float(abs(f.emergence_point_mle - truth))


def one_table(seed: int, noise: str, scenario: str) -> dict:
    obs, truth = simulate_random_table(seed, **NOISE[noise])
    e0 = truth["emergence_point"]
    pre = obs[obs["loss"] >= e0]
    fs, ft = pre[pre["setting"] == "fewshot"], pre[pre["setting"] == "finetune"]
    if scenario == "pilot":
        best = ft.drop_duplicates("checkpoint").nsmallest(5, "loss")["checkpoint"]
        now = ft[(ft["subset"] == 0) & ft["n_train"].isin([100, 1000, 3000])
                 & ft["checkpoint"].isin(best)]
    else:
        now = ft.iloc[:0]
    rest = ft.drop(now.index)
    table = pd.concat([fs, now], ignore_index=True)
    full_cost = float(len(ft))
    w_full, err_full = fit_width(pre, e0)
    out = {"seed": seed, "noise": noise, "scenario": scenario, "truth": e0,
           "full_cost": full_cost, "full_width": w_full, "full_error": err_full,
           "pilot_cost": float(len(now)), "budgets": []}
    rng = np.random.default_rng(seed)
    for frac in FRACTIONS:
        budget = frac * full_cost - len(now)
        if budget < 1:
            continue
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = design_runs(table, "simtask", rest[COLS], budget, seed=seed, **DESIGN)
        dt = time.perf_counter() - t
        done = rest.merge(res.runs[KEY], on=KEY)
        w, err = fit_width(pd.concat([table, done], ignore_index=True), e0)
        k = len(done)
        rand = []
        for _ in range(3):
            pick = rest.iloc[rng.choice(len(rest), size=max(k, 1), replace=False)]
            rand.append(fit_width(pd.concat([table, pick], ignore_index=True), e0)[0])
        out["budgets"].append({
            "fraction": frac, "budget": budget, "runs": k, "cost": float(len(now) + k),
            "width": w, "error": err, "expected_width": res.final_width,
            "current_width": res.current_width, "random_widths": rand, "design_s": dt})
        print(f"  {scenario:5s} {noise:4s} seed {seed} frac {frac:.1f}: {k:3d} runs width "
              f"{w:.4f} (expected {res.final_width:.4f}) full {w_full:.4f} random "
              f"{np.round(rand, 4).tolist()} [{dt:.1f} s]", flush=True)
    return out


def summarise(tables: list[dict]) -> dict:
    out: dict = {}
    for scen in sorted({t["scenario"] for t in tables}):
        ts = [t for t in tables if t["scenario"] == scen]
        reach = []
        for t in ts:
            hit = [b["cost"] / t["full_cost"] for b in t["budgets"] if b["width"] <= t["full_width"]]
            reach.append(min(hit) if hit else float("inf"))
        ratios: dict[str, list[float]] = {}
        refused: dict[str, int] = {}
        for t in ts:
            for b in t["budgets"]:
                key = f"{b['fraction']:.1f}"
                r = np.array(b["random_widths"])
                refused[key] = refused.get(key, 0) + int(np.isinf(r).sum())
                if np.isfinite(r).any() and np.isfinite(b["width"]):
                    ratios.setdefault(key, []).append(b["width"] / float(np.mean(r[np.isfinite(r)])))
        reach_a = np.array(reach)
        out[scen] = {
            "tables": len(ts),
            "cost_fraction_to_full_width": {"per_table": reach,
                                            "median": float(np.median(reach_a)),
                                            "share_within_50pct": float(np.mean(reach_a <= 0.5))},
            "width_ratio_designed_over_random": {
                k: {"median": float(np.median(v)), "q25": float(np.quantile(v, 0.25)),
                    "q75": float(np.quantile(v, 0.75)), "min": float(np.min(v)),
                    "max": float(np.max(v)), "n": len(v), "random_refused": refused[k]}
                for k, v in sorted(ratios.items())},
            "full_grid_width_median": float(np.median([t["full_width"] for t in ts])),
            "median_design_s": float(np.median([b["design_s"] for t in ts for b in t["budgets"]])),
        }
    return out


def timing_200(seed: int = 5) -> dict:
    """Design time for 200 candidates (and the exact-criterion greedy, extrapolated)."""
    from emergence_law.design.evaluate import candidate_rows, design_width, simulate_outcomes
    from emergence_law.design.particles import current_particles
    from emergence_law.observations import load_observations

    obs, truth = simulate_random_table(seed, n_checkpoints=40, loss_range=(1.6, 3.2))
    pre = obs[obs["loss"] >= truth["emergence_point"]]
    fs, ft = pre[pre["setting"] == "fewshot"], pre[pre["setting"] == "finetune"]
    ck = ft.drop_duplicates("checkpoint").nsmallest(22, "loss")["checkpoint"]
    pilot = ft[ft["checkpoint"].isin(ck[:2]) & (ft["subset"] == 0)
               & ft["n_train"].isin([100, 1000, 3000])]
    cands = ft[ft["checkpoint"].isin(ck[2:22])].drop(pilot.index, errors="ignore")[COLS]
    assert len(cands) == 200, len(cands)
    table = load_observations(pd.concat([fs, pilot], ignore_index=True))
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = design_runs(table, "simtask", cands, 40, seed=0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # exact criterion: one design_width call per (greedy step, remaining candidate)
    p = current_particles(table, "simtask", cands["loss"].to_numpy(float), 5.0, n=2000)
    chosen = cands.iloc[:10]
    o = simulate_outcomes(p, chosen, 12, np.random.default_rng(0))
    new = candidate_rows(chosen, "simtask", table)
    t1 = time.perf_counter()
    for _ in range(3):
        design_width(table, new, o.values, p.subset(o.truth), "simtask", 5.0, 0.3, n_boot=40,
                     rng=np.random.default_rng(0))
    per_eval = (time.perf_counter() - t1) / 3
    steps = len(res.runs)
    n_evals = sum(200 - i for i in range(steps))
    return {"candidates": 200, "budget": 40, "runs": steps, "wall_s": wall, "cpu_s": cpu,
            "timings": res.timings, "exact_greedy_evaluations": n_evals,
            "exact_per_evaluation_s": per_eval, "exact_greedy_s_extrapolated": n_evals * per_eval,
            "speedup": n_evals * per_eval / wall, "load_avg_1min": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=4, help="tables per noise level")
    ap.add_argument("--scenarios", default="pilot,cold")
    ap.add_argument("--json", type=Path, default=RESULTS / "bench_design.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    timing = timing_200()
    print("200 candidates:", json.dumps(timing), flush=True)
    tables = []
    for scen in args.scenarios.split(","):
        for noise in NOISE:
            for i in range(args.tables):
                tables.append(one_table(100 + i, noise, scen))
    summary = summarise(tables)
    print(json.dumps(summary, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "timing_200": timing,
                                     "settings": {"design": DESIGN, "fractions": FRACTIONS,
                                                  "noise": NOISE},
                                     "tables": tables, "total_s": time.perf_counter() - t0},
                                    indent=2))


if __name__ == "__main__":
    main()
