"""Speed of the core fit on a paper-size table, as ratios against straightforward baselines.

Table: 25 checkpoints x 5 data levels x 2 subsets + 25 few-shot rows (simulate_observations
defaults), fitted on its pre-emergence checkpoints as a forecaster would.

1. MLE: ours (profiled linear parameters, batched grid + batched LM + simplex polish) against
   scipy Nelder-Mead on the six raw parameters (k, alpha, C, A, B, Delta) from 10 random starts.
2. Posterior: effective samples of E(D0) per second. Ours (emcee DEMove on the 3 anchored
   parameters, vectorised, sigma integrated out) against emcee with default settings (stretch
   move, one log-probability call per walker) on the 7 raw parameters (k, alpha, C, A, B,
   Delta, log sigma).
3. Bootstrap: 1000 replicates batched against refitting replicates one by one with our MLE.

All timings are wall-clock in the same process and run; ratios are what to compare across
machines. Usage: ``python benchmarks/bench_fit.py [--repeats 20] [--json out.json]``.
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
from scipy.optimize import minimize  # noqa: E402

from emergence_law.fitting.bootstrap import bootstrap_posterior  # noqa: E402
from emergence_law.fitting.diagnostics import effective_sample_size, split_rhat  # noqa: E402
from emergence_law.fitting.mcmc import sample_posterior  # noqa: E402
from emergence_law.fitting.mle import fit_mle  # noqa: E402
from emergence_law.fitting.model import ProfileModel, prepare_data  # noqa: E402
from emergence_law.observations import select_task  # noqa: E402
from emergence_law.simulate import simulate_observations  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def paper_table(seed: int = 0) -> tuple[ProfileModel, dict]:
    df, truth = simulate_observations(seed=seed)
    data = prepare_data(select_task(df, "simtask").rows, form="log_power",
                        likelihood="gaussian", min_loss=truth["emergence_point"])
    return ProfileModel(data, form="log_power", d0=truth["d0"]), truth


class RawLaw:
    """The law on its raw parameters, the way one would first write it (the baseline)."""

    def __init__(self, model: ProfileModel) -> None:
        d = model.data
        self.L, self.y, self.fs = d.loss, d.value, d.is_fewshot.astype(float)
        D = np.where(d.is_fewshot, model.d0, d.levels[np.minimum(d.level, len(d.levels) - 1)])
        self.logD = np.log(D)
        self.logD0 = np.log(model.d0)

    def predict(self, p: np.ndarray) -> np.ndarray:
        k, a, C, A, B, Delta = p[:6]
        with np.errstate(all="ignore"):
            E = C + k * self.logD**a
        return B + Delta * self.fs + A * np.maximum(E - self.L, 0.0)

    def rss(self, p: np.ndarray) -> float:
        r = self.y - self.predict(p)
        v = float(r @ r)
        return v if np.isfinite(v) else 1e10

    def log_prob(self, p: np.ndarray) -> float:
        k, a, C, A, B, Delta, log_s = p
        if not (-2 < a < 4 and A >= 0 and -5 < log_s < 2):
            return -np.inf
        n = len(self.y)
        return -0.5 * self.rss(p[:6]) / np.exp(2 * log_s) - n * log_s

    def e0(self, p: np.ndarray) -> np.ndarray:
        return p[..., 2] + p[..., 0] * self.logD0 ** p[..., 1]


def bench_mle(model: ProfileModel, repeats: int) -> dict:
    ours, cpu, ll_ours = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = fit_mle(model)
        ours.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        ll_ours = res.loglik
    raw = RawLaw(model)
    rng = np.random.default_rng(0)
    lo, hi = model.data.loss.min(), model.data.loss.max()
    base, best_rss = [], np.inf
    for _ in range(max(3, repeats // 4)):
        t = time.perf_counter()
        best = np.inf
        for _s in range(10):
            p0 = np.array([rng.uniform(0.01, 0.2), rng.uniform(0.3, 2.0),
                           rng.uniform(lo - 0.5, hi), rng.uniform(0.5, 2.0), 0.25, 0.0])
            r = minimize(raw.rss, p0, method="Nelder-Mead",
                         options={"maxfev": 4000, "xatol": 1e-8, "fatol": 1e-12})
            best = min(best, r.fun)
        base.append(time.perf_counter() - t)
        best_rss = min(best_rss, best)
    ll_base = float(model.loglik_from_rss(best_rss))
    return {"ours_median_ms": 1e3 * float(np.median(ours)),
            "ours_min_ms": 1e3 * float(np.min(ours)),
            "ours_median_cpu_ms": 1e3 * float(np.median(cpu)),
            "baseline_median_ms": 1e3 * float(np.median(base)),
            "speedup": float(np.median(base) / np.median(ours)),
            "loglik_ours": ll_ours, "loglik_baseline": ll_base}


def bench_mcmc(model: ProfileModel, theta_hat: np.ndarray, n_samples: int) -> dict:
    t, c = time.perf_counter(), time.process_time()
    res = sample_posterior(model, theta_hat, n_samples=n_samples, seed=1)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    ours = {"ess": res.diagnostics["ess"], "rhat": res.diagnostics["rhat"], "seconds": dt,
            "ess_per_s": res.diagnostics["ess"] / dt, "ess_per_cpu_s": res.diagnostics["ess"] / dc}

    import emcee

    raw = RawLaw(model)
    mle_p = model.law.paper_params(theta_hat)
    beta, rss = model.solve(theta_hat)
    p_hat = np.array([mle_p["k"], mle_p["alpha"], mle_p["C"], *beta[0][:3],
                      np.log(np.sqrt(rss[0] / model.data.n))])
    nw = 32
    rng = np.random.default_rng(2)
    p0 = p_hat + 1e-4 * rng.normal(size=(nw, 7))
    sampler = emcee.EnsembleSampler(nw, 7, raw.log_prob)
    t = time.perf_counter()
    steps = max(2000, n_samples * 2)
    sampler.run_mcmc(p0, steps, progress=False)
    dt = time.perf_counter() - t
    chain = sampler.get_chain()[steps // 2:]                         # default: no thinning
    e0 = raw.e0(chain)
    ess, _ = effective_sample_size(e0)
    base = {"ess": ess, "rhat": split_rhat(e0), "seconds": dt, "ess_per_s": ess / dt,
            "steps": steps}
    return {"ours": ours, "baseline_emcee_default_raw": base,
            "ess_per_s_ratio": ours["ess_per_s"] / base["ess_per_s"]}


def bench_bootstrap(model: ProfileModel, mle, n: int, n_loop: int) -> dict:
    t, c = time.perf_counter(), time.process_time()
    bootstrap_posterior(model, mle.theta, mle.beta, n_samples=n, seed=0)
    ours, ours_cpu = time.perf_counter() - t, time.process_time() - c
    from copy import copy

    from emergence_law.fitting.bootstrap import _replicates

    Y, W = _replicates(model, "parametric", mle.beta, mle.theta, n_loop,
                       np.random.default_rng(0))
    t = time.perf_counter()
    for i in range(n_loop):
        data = copy(model.data)
        data.value, data.weight = Y[i], W[i]
        fit_mle(ProfileModel(data, form=model.form, d0=model.d0))
    loop = (time.perf_counter() - t) / n_loop * n
    return {"replicates": n, "ours_s": ours, "ours_cpu_s": ours_cpu, "one_by_one_s_extrapolated": loop,
            "speedup": loop / ours}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--json", type=Path, default=RESULTS / "bench_fit.json")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    model, truth = paper_table()
    print(f"paper-size table: {model.data.n} rows used (25 checkpoints x 5 levels x 2 subsets "
          f"+ few-shot, pre-emergence only)")
    mle = fit_mle(model)
    out = {"rows": model.data.n, "cpu_count": os.cpu_count(),
           "load_avg_1min": os.getloadavg()[0]}
    out["mle"] = m = bench_mle(model, a.repeats)
    print(f"MLE: ours {m['ours_median_ms']:.1f} ms median wall ({m['ours_min_ms']:.1f} ms min, "
          f"{m['ours_median_cpu_ms']:.1f} ms CPU), scipy multi-start Nelder-Mead on raw "
          f"parameters {m['baseline_median_ms']:.0f} ms -> {m['speedup']:.1f}x faster; "
          f"log-lik ours {m['loglik_ours']:.3f} vs baseline {m['loglik_baseline']:.3f}")
    out["mcmc"] = c = bench_mcmc(model, mle.theta, a.samples)
    o, b = c["ours"], c["baseline_emcee_default_raw"]
    print(f"MCMC: ours {o['ess_per_s']:.0f} ESS/s of E(D0) ({o['ess_per_cpu_s']:.0f} per CPU s; "
          f"ESS {o['ess']:.0f}, R-hat "
          f"{o['rhat']:.4f}, {o['seconds']:.2f} s); emcee default on raw parameters "
          f"{b['ess_per_s']:.1f} ESS/s (ESS {b['ess']:.0f}, R-hat {b['rhat']:.3f}, "
          f"{b['seconds']:.1f} s) -> {c['ess_per_s_ratio']:.0f}x")
    out["bootstrap"] = bs = bench_bootstrap(model, mle, 1000, 20)
    print(f"bootstrap: 1000 replicates in {bs['ours_s']:.2f} s ({bs['ours_cpu_s']:.2f} s CPU); "
          f"refitting one by one would take "
          f"{bs['one_by_one_s_extrapolated']:.1f} s -> {bs['speedup']:.0f}x")
    print(f"(machine: {out['cpu_count']} CPUs, 1-min load average {out['load_avg_1min']:.1f})")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
