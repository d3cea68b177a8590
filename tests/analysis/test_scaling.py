"""Scaling laws: recover known parameters from simulated losses, invert loss -> size, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.errors import DataError, NotIdentifiableError, OptionError
from emergence_law.scaling import ScalingLaw, load_scaling_table

# Chinchilla's published fit (Hoffmann et al. 2022), used as the simulated truth
TRUE = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def _size_data(rng, noise=0.004, n=14):
    N = np.geomspace(5e7, 7e10, n)
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"]
    return N, L * np.exp(rng.normal(0, noise, n))


def test_size_law_recovers_known_parameters_over_many_datasets():
    """Across 8 noisy datasets the estimates centre on the truth (bias small vs spread)."""
    est = []
    for seed in range(8):
        N, y = _size_data(np.random.default_rng(seed))
        fit = ScalingLaw(n_bootstrap=0).fit(N, y)
        est.append([fit.params["E"], fit.params["alpha"]])
    est = np.array(est)
    assert abs(est[:, 0].mean() - TRUE["E"]) < 0.02
    assert abs(est[:, 1].mean() - TRUE["alpha"]) < 0.03
    # and the fit itself reproduces the curve to well under the noise level
    N, y = _size_data(np.random.default_rng(0))
    fit = ScalingLaw(n_bootstrap=0).fit(N, y)
    assert np.max(np.abs(np.log(fit.predict(N)) - np.log(y))) < 0.02


def test_huber_loss_resists_an_outlier():
    rng = np.random.default_rng(11)
    N, y = _size_data(rng, noise=0.002)
    y[5] *= 1.3  # one wildly wrong measurement
    fit = ScalingLaw(n_bootstrap=0).fit(N, y)
    assert abs(fit.params["E"] - TRUE["E"]) < 0.03
    assert abs(fit.params["alpha"] - TRUE["alpha"]) < 0.03


def test_chinchilla_law_recovers_parameters_and_inverts_at_a_ratio():
    rng = np.random.default_rng(2)
    Ns = np.repeat(np.geomspace(7e7, 1.6e10, 6), 4)
    D = Ns * np.tile([4, 10, 20, 50], 6)
    L = TRUE["E"] + TRUE["A"] / Ns ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    y = L * np.exp(rng.normal(0, 0.002, len(L)))
    fit = ScalingLaw("chinchilla", n_bootstrap=0).fit(Ns, y, D)
    assert abs(fit.params["E"] - TRUE["E"]) < 0.08
    assert abs(fit.params["alpha"] - TRUE["alpha"]) < 0.06
    assert abs(fit.params["beta"] - TRUE["beta"]) < 0.06
    # loss -> size at 20 tokens per parameter, then back
    n = fit.size_for_loss(2.1, tokens_per_param=20)
    assert fit.predict(n, 20 * n) == pytest.approx(2.1, rel=1e-6)
    assert np.isinf(fit.size_for_loss(fit.params["E"] - 0.01, tokens_per_param=20))
    with pytest.raises(OptionError, match="^parameter tokens_per_param: "):
        fit.size_for_loss(2.1)


def test_size_for_loss_inverts_predict_and_flags_the_irreducible_term():
    N, y = _size_data(np.random.default_rng(4))
    fit = ScalingLaw(n_bootstrap=0).fit(N, y)
    sizes = np.array([1e8, 3e9, 2e11])
    np.testing.assert_allclose(fit.size_for_loss(fit.predict(sizes)), sizes, rtol=1e-8)
    below = fit.size_for_loss([fit.params["E"] - 0.05, fit.params["E"]])
    assert np.isinf(below).all()


def test_bootstrap_interval_covers_the_truth_at_roughly_its_rate():
    """A small calibration check (the benchmark script runs the larger one): the 90% bootstrap
    interval of the size needed for loss 1.95 covers the true size in most of 8 datasets."""
    target = 1.95
    truth = (TRUE["A"] / (target - TRUE["E"])) ** (1 / TRUE["alpha"])
    hits = 0
    widths = []
    for seed in range(8):
        N, y = _size_data(np.random.default_rng(100 + seed), noise=0.01, n=10)
        fit = ScalingLaw(n_bootstrap=30, seed=seed).fit(N, y)
        draws = fit.size_for_loss(target, draws=fit.bootstrap)
        lo, hi = np.percentile(draws, [5, 95])
        hits += lo <= truth <= hi
        widths.append(np.log10(hi / lo))
    assert hits >= 6
    assert 0.0 < np.median(widths) < 1.0  # informative, not a vacuous interval


def test_too_few_sizes_and_bad_tables_are_user_errors(tmp_path):
    with pytest.raises(NotIdentifiableError, match="only 2 distinct sizes"):
        ScalingLaw().fit([1e9, 1e9, 2e9], [2.0, 2.01, 1.9])
    p = tmp_path / "s.csv"
    p.write_text("params,loss\n1e9,2.0\n-5,1.9\n")
    with pytest.raises(DataError, match=r"s.csv, row 2, column 'params'"):
        load_scaling_table(str(p))
    p.write_text("size,loss\n1e9,2.0\n")
    with pytest.raises(DataError, match="column 'params'"):
        load_scaling_table(str(p))


def test_an_observation_table_counts_each_checkpoint_once(tmp_path):
    """An observation table repeats a checkpoint's size, tokens and loss on every measured row;
    read as a scaling table it is one point per checkpoint (before: 432 rows of the demo's
    table for 48 checkpoints, a bootstrap 9x too confident and 5x slower)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = np.geomspace(1e7, 1e9, 8)
    family = pd.DataFrame({"model": [f"m{i}" for i in range(8)], "checkpoint": "final",
                           "params": n, "loss": 1.7 + 400 * n ** -0.3 * rng.lognormal(0, 0.02, 8)})
    repeats = rng.integers(1, 10, len(family))
    obs = family.loc[family.index.repeat(repeats)].assign(task="t", value=0.25)
    path = tmp_path / "obs.csv"
    obs.to_csv(path, index=False)
    table = load_scaling_table(str(path))
    assert len(table) == 8
    a = ScalingLaw("size", n_bootstrap=20, seed=1).fit_table(table)
    b = ScalingLaw("size", n_bootstrap=20, seed=1).fit_table(family[["params", "loss"]])
    assert a.params == b.params and np.array_equal(a.bootstrap, b.bootstrap)
    obs.iloc[3, obs.columns.get_loc("loss")] += 0.1
    obs.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"row 4, column 'loss': checkpoint final of m\d has "
                                        r"another loss"):
        load_scaling_table(str(path))
