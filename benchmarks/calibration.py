"""Recovery and interval calibration of the emergence-law fit over many simulated tables.

For each table (a random paper-like law, see ``simulate.random_table``) we fit only the
pre-emergence checkpoints (loss >= the true few-shot elbow), as a forecaster would, and record

- the MLE error |E_hat(D0) - E(D0)| (goal: median <= 0.02 nats, none > 0.1),
- whether the central 90 % interval of each posterior covers the true E(D0)
  (goal: 80-97 % of tables, for MCMC and bootstrap).

Usage::

    python benchmarks/calibration.py --tables 100 --workers 2
    python benchmarks/calibration.py --tables 20 --units parametric   # quicker

Writes ``benchmarks/results/calibration.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def one_table(args: tuple[int, dict]) -> dict:
    """Fit one simulated table; return errors and interval hits."""
    seed, opt = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.simplefilter("ignore")
    from emergence_law.fitting.bootstrap import bootstrap_posterior
    from emergence_law.fitting.mcmc import sample_posterior
    from emergence_law.fitting.mle import fit_mle
    from emergence_law.fitting.model import ProfileModel, prepare_data
    from emergence_law.observations import select_task
    from emergence_law.simulate import simulate_random_table

    df, truth = simulate_random_table(seed, n_eval=opt["n_eval"])
    e_true = truth["emergence_point"]
    data = prepare_data(select_task(df, "simtask").rows, form="log_power",
                        likelihood=opt["likelihood"], min_loss=e_true)
    model = ProfileModel(data, form="log_power", d0=truth["d0"], likelihood=opt["likelihood"])
    t = time.process_time()
    mle = fit_mle(model)
    out = {"seed": seed, "truth": e_true, "mle": float(mle.theta[0]),
           "mle_cpu_s": time.process_time() - t}
    draws = {}
    if opt["mcmc_samples"]:
        t = time.process_time()
        res = sample_posterior(model, mle.theta, n_samples=opt["mcmc_samples"], seed=seed)
        draws["mcmc"] = res.theta[:, 0]
        out["mcmc_rhat"] = res.diagnostics["rhat"]
        out["mcmc_ess"] = res.diagnostics["ess"]
        out["mcmc_cpu_s"] = time.process_time() - t
    for unit in opt["units"]:
        t = time.process_time()
        res = bootstrap_posterior(model, mle.theta, mle.beta, n_samples=opt["boot_samples"],
                                  unit=unit, seed=seed)
        draws[f"bootstrap-{unit}"] = res.theta[:, 0]
        out[f"bootstrap-{unit}_cpu_s"] = time.process_time() - t
    for name, s in draws.items():
        lo, hi = np.percentile(s, [5, 95])
        out[name] = {"lo": float(lo), "hi": float(hi), "covered": bool(lo <= e_true <= hi),
                     "width": float(hi - lo)}
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(c - h), float(c + h)


def summarise(rows: list[dict]) -> dict:
    err = np.abs(np.array([r["mle"] - r["truth"] for r in rows]))
    summary = {
        "tables": len(rows),
        "mle_abs_error": {"median": float(np.median(err)), "p90": float(np.percentile(err, 90)),
                          "max": float(err.max()), "fraction_over_0.1": float(np.mean(err > 0.1))},
        "coverage_90": {},
    }
    methods = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    for m in methods:
        hits = sum(r[m]["covered"] for r in rows)
        summary["coverage_90"][m] = {
            "coverage": hits / len(rows), "wilson_95": wilson(hits, len(rows)),
            "median_width": float(np.median([r[m]["width"] for r in rows])),
            "median_cpu_s": float(np.median([r[f"{m}_cpu_s"] for r in rows])),
        }
    if "mcmc_rhat" in rows[0]:
        summary["mcmc"] = {"median_rhat": float(np.median([r["mcmc_rhat"] for r in rows])),
                           "max_rhat": float(np.max([r["mcmc_rhat"] for r in rows])),
                           "median_ess": float(np.median([r["mcmc_ess"] for r in rows]))}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mcmc-samples", type=int, default=1000, help="0 skips MCMC")
    ap.add_argument("--boot-samples", type=int, default=500)
    ap.add_argument("--units", default="parametric,checkpoint,residual")
    ap.add_argument("--likelihood", default="gaussian")
    ap.add_argument("--n-eval", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=RESULTS / "calibration.json")
    a = ap.parse_args()
    opt = {"mcmc_samples": a.mcmc_samples, "boot_samples": a.boot_samples,
           "units": [u for u in a.units.split(",") if u], "likelihood": a.likelihood,
           "n_eval": a.n_eval}
    jobs = [(a.first_seed + i, opt) for i in range(a.tables)]
    from rich.progress import Progress

    t0 = time.perf_counter()
    rows = []
    partial = a.out.with_suffix(".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(a.workers) as pool, Progress() as bar:
        task = bar.add_task("simulated tables", total=len(jobs))
        for r in pool.map(one_table, jobs):  # Ctrl-C: the tables done so far stay in partial
            rows.append(r)
            bar.advance(task)
            if len(rows) % 10 == 0:
                partial.write_text(json.dumps({"tables": rows}) + "\n")
    partial.unlink(missing_ok=True)
    summary = summarise(rows)
    summary["options"] = {**opt, "tables": a.tables, "first_seed": a.first_seed}
    summary["wall_s"] = time.perf_counter() - t0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"summary": summary, "tables": rows}, indent=1) + "\n")
    e = summary["mle_abs_error"]
    print(f"{summary['tables']} tables, n_eval {a.n_eval}, likelihood {a.likelihood}")
    print(f"MLE |error| nats: median {e['median']:.4f}, 90th pct {e['p90']:.4f}, "
          f"max {e['max']:.4f}, fraction > 0.1: {e['fraction_over_0.1']:.3f}")
    print("90% interval coverage of the true E(D0) (goal 0.80-0.97):")
    for m, c in summary["coverage_90"].items():
        lo, hi = c["wilson_95"]
        print(f"  {m:24s} {c['coverage']:.3f}  (95% CI {lo:.2f}-{hi:.2f}), "
              f"median width {c['median_width']:.4f}, median CPU {c['median_cpu_s']:.2f} s")
    if "mcmc" in summary:
        print(f"MCMC: median R-hat {summary['mcmc']['median_rhat']:.4f}, max "
              f"{summary['mcmc']['max_rhat']:.4f}, median ESS {summary['mcmc']['median_ess']:.0f}")
    print(f"wrote {a.out} ({summary['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
