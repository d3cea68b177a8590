"""Curvature test and growth-model comparison on simulated straight, concave and convex laws."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.errors import NotIdentifiableError
from emergence_law.passuntil.curvature import compare_growth_models, curvature_test
from emergence_law.passuntil.estimate import point_estimate
from emergence_law.passuntil.simulate import simulate_passuntil

N = np.geomspace(1e8, 1.28e10, 8)
X = np.log(N) - np.log(N).mean()
SHAPES = {
    "linear": 2.0 - 0.5 * X,
    "concave": np.minimum(2.0 - 0.2 * X, 1.6 - 0.9 * X),  # multiple circuits: max of PUs
    "convex": np.logaddexp(1.6 - 0.9 * X, 1.3 - 0.1 * X),  # multi-step: product of PUs
}


def measured_points(F: np.ndarray, seed: int, n_instances: int = 150):
    """Task means of PassUntil (r = 3) estimates at each size, with their standard errors."""
    rng = np.random.default_rng(seed)
    rates, ses = [], []
    for p in np.exp(-np.exp(F)):
        k, x, c = simulate_passuntil(np.full(n_instances, p), 3, 10**6, rng)
        est = point_estimate(k, x, c, "unbiased")
        rates.append(est.mean())
        ses.append(est.std(ddof=1) / np.sqrt(n_instances))
    return np.array(rates), np.array(ses)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_curvature_and_model_choice_recover_the_shape(shape):
    verdicts, winners = [], []
    for seed in range(5):
        rates, ses = measured_points(SHAPES[shape], seed)
        cmp = compare_growth_models(N, rates, ses)
        verdicts.append(cmp.curvature.shape)
        winners.append(cmp.best)
    expected_model = {"linear": "linear", "concave": "multi_circuit", "convex": "multi_step"}
    assert verdicts.count(shape) >= 4, verdicts
    assert winners.count(expected_model[shape]) >= 4, winners


def test_multi_step_cannot_fit_acceleration():
    rates, ses = measured_points(SHAPES["concave"], seed=11)
    cmp = compare_growth_models(N, rates, ses)
    ll = {f.name: f.log_likelihood for f in cmp.fits}
    # a log-sum-exp of lines is convex: on concave data it is no better than one line
    assert ll["multi_step"] == pytest.approx(ll["linear"], abs=0.5)
    assert ll["multi_circuit"] > ll["linear"] + 20
    assert "accelerated" in cmp.summary()


def test_needs_three_sizes():
    with pytest.raises(NotIdentifiableError, match="at least 3"):
        curvature_test([1e8, 2e8], [0.01, 0.02], [0.001, 0.001])


def test_cli_curvature_on_a_counts_table(tmp_path, capsys):
    import json

    import pandas as pd

    from emergence_law.cli import main

    rng = np.random.default_rng(3)
    rows = []
    for n, F in zip(N, SHAPES["concave"], strict=True):
        k, x, c = simulate_passuntil(np.full(100, np.exp(-np.exp(F))), 3, 10**6, rng)
        rows += [{"model": f"m{n:.0f}", "params": n, "task": "t", "instance": f"i{i}",
                  "trials": k[i], "passes": x[i], "censored": c[i]} for i in range(100)]
    path = tmp_path / "counts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main(["passuntil", "curvature", str(path), "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "passuntil_curvature.json").read_text())
    assert data["best"] == "multi_circuit" and data["curvature"]["shape"] == "concave"
    assert "accelerated emergence" in capsys.readouterr().out
