"""Adaptive allocation of samples (Kazdan et al. 2025) vs fixed-r PassUntil."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.errors import OptionError
from emergence_law.passuntil.allocation import (
    next_instance,
    neyman_allocation,
    run_adaptive,
    shrunk_rates,
    task_mean_estimate,
)
from emergence_law.passuntil.sample import Instance, adaptive_sample
from emergence_law.passuntil.simulate import simulate_passuntil
from emergence_law.store import ResultStore


def test_neyman_allocation_follows_the_standard_deviation():
    p = np.array([1e-4, 1e-2, 0.25])
    n = neyman_allocation(p, 1000)
    assert n.sum() == pytest.approx(1000)
    assert n / n.sum() == pytest.approx(np.sqrt(p * (1 - p)) / np.sqrt(p * (1 - p)).sum())


def test_next_batch_goes_where_it_cuts_the_variance_most_and_nobody_starves():
    trials = np.array([1000, 1000, 20_000])
    passes = np.array([50, 1, 0])
    assert next_instance(trials, passes, 64) == 0  # the likeliest passes dominate the variance
    p = shrunk_rates(trials, passes)
    assert p[2] > 1e-5  # a zero-pass instance keeps a plausible rate (prior worth one pass)
    assert next_instance(trials, passes, 64, cap=np.array([1000, 1000, 10**6])) == 2


def fixed_r_cost(p: np.ndarray, rng: np.random.Generator, reps: int = 100) -> float:
    """Samples fixed-r PassUntil needs to be within 10% of the task mean in 95% of runs."""
    for r in (3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
        k, x, _ = (np.stack(v) for v in zip(*[simulate_passuntil(p, r, 10**12, rng)
                                                for _ in range(reps)], strict=True))
        est = ((x - 1) / (k - 1)).mean(axis=1)
        if np.mean(np.abs(est / p.mean() - 1) <= 0.1) >= 0.95:
            return float(np.sum(r / p))
    raise AssertionError("fixed r never reached the target")


def test_adaptive_reaches_ten_percent_with_under_a_third_of_fixed_r_samples():
    """Small version of benchmarks/bench_passuntil_adaptive.py (p log-uniform 1e-5..1e-2)."""
    rng = np.random.default_rng(0)
    p = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), 40))
    fixed = fixed_r_cost(p, rng)
    totals, errs = [], []
    for _ in range(40):
        res = run_adaptive(lambda i, n: rng.binomial(n, p[i]), len(p), rel_error=0.1,
                           budget=10**9, batch=32)
        assert res.stopped == "precision"
        totals.append(res.total)
        errs.append(task_mean_estimate(res.trials, res.passes) / p.mean() - 1)
    errs = np.array(errs)
    assert np.mean(totals) <= fixed / 3
    assert np.mean(np.abs(errs) <= 0.1) >= 0.85  # 95% nominal; P(< 0.85 | 0.95) < 1%
    assert abs(errs.mean()) < 3 * errs.std() / np.sqrt(len(errs)) + 0.01


def test_budget_and_options():
    rng = np.random.default_rng(1)
    res = run_adaptive(lambda i, n: rng.binomial(n, 1e-6), 5, rel_error=0.1, budget=500)
    assert res.stopped == "budget" and res.total == 2500 and (res.trials == 500).all()
    with pytest.raises(OptionError, match="parameter rel_error"):
        run_adaptive(lambda i, n: 0, 3, rel_error=0)


def test_adaptive_engine_counts_stream_to_the_store_and_resume(tmp_path):
    rng = np.random.default_rng(2)
    rates = {"a": 0.02, "b": 0.002, "c": 0.0}

    def gen(prompt: str, n: int) -> list[str]:
        return ["yes" if u < rates[prompt] else "no" for u in rng.random(n)]

    items = [Instance(k, k, checker=lambda s: s == "yes") for k in rates]
    with ResultStore(tmp_path / "pu.sqlite") as store:
        df, res = adaptive_sample(gen, items, rel_error=0.3, budget=20_000, batch_size=64,
                                  store=store, progress=False)
        assert (df["design"] == "fixed").all() and df["censored"].all()
        assert int(df["trials"].sum()) == res.total
        assert df.set_index("instance").loc["a", "trials"] > df.set_index("instance").loc[
            "c", "trials"]
        stored = store.get_records("passuntil-adaptive")
        assert {k: v["trials"] for k, v in stored.items()} == dict(zip(df["instance"],
                                                                       df["trials"], strict=True))
        # resume: a stricter target continues from the stored counts
        df2, _ = adaptive_sample(gen, items, rel_error=0.1, budget=20_000, batch_size=64,
                                 store=store, progress=False)
        assert (df2["trials"].to_numpy() >= df["trials"].to_numpy()).all()
