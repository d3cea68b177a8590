"""Designed finetuning batch vs the full grid, on the lab's measured runs (issue 15).

Retrospective: the lab measured its full finetuning grid once (6 pre-emergence checkpoints x
D in {64, 256, 1024, 4096} x 2 subset seeds, per method: full and LoRA r4; shipped in
``emergence_law/data/lab_observations.csv``). Nothing is retrained here: the grid's runs are the
candidates, ``design_runs`` chooses a batch, and "running" it takes the measured rows of the
chosen runs (:mod:`emergence_law.design.retrospective`).

Per method, exactly as the lab's ``prediction`` (``lab/results.py``): the data are the rows of
checkpoints with loss >= max(least finetuned loss, ground truth); the law (log power, MCMC,
2000 draws, seed 0) is fitted on few-shot rows + that method's finetuned rows; the ground truth
is the ReLU fitted to the few-shot rows of every checkpoint (``lab.results.ground_truth``).

Start tables: **cold** (the few-shot rows only) and **pilot** (plus subset 0 of D = 64, 256,
1024 on the most and the least capable checkpoint: 6 runs; a pilot on the 2 most capable
checkpoints, whose runs all rise above chance, gives no fit the estimator accepts). Budgets: 20 %, 35 %, 50 % of the full grid's
cost (the pilot's cost counted in). The design's batch is replayed as recommended (cut where its expected
width stops falling) and also uncut (the greedy order filling the budget). Cost: the design's documented model (``params`` in the
table: ``params (6 n_train + 2 n_eval) / 6e12``). Baselines: the full grid, and random batches
(5 seeds) of at most the designed batch's cost. Reported per fit: MLE, error against the ground
truth, 90% interval width, whether the truth is inside, whether the MLE sits at the data's edge.

Usage: ``python benchmarks/bench_design_lab.py [--random 5] [--json PATH]``.
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

from emergence_law.design.retrospective import (  # noqa: E402
    measured_runs,
    random_batch,
    replay_design,
    rows_of,
    run_cost,
)
from emergence_law.errors import EmergenceLawError  # noqa: E402
from emergence_law.fitting import EmergenceLaw  # noqa: E402
from emergence_law.fitting.estimator import EDGE_NATS  # noqa: E402
from emergence_law.lab import load_lab_observations  # noqa: E402
from emergence_law.lab.results import ground_truth, preemergence_rows  # noqa: E402
from emergence_law.lab.task import TASK_MC  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("full", "lora-r4")
FRACTIONS = (0.2, 0.35, 0.5)
PILOT_D = (64, 256, 1024)
DESIGN = {"n_tables": 10, "n_boot": 30, "max_evals": 6}
FIT = {"form": "log_power", "posterior": "mcmc", "n_samples": 2000, "seed": 0}


def lab_table(obs: pd.DataFrame, method: str, elbow: float) -> pd.DataFrame:
    """The rows the lab's prediction uses for ``method`` (see ``lab.results.prediction``)."""
    ft = obs[(obs["setting"] == "finetune") & (obs["metric"] == "acc")
             & (obs["task"] == TASK_MC) & (obs["method"] == method)]
    data = preemergence_rows(obs, max(float(ft["loss"].min()), elbow + 1e-9))
    return data[(data["setting"] == "fewshot") | (data["method"] == method)]


def fit(table: pd.DataFrame, method: str, truth: float) -> dict:
    """The lab's fit on ``table``, scored against the ground truth (refusals recorded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = EmergenceLaw(**FIT).fit(table, TASK_MC, metric="acc", method=method)
    except EmergenceLawError as exc:
        return {"ok": False, "reason": str(exc).splitlines()[0][:200]}
    except ValueError as exc:  # the sampler's own failure (emcee: NaN parameter), recorded
        return {"ok": False, "reason": f"sampler error: {exc}"[:200]}
    lo, hi = f.interval(0.9)
    mle = float(f.emergence_point_mle)
    fs_min = float(table.loc[table["setting"] == "fewshot", "loss"].min())
    return {"ok": True, "mle": mle, "error_nats": mle - truth, "abs_error_nats": abs(mle - truth),
            "interval_90": [float(lo), float(hi)], "width_90": float(hi - lo),
            "truth_in_interval": bool(lo <= truth <= hi),
            "mle_at_data_edge": bool(abs(fs_min - mle) <= EDGE_NATS),
            "success": bool(abs(mle - truth) <= 0.1)}


def one_method(obs: pd.DataFrame, method: str, truth: float, n_random: int) -> dict:
    data = lab_table(obs, method, truth)
    runs = measured_runs(data, "acc")
    cost = run_cost(runs)
    full_cost = float(cost.sum())
    fs = data[data["setting"] == "fewshot"]
    ck = runs.drop_duplicates(["model", "checkpoint"]).sort_values("loss")
    best = ck.iloc[[0, -1]]  # the most and the least capable: one that rises, one flat
    pilot_runs = runs[(runs["subset"] == 0) & runs["n_train"].isin(PILOT_D)
                      & runs["checkpoint"].isin(best["checkpoint"])
                      & runs["model"].isin(best["model"])]
    pilot_runs = pilot_runs.merge(best[["model", "checkpoint"]], on=["model", "checkpoint"])
    starts = {"cold": (fs, 0.0),
              "pilot": (pd.concat([fs, rows_of(data, pilot_runs)], ignore_index=True),
                        float(run_cost(pilot_runs).sum()))}
    out = {"method": method, "runs": len(runs), "full_cost": full_cost,
           "cost_per_run": {"min": float(cost.min()), "max": float(cost.max())},
           "full_grid": fit(data, method, truth), "scenarios": {}}
    print(f"{method}: {len(runs)} runs, full grid {json.dumps(out['full_grid'])}", flush=True)
    for scen, (start, start_cost) in starts.items():
        s = {"start_cost": start_cost, "start_fraction": start_cost / full_cost,
             "start_fit": fit(start, method, truth) if start_cost else None, "budgets": []}
        for frac in FRACTIONS:
            budget = frac * full_cost - start_cost
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = replay_design(start, data, TASK_MC, budget, metric="acc", method=method,
                                  seed=0, **DESIGN)
            dt = time.perf_counter() - t
            spent = start_cost + r.cost
            designed = fit(r.table, method, truth)
            # the greedy order filling the budget, without the design's stop (judges the order)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                u = replay_design(start, data, TASK_MC, budget, metric="acc", method=method,
                                  seed=0, cut=False, **DESIGN)
            uncut = fit(u.table, method, truth)
            uncut.update(runs=int(len(u.runs)), cost=start_cost + u.cost,
                         expected_width=u.design.final_width)
            rest = runs
            if scen == "pilot":
                done = set(map(tuple, pilot_runs[["model", "checkpoint", "n_train", "subset"]]
                               .to_numpy().tolist()))
                rest = runs[[tuple(x) not in done for x in
                             runs[["model", "checkpoint", "n_train", "subset"]].to_numpy().tolist()]]
            rcost = cost.loc[rest.index]
            rand, rand_u = [], []
            for seed in range(n_random):
                for spend, into in ((r.cost, rand), (u.cost, rand_u)):
                    pick = random_batch(rest, rcost, spend, np.random.default_rng(seed))
                    rf = fit(pd.concat([start, rows_of(data, pick)], ignore_index=True),
                             method, truth)
                    rf.update(runs=len(pick),
                              cost=start_cost + float(rcost.loc[pick.index].sum()))
                    into.append(rf)
            rec = {"fraction": frac, "budget": budget, "runs": int(len(r.runs)),
                   "cost": spent, "cost_fraction": spent / full_cost,
                   "cost_saved": 1 - spent / full_cost,
                   "chosen": r.runs[["model", "checkpoint", "n_train", "subset", "cost"]]
                   .to_dict("records"),
                   "expected_width": r.design.final_width,
                   "current_width": r.design.current_width, "notes": r.design.notes,
                   "designed": designed, "random": rand, "design_s": dt,
                   "designed_uncut": uncut, "random_at_uncut_cost": rand_u}
            s["budgets"].append(rec)
            rw = [x["width_90"] for x in rand if x["ok"]]
            print(f"  {scen:5s} {frac:.2f}: {len(r.runs):2d} runs, cost {spent / full_cost:.2f} "
                  f"designed {json.dumps({k: designed.get(k) for k in ('mle', 'width_90')})} "
                  f"random widths {np.round(rw, 3).tolist()} ({n_random - len(rw)} refused) "
                  f"[{dt:.1f} s]; uncut {len(u.runs)} runs cost "
                  f"{(start_cost + u.cost) / full_cost:.2f} width {uncut.get('width_90')} "
                  f"random {[round(x['width_90'], 3) for x in rand_u if x['ok']]}", flush=True)
        out["scenarios"][scen] = s
    return out


def _median_width(fits: list[dict]) -> float | None:
    w = [x["width_90"] for x in fits if x["ok"]]
    return float(np.median(w)) if w else None


def summarise(res: dict) -> dict:
    rows = []
    for m, r in res.items():
        fg = r["full_grid"]
        for scen, s in r["scenarios"].items():
            for b in s["budgets"]:
                d = b["designed"]
                ok = [x for x in b["random"] if x["ok"]]
                rows.append({
                    "method": m, "scenario": scen, "fraction": b["fraction"],
                    "cost_fraction": round(b["cost_fraction"], 3), "runs": b["runs"],
                    "designed_error": d.get("error_nats"), "designed_width": d.get("width_90"),
                    "designed_truth_in": d.get("truth_in_interval"),
                    "full_error": fg.get("error_nats"), "full_width": fg.get("width_90"),
                    "random_width_median": float(np.median([x["width_90"] for x in ok]))
                    if ok else None,
                    "random_abs_error_median": float(np.median([x["abs_error_nats"] for x in ok]))
                    if ok else None,
                    "random_refused": len(b["random"]) - len(ok),
                    "width_ratio_designed_over_full":
                        d["width_90"] / fg["width_90"] if d.get("ok") and fg.get("ok") else None,
                    "uncut_runs": b["designed_uncut"]["runs"],
                    "uncut_cost_fraction": round(b["designed_uncut"]["cost"] / r["full_cost"], 3),
                    "uncut_error": b["designed_uncut"].get("error_nats"),
                    "uncut_width": b["designed_uncut"].get("width_90"),
                    "random_uncut_width_median": _median_width(b["random_at_uncut_cost"]),
                    "random_uncut_refused": sum(not x["ok"] for x in b["random_at_uncut_cost"]),
                })
    return {"rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", type=int, default=5, help="random batches per budget")
    ap.add_argument("--json", type=Path, default=RESULTS / "bench_design_lab.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    obs = load_lab_observations()
    gt = ground_truth(obs)
    res = {m: one_method(obs, m, gt.elbow, args.random) for m in METHODS}
    summary = summarise(res)
    for row in summary["rows"]:
        print(json.dumps(row))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "ground_truth": gt.elbow, "ground_truth_interval": list(gt.interval),
        "summary": summary, "methods": res,
        "settings": {"design": DESIGN, "fit": FIT, "fractions": FRACTIONS,
                     "pilot_d": PILOT_D, "random": args.random},
        "total_s": time.perf_counter() - t0, "load_avg_1min": os.getloadavg()[0]},
        indent=2, default=float))


if __name__ == "__main__":
    main()
