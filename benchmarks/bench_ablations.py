"""Benchmark: the full ablation grid (27 ablations, MCMC posteriors) on a paper-size simulated task.

Goal (issue 3): <= 60 s wall on 2 cores. The same grid runs twice in this process, serially
(``workers=1``) and on the 2-worker process pool, and the script prints the speed-up of the pool
over the serial run as a ratio measured in the same run, plus CPU seconds, so that a busy
machine (shared cores) can be told apart from a slow program: on an oversubscribed machine the
wall times stretch but the CPU seconds do not.

It also checks the answers: both runs must give identical tables (same seeds), and the
full-data prediction must be a success against the simulated truth.

    python benchmarks/bench_ablations.py [--samples 2000] [--workers 2] [--checkpoints 25]

``--scaling-coverage N`` adds the heavier statistical check behind ``to-params`` (the test suite
runs a small version): over N simulated model families, how often the 90% bootstrap interval of
the parameter count needed for a target loss covers the true count.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

import numpy as np

from emergence_law.analysis.ablations import run_ablations
from emergence_law.simulate import simulate_observations


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(obs, workers: int, samples: int):
    law = {"posterior": "mcmc", "n_samples": samples, "seed": 0}
    w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_ablations(obs, "simtask", law=law, workers=workers, progress=False)
    wall = time.perf_counter() - w0
    cpu = (time.process_time() - c0) + (_children_cpu() - k0)
    return res, wall, cpu


def scaling_coverage(n_datasets: int, n_bootstrap: int, workers: int) -> None:
    """Coverage of the scaling-law bootstrap's 90% interval for N(loss) over many families."""
    from emergence_law.analysis.runner import run_jobs

    w0 = time.perf_counter()
    res = run_jobs(_coverage_one, [(s, n_bootstrap) for s in range(n_datasets)],
                   workers=workers, description="scaling coverage", progress=False)
    hits = np.array([r[0] for r in res])
    widths = np.array([r[1] for r in res])
    se = np.sqrt(0.9 * 0.1 / n_datasets)
    print(f"scaling-law bootstrap, 90% interval of N at loss {_TARGET}: coverage "
          f"{hits.mean():.3f} over {n_datasets} families (nominal 0.90 +/- {2 * se:.3f} at 2 SE); "
          f"median width {np.median(widths):.2f} decades; {time.perf_counter() - w0:.0f} s")


_TRUE = (1.69, 406.4, 0.34)  # E, A, alpha (Chinchilla's published L(N) term)
_TARGET = 1.95


def _coverage_one(job: tuple[int, int]) -> tuple[bool, float]:
    from emergence_law.scaling import ScalingLaw

    seed, n_boot = job
    rng = np.random.default_rng(1000 + seed)
    E, A, alpha = _TRUE
    N = np.geomspace(5e7, 7e10, 10)
    y = (E + A / N ** alpha) * np.exp(rng.normal(0, 0.01, N.size))
    fit = ScalingLaw(n_bootstrap=n_boot, seed=seed).fit(N, y)
    lo, hi = np.percentile(fit.size_for_loss(_TARGET, draws=fit.bootstrap), [5, 95])
    truth = (A / (_TARGET - E)) ** (1 / alpha)
    return bool(lo <= truth <= hi), float(np.log10(hi / lo))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000, help="MCMC draws per fit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--checkpoints", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scaling-coverage", type=int, default=0, metavar="N",
                    help="also check scaling-law bootstrap coverage over N families")
    ap.add_argument("--only-coverage", action="store_true", help="skip the ablation timing")
    args = ap.parse_args()
    if args.scaling_coverage:
        scaling_coverage(args.scaling_coverage, 200, args.workers)
    if args.only_coverage:
        return

    obs, truth = simulate_observations(seed=args.seed, n_checkpoints=args.checkpoints)
    print(f"task: {len(obs)} rows, {args.checkpoints} checkpoints, 5 data levels x 2 subsets, "
          f"MCMC {args.samples} draws per fit; cores visible: {os.cpu_count()}, load average "
          f"at start: {os.getloadavg()[0]:.1f}")
    par, wall_par, cpu_par = _timed(obs, args.workers, args.samples)
    ser, wall_ser, cpu_ser = _timed(obs, 1, args.samples)

    t = par.table
    n_fits = par.info["n_fits"]
    ok = t["status"] == "ok"
    same = np.allclose(t.loc[ok, "mle"], ser.table.loc[ok, "mle"]) and np.allclose(
        t.loc[ok, "error_p95"], ser.table.loc[ok, "error_p95"])
    full = t.set_index("ablation").loc["full data"]
    print(f"ablations: {len(t)} ({int(ok.sum())} fitted, {n_fits} distinct fits, "
          f"{int((t['status'] == 'skipped').sum())} skipped, "
          f"{int((t['status'] == 'failed').sum())} failed); {int(t['success'].sum())} succeeded")
    print(f"full data: MLE {full['mle']:.4f}, ground truth {full['gt']:.4f}, true E(D0) "
          f"{truth['emergence_point']:.4f}, error {full['error']:.4f} nats "
          f"[p5 {full['error_p5']:.4f}, p95 {full['error_p95']:.4f}]")
    print(f"serial   (1 worker):  wall {wall_ser:7.1f} s, CPU {cpu_ser:7.1f} s "
          f"({cpu_ser / n_fits:.2f} CPU s per fit)")
    print(f"parallel ({args.workers} workers): wall {wall_par:7.1f} s, CPU {cpu_par:7.1f} s")
    print(f"speed-up of the pool over serial (same run): {wall_ser / wall_par:.2f}x")
    print(f"parallel wall / 60 s goal: {wall_par / 60:.2f} "
          f"({'met' if wall_par <= 60 else 'NOT met'}); if the cores were free: about "
          f"{max(cpu_par / args.workers, cpu_par / n_fits):.0f} s (CPU s / workers)")
    print(f"identical results serial vs parallel: {same}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
