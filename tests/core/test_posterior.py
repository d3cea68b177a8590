"""Posteriors: MCMC diagnostics, agreement with the bootstrap, a small calibration check.

The full calibration (100 tables, all bootstrap units) is benchmarks/calibration.py; here a
smaller set keeps CI fast but still fails if intervals are badly mis-sized.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emergence_law import EmergenceLaw
from emergence_law.fitting.bootstrap import bootstrap_posterior
from emergence_law.fitting.diagnostics import ConvergenceWarning
from emergence_law.fitting.mcmc import sample_posterior
from emergence_law.fitting.mle import fit_mle
from emergence_law.fitting.model import ProfileModel, prepare_data
from emergence_law.observations import select_task
from emergence_law.simulate import simulate_random_table


@pytest.fixture(scope="module")
def mcmc_fit(sim):
    df, truth = sim
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a poor chain fails the test
        return EmergenceLaw(posterior="mcmc", n_samples=2000, seed=4).fit(
            df, "simtask", min_loss=truth["emergence_point"])


def test_mcmc_converges_and_reports(mcmc_fit, sim):
    d = mcmc_fit.diagnostics
    assert d["rhat"] <= 1.01 and d["ess"] >= 1000
    assert 0.1 < d["acceptance"] < 0.7
    assert len(mcmc_fit.emergence_samples) == 2000
    p = mcmc_fit.percentiles
    vals = [p[k] for k in ("5", "10", "25", "50", "75", "90", "95")]
    assert vals == sorted(vals)
    assert p["5"] <= mcmc_fit.mode <= p["95"]
    assert abs(mcmc_fit.median - mcmc_fit.emergence_point_mle) < 0.02
    assert p["5"] < sim[1]["emergence_point"] < p["95"]
    assert mcmc_fit.posterior["method"] == "mcmc" and "priors" in mcmc_fit.posterior
    assert "mcmc" in mcmc_fit.summary() and "rhat" in mcmc_fit.summary()


def test_bootstrap_agrees_with_mcmc(mcmc_fit, sim):
    df, truth = sim
    fit = EmergenceLaw(posterior="bootstrap", n_samples=500, seed=1).fit(
        df, "simtask", min_loss=truth["emergence_point"])
    assert abs(fit.median - mcmc_fit.median) < 0.01
    w_b = fit.percentiles["95"] - fit.percentiles["5"]
    w_m = mcmc_fit.percentiles["95"] - mcmc_fit.percentiles["5"]
    assert 0.5 < w_b / w_m < 2.0


def test_short_chain_warns():
    df, truth = simulate_random_table(7)
    with pytest.warns(ConvergenceWarning):
        fit = EmergenceLaw(posterior="mcmc", n_samples=10, seed=0).fit(
            df, "simtask", min_loss=truth["emergence_point"])
    assert any("R-hat" in w or "effective" in w for w in fit.warnings)


@pytest.mark.parametrize("unit", ["parametric", "checkpoint", "residual"])
def test_bootstrap_units_run_and_vary(unit):
    df, truth = simulate_random_table(11)
    data = prepare_data(select_task(df, "simtask").rows, form="log_power",
                        likelihood="gaussian", min_loss=truth["emergence_point"])
    model = ProfileModel(data, form="log_power", d0=5)
    mle = fit_mle(model)
    res = bootstrap_posterior(model, mle.theta, mle.beta, n_samples=300, unit=unit, seed=2)
    e = res.theta[:, 0]
    assert e.shape == (300,) and 0.003 < e.std() < 0.1
    assert abs(np.median(e) - mle.theta[0]) < 0.03


def test_small_calibration_set():
    """12 tables: the 90% intervals (MCMC, parametric bootstrap) must cover the truth on
    9-12 of them (a correct 90% interval does so with probability 0.97)."""
    hits = {"mcmc": 0, "bootstrap": 0}
    for seed in range(500, 512):
        df, truth = simulate_random_table(seed)
        data = prepare_data(select_task(df, "simtask").rows, form="log_power",
                            likelihood="gaussian", min_loss=truth["emergence_point"])
        model = ProfileModel(data, form="log_power", d0=5)
        mle = fit_mle(model)
        e = truth["emergence_point"]
        m = sample_posterior(model, mle.theta, n_samples=300, burn=150, min_steps=250,
                             seed=seed).theta[:, 0]
        b = bootstrap_posterior(model, mle.theta, mle.beta, n_samples=200, seed=seed).theta[:, 0]
        for name, s in (("mcmc", m), ("bootstrap", b)):
            lo, hi = np.percentile(s, [5, 95])
            hits[name] += bool(lo <= e <= hi)
    assert 9 <= hits["mcmc"] <= 12, hits
    assert 9 <= hits["bootstrap"] <= 12, hits
