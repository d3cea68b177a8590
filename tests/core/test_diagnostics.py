"""R-hat and ESS: our implementation against ArviZ and on chains with known behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.fitting.diagnostics import effective_sample_size, split_rhat


def _ar1(rng, n, m, phi):
    x = np.zeros((n, m))
    e = rng.normal(size=(n, m)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_rhat_matches_arviz():
    az = pytest.importorskip("arviz")
    rng = np.random.default_rng(0)
    for chains in (rng.normal(size=(500, 8)), _ar1(rng, 800, 6, 0.9),
                   rng.normal(size=(400, 4)) + np.array([0, 0, 0, 0.3])):
        ours = split_rhat(chains)
        theirs = float(az.rhat(chains.T, method="rank"))
        assert ours == pytest.approx(theirs, rel=1e-6)


def test_rhat_flags_unmixed_chains():
    rng = np.random.default_rng(1)
    good = rng.normal(size=(1000, 8))
    bad = good + np.repeat(np.array([0.0, 1.0]), 4)[None, :]
    assert split_rhat(good) < 1.01
    assert split_rhat(bad) > 1.1


def test_ess_of_iid_and_autocorrelated_chains():
    rng = np.random.default_rng(2)
    ess, tau = effective_sample_size(rng.normal(size=(2000, 8)))
    assert 0.8 * 16000 < ess <= 16000 * 1.05 and tau < 1.3
    phi = 0.8  # AR(1): integrated autocorrelation time (1 + phi) / (1 - phi) = 9
    ess, tau = effective_sample_size(_ar1(rng, 4000, 8, phi))
    assert tau == pytest.approx(9.0, rel=0.25)
