"""The scaled-beta distribution of pass rates (Schaeffer et al. 2025) and pass@k."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from emergence_law.cli import main
from emergence_law.errors import NotIdentifiableError
from emergence_law.passuntil.distribution import fit_beta, log_marginal
from emergence_law.passuntil.law import TaskScalingLaw
from emergence_law.passuntil.passk import passk_unbiased, task_passk
from emergence_law.passuntil.simulate import simulate_family


@pytest.fixture(autouse=True)
def _quiet_quadrature():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        yield


def quad_log_marginal(a, b, c, r, f):
    """The reference: scipy's adaptive quadrature in u, scaled by the integrand's maximum."""
    def logg(u):
        return r * np.log(c * u) + f * np.log1p(-c * u) + stats.beta.logpdf(u, a, b)

    grid = np.geomspace(1e-300, 1 - 1e-12, 20_000)
    top = np.max(logg(grid))
    pts = np.concatenate([[0], np.geomspace(1e-300, 1, 300)])
    total = sum(integrate.quad(lambda u: np.exp(logg(u) - top), pts[i], pts[i + 1], epsabs=0,
                               epsrel=1e-11, limit=200)[0] for i in range(300))
    return top + np.log(total)


@pytest.mark.parametrize(("a", "b", "c", "r", "f"), [
    (0.3, 3, 0.5, 2, 100), (0.1, 5, 0.9, 0, 10_000), (2, 2, 0.7, 500, 400),
    (0.5, 10, 0.99, 3, 99_997), (0.05, 0.5, 0.95, 0, 100_000), (0.3, 2, 1.0, 30, 9970),
    (0.147, 0.392, 0.947, 767, 1233), (0.5, 0.3, 0.8, 5000, 0), (0.2, 1, 0.3, 0, 1_000_000),
])
def test_beta_binomial_integral_matches_adaptive_quadrature(a, b, c, r, f):
    got = log_marginal(a, b, c, np.array([r]), np.array([f]))[0]
    assert got == pytest.approx(quad_log_marginal(a, b, c, r, f), abs=5e-5)


@pytest.mark.parametrize("scaled", [False, True])
def test_fit_recovers_the_distribution_and_pass_at_k(scaled):
    rng = np.random.default_rng(3)
    a, b, c = 0.3, 3.0, (0.6 if scaled else 1.0)
    p = c * rng.beta(a, b, 300)
    k = np.full(300, 2000)
    fit = fit_beta(k, rng.binomial(k, p), scaled=scaled)
    assert fit.a == pytest.approx(a, rel=0.25)
    assert fit.mean == pytest.approx(c * a / (a + b), rel=0.15)
    ks = np.array([1, 10, 100, 10_000])
    # pass@k of the true distribution, by quadrature
    true = [1 - integrate.quad(lambda u, kk=kk: (1 - c * u) ** kk * stats.beta.pdf(u, a, b),
                               0, 1, limit=400)[0] for kk in ks]
    assert fit.pass_at_k(ks) == pytest.approx(true, rel=0.12)


def test_fit_refuses_all_zero_counts():
    with pytest.raises(NotIdentifiableError, match="no instance passed"):
        fit_beta([100, 100], [0, 0])


def truncated_design(p: float, r: int, budget: int):
    """Every outcome of sample-until-r with a budget, with its probability."""
    ks = np.arange(r, budget + 1)
    prob = np.concatenate([stats.nbinom.pmf(ks - r, r, p), stats.binom.pmf(np.arange(r), budget, p)])
    trials = np.concatenate([ks, np.full(r, budget)])
    passes = np.concatenate([np.full(len(ks), r), np.arange(r)])
    cens = np.concatenate([np.zeros(len(ks), bool), np.ones(r, bool)])
    return trials, passes, cens, prob


@pytest.mark.parametrize(("p", "r", "budget"), [(0.01, 2, 300), (0.003, 1, 2000), (0.05, 3, 80)])
def test_passk_is_exactly_unbiased_under_sample_until_r(p, r, budget):
    trials, passes, cens, prob = truncated_design(p, r, budget)
    assert prob.sum() == pytest.approx(1, abs=1e-12)
    for k in (1, 7, 50, budget):
        e = passk_unbiased(trials, passes, cens, k)
        assert np.sum(prob * e) == pytest.approx(1 - (1 - p) ** k, rel=1e-9)


def test_passk_fixed_budget_is_chen_et_al():
    n, c = 50, np.arange(0, 51)
    p = 0.07
    prob = stats.binom.pmf(c, n, p)
    for k in (1, 5, 50):
        e = passk_unbiased(np.full(51, n), c, True, k)
        assert np.sum(prob * e) == pytest.approx(1 - (1 - p) ** k, rel=1e-9)
        # Chen et al.'s product form
        chen = np.array([1.0 if n - ci < k else 1 - np.prod(1 - k / np.arange(n - ci + 1, n + 1))
                         for ci in c])
        assert e == pytest.approx(chen, abs=1e-9)
    assert np.isnan(passk_unbiased([50], [3], [True], 51)[0])  # beyond the samples
    mean, lo, hi = task_passk([50, 50, 50], [0, 3, 10], True, 10)
    assert lo <= mean <= hi


def test_passk_cli_unbiased_within_and_distribution_beyond(tmp_path, capsys):
    fam = simulate_family(n_instances=30, params=(1e8, 4e8), design="fixed", budget=500,
                          mean_eta_small=1.5, seed=3)
    f = tmp_path / "c.csv"
    fam.counts.to_csv(f, index=False)
    rc = main(["passuntil", "passk", str(f), "--k", "1,10,100,1000", "--no-scaled",
               "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "sampling design: fixed budget" in out
    assert re.search(r"pass@1000 +unbiased beyond the samples", out)
    res = pd.read_csv(tmp_path / "o" / "passk.csv")
    assert list(res.columns[:8]) == ["model", "params", "k", "unbiased", "lower", "upper",
                                     "distribution", "n_instances"]
    assert res["distribution"].notna().all()
    within = res[res["k"] <= 100]
    assert np.all(np.abs(within["distribution"] - within["unbiased"]) < 0.1)
    rc = main(["passuntil", "passk", str(f), "--k", "1,x", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "option --k" in err and len(err.splitlines()) == 1


def test_distribution_level_predicts_a_distribution():
    fam = simulate_family(n_instances=60, params=(1e8, 2e8, 4e8, 8e8), mean_eta_small=1.8,
                          design="fixed", budget=3000, seed=5)
    law = TaskScalingLaw(level="distribution", n_draws=200).fit(fam.counts)
    pred = law.predict(3.2e9)
    assert pred.predicted_pass_rate == pytest.approx(fam.true_pass_rate(3.2e9), rel=0.5)
    dist = law.distribution_at(3.2e9)
    assert dist.mean == pytest.approx(pred.predicted_pass_rate, rel=1e-6)
    pk = dist.pass_at_k([1, 10, 100])
    assert np.all(np.diff(pk) > 0) and pk[0] == pytest.approx(dist.mean, rel=1e-6)
    assert len(law.to_dict()["distributions"]) == 4


def test_passk_cli_says_when_the_distribution_is_not_identified(tmp_path, capsys):
    """Found by the fuzz test: a model whose instances never passed printed 'distribution nan'."""
    fam = simulate_family(n_instances=20, params=(1e8, 4e8), design="fixed", budget=200,
                          mean_eta_small=1.5, seed=3)
    counts = fam.counts.copy()
    small = counts["params"] == counts["params"].min()
    counts.loc[small, "passes"] = 0
    f = tmp_path / "c.csv"
    counts.to_csv(f, index=False)
    rc = main(["passuntil", "passk", str(f), "--k", "1,10", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "nan" not in out.lower()
    assert out.count("distribution not identified") == 2
