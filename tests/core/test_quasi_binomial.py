"""The quasi-binomial likelihood: binomial variances times one fitted dispersion phi.

Real accuracies scatter more than binomially (subset seeds, checkpoints), and then the binomial
likelihood's intervals are far too narrow. Checked statistically: over simulated over-dispersed
tables (beta-binomial, which the quasi-binomial describes exactly, and the simulator's Gaussian
subset noise, which it does not) its 90% interval covers the true E(D0) near the nominal rate
where the binomial's under-covers; on exactly binomial tables it stays nominal with phi near 1;
the Pearson phi recovers the simulated dispersion. Then on real rows (the shipped lab table, the
Pythia evaluations when present) and through the CLI.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from emergence_law import EmergenceLaw
from emergence_law.fitting.mcmc import laplace_cov, sample_posterior
from emergence_law.fitting.mle import fit_mle
from emergence_law.fitting.model import ProfileModel, binomial_weights, prepare_data
from emergence_law.observations import select_task
from emergence_law.simulate import Evaluation, simulate_observations

PYTHIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pythia-evals"


@dataclass(frozen=True)
class BetaBinomial(Evaluation):
    """Every measured accuracy beta-binomial with dispersion ``phi``: the row's true rate is
    drawn from a beta around the mean (a run's own luck), then ``n_eval`` items are scored;
    variance ``phi p(1-p)/n``, exactly the quasi-binomial's."""

    phi: float = 6.0

    def measure(self, mean, rng):
        p = np.clip(mean, 1e-4, 0.995)
        s = (self.n_eval - 1.0) / (self.phi - 1.0) - 1.0  # intra-class rho = (phi-1)/(n-1)
        return rng.binomial(self.n_eval, rng.beta(p * s, (1.0 - p) * s)) / self.n_eval


def _table(kind: str, seed: int, phi: float = 6.0):
    """A pre-emergence table (14 checkpoints): ``betabin`` (phi), ``subset`` (Gaussian subset
    noise 0.016 on finetuned rows: phi about 4-5 there, 1 on few-shot rows; not the quasi-
    binomial's variance function) or ``exact`` (binomial only)."""
    if kind == "betabin":
        if phi == 1.0:
            return simulate_observations(seed=seed, n_checkpoints=14, subset_sd=0.0)
        return simulate_observations(seed=seed, n_checkpoints=14,
                                     evaluation=BetaBinomial(subset_sd=0.0, phi=phi))
    sd = {"subset": 0.016, "exact": 0.0}[kind]
    return simulate_observations(seed=seed, n_checkpoints=14, subset_sd=sd)


def _models(df, truth) -> dict[str, ProfileModel]:
    rows = select_task(df, "simtask").rows
    out = {}
    for lik in ("binomial", "quasi-binomial"):
        data = prepare_data(rows, form="log_power", likelihood=lik,
                            min_loss=truth["emergence_point"])
        out[lik] = ProfileModel(data, form="log_power", d0=truth["d0"], likelihood=lik)
    return out


def _coverage(tables) -> dict:
    """MCMC 90% intervals of E(D0), binomial and quasi-binomial, over ``tables``; the MLE is
    shared (both minimise the same weighted RSS)."""
    hits = {"binomial": 0, "quasi-binomial": 0}
    widths = {"binomial": [], "quasi-binomial": []}
    phis = []
    for seed, (df, truth) in tables:
        models = _models(df, truth)
        mle = fit_mle(models["binomial"])
        phis.append(models["quasi-binomial"].dispersion(mle.rss))
        e = truth["emergence_point"]
        for lik, m in models.items():
            s = sample_posterior(m, mle.theta, n_samples=200, burn=100, min_steps=200,
                                 seed=seed).theta[:, 0]
            lo, hi = np.percentile(s, [5, 95])
            hits[lik] += bool(lo <= e <= hi)
            widths[lik].append(hi - lo)
    return {"hits": hits, "n": len(tables), "phi": np.array(phis),
            "width_ratio": np.array(widths["quasi-binomial"]) / np.array(widths["binomial"])}


@pytest.fixture(scope="module")
def overdispersed():
    """12 beta-binomial (phi = 6) and 6 subset-noise tables."""
    tables = [(s, _table("betabin", s)) for s in range(1000, 1012)]
    tables += [(s, _table("subset", s)) for s in range(1000, 1006)]
    return _coverage(tables)


def test_quasi_binomial_covers_where_binomial_does_not(overdispersed):
    """Measured over 40 tables per family (docs/core.md): beta-binomial phi 6, binomial 18/40,
    quasi-binomial 32/40 (gaussian 32/40); subset noise, binomial 25/40, quasi 35/40. Here 18
    tables (measured: binomial 10/18, quasi 16/18); the bounds leave 3 tables of margin."""
    hits, n = overdispersed["hits"], overdispersed["n"]
    assert n == 18
    assert hits["quasi-binomial"] >= 13, hits
    assert hits["binomial"] <= 12 and hits["quasi-binomial"] - hits["binomial"] >= 4, hits
    # the intervals are wider by about sqrt(phi) (more where the posterior is skewed)
    ratio = overdispersed["width_ratio"] / np.sqrt(overdispersed["phi"])
    assert 0.8 < np.median(ratio) < 1.6, np.median(ratio)


def test_dispersion_recovers_the_simulated_overdispersion(overdispersed):
    """The Pearson phi of the fit against the beta-binomial's phi (MLE only, cheap): within 25%
    in the median at phi = 1, 3, 10, and 6 on the coverage tables."""
    phi6 = overdispersed["phi"][:12]
    assert 4.5 < np.median(phi6) < 7.5 and phi6.min() > 3.0, phi6
    for phi in (1.0, 3.0, 10.0):
        est = []
        for seed in range(2000, 2006):
            df, truth = _table("betabin", seed, phi=phi)
            m = _models(df, truth)["quasi-binomial"]
            est.append(m.dispersion(fit_mle(m).rss))
        assert 0.75 * phi < np.median(est) < 1.25 * phi, (phi, est)
    # subset noise: phi about 4-5 on the finetuned rows, 1 on the few-shot ones
    assert 2.5 < np.median(overdispersed["phi"][12:]) < 7.0


def test_exactly_binomial_tables_stay_nominal():
    """A table that IS binomial: quasi-binomial's phi near 1 and intervals as the binomial's
    (measured over 40 tables: phi median 0.99 in [0.65, 1.32], coverage 37/40, binomial 35/40;
    here 8 tables, measured 6/8 and 5/8: a nominal interval covers >= 5 of 8 with p = 0.995)."""
    res = _coverage([(s, _table("exact", s)) for s in range(1100, 1108)])
    assert res["hits"]["quasi-binomial"] >= 5, res["hits"]
    assert 0.8 < np.median(res["phi"]) < 1.2 and res["phi"].min() > 0.5, res["phi"]
    assert res["phi"].max() < 1.6, res["phi"]
    assert 0.8 < np.median(res["width_ratio"]) < 1.25, res["width_ratio"]


def test_likelihood_formulas():
    """The quasi-binomial is a Gaussian on the weighted residuals with the variance factor
    profiled out; binomial and quasi share the MLE (same weighted RSS); the fit reports phi."""
    df, truth = _table("betabin", 7)
    models = _models(df, truth)
    q = models["quasi-binomial"]
    mle = fit_mle(q)
    n, w, rss = q.data.n, q.data.weight, mle.rss
    phi_ml = rss / n
    r = q.residuals(mle.theta)
    direct = float(np.sum(-0.5 * np.log(2 * np.pi * phi_ml / w) - 0.5 * r**2 / phi_ml))
    assert mle.loglik == pytest.approx(direct, rel=1e-10)
    assert np.allclose(fit_mle(models["binomial"]).theta, mle.theta, atol=1e-6)
    # MCMC kernel: -(n - p)/2 log RSS, so at the MLE its curvature is the binomial's / (RSS/(n-p))
    cb = laplace_cov(models["binomial"], mle.theta)
    cq = laplace_cov(q, mle.theta)
    expect = rss / (n - q.n_linear)
    assert np.allclose(np.diag(cq) / np.diag(cb), expect, rtol=0.05), (np.diag(cq) / np.diag(cb),
                                                                        expect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {lik: EmergenceLaw(likelihood=lik, posterior="none").fit(
            df, "simtask", min_loss=truth["emergence_point"])
            for lik in ("gaussian", "binomial", "quasi-binomial")}
    assert fits["gaussian"].dispersion is None
    assert fits["binomial"].dispersion == fits["quasi-binomial"].dispersion
    assert fits["quasi-binomial"].dispersion == pytest.approx(q.dispersion(rss))
    d = fits["quasi-binomial"].to_result().to_dict()
    assert d["likelihood"] == "quasi-binomial" and d["dispersion"] > 3
    assert list(d).index("dispersion") == list(d).index("loglik") + 1
    assert fits["quasi-binomial"].to_result().to_fit().dispersion == d["dispersion"]
    assert "dispersion" in fits["quasi-binomial"].summary()
    assert "dispersion" not in fits["gaussian"].summary()


def test_bootstrap_draws_have_the_quasi_binomial_variance():
    """The parametric bootstrap's draws: mean p, variance phi p(1-p)/n (binomial at phi = 1)."""
    from emergence_law.fitting.bootstrap import quasi_binomial_draws

    rng = np.random.default_rng(0)
    p, n = np.array([0.25, 0.5, 0.9]), np.array([500, 3000, 1000])
    for phi in (0.5, 1.0, 6.0):
        y = quasi_binomial_draws(p, n, phi, 20000, rng)
        assert np.allclose(y.mean(axis=0), p, atol=4 * np.sqrt(phi * p * (1 - p) / n / 20000))
        assert np.allclose(y.var(axis=0), phi * p * (1 - p) / n, rtol=0.05)


def test_bootstrap_posterior_widens_with_phi():
    """A quasi-binomial bootstrap on an over-dispersed table is about sqrt(phi) wider than the
    binomial one (measured over 40 tables: its 90% interval covered 35/40)."""
    df, truth = _table("betabin", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {lik: EmergenceLaw(likelihood=lik, posterior="bootstrap", n_samples=200,
                                  seed=1).fit(df, "simtask", min_loss=truth["emergence_point"])
                for lik in ("binomial", "quasi-binomial")}
    w = {k: np.subtract(*f.interval(0.9)[::-1]) for k, f in fits.items()}
    phi = fits["quasi-binomial"].dispersion
    assert 0.7 < w["quasi-binomial"] / w["binomial"] / np.sqrt(phi) < 1.6, (w, phi)


# ------------------------------------------------------------------------------ real rows


def test_real_lab_table_is_overdispersed():
    """The shipped lab table (real finetuning of the toy models, 500 items per score, two subset
    seeds): measured phi 4.64 (full finetuning); the binomial 90% interval 1.851-1.881, the
    quasi-binomial 1.830-1.912 (ground truth 1.877), 2.8x wider with sqrt(phi) = 2.15."""
    from emergence_law.lab import load_lab_observations

    obs = load_lab_observations()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {lik: EmergenceLaw(likelihood=lik, n_samples=400, seed=0).fit(
            obs, "mul-mc", metric="acc", method="full")
            for lik in ("binomial", "quasi-binomial")}
    b, q = fits["binomial"], fits["quasi-binomial"]
    assert b.dispersion == q.dispersion and q.dispersion > 2.0, q.dispersion
    assert np.allclose(b.theta, q.theta)
    lo, hi = q.interval(0.9)
    assert lo < b.emergence_point_mle < hi
    ratio = (hi - lo) / np.subtract(*b.interval(0.9)[::-1])
    assert 0.8 < ratio / np.sqrt(q.dispersion) < 2.0, (ratio, q.dispersion)


def test_real_pythia_accuracies_scatter_more_than_binomially():
    """Pythia zero-shot accuracies (8 sizes x 27 checkpoints; n_eval from lm-eval's stderr,
    ``p(1-p)/se^2 + 1``, whole and the test set's size) around the project's ground-truth curve
    against LAMBADA loss: measured phi 1.62 (sciq), 1.78 (arc_challenge), 1.65 (piqa), 0.92
    (winogrande, which barely leaves chance: why phi is not floored at 1)."""
    if not PYTHIA.is_dir():
        pytest.skip("shared Pythia data absent")
    from emergence_law.analysis.ground_truth import fit_elbow
    from emergence_law.analysis.pythia import pythia_observations

    tasks = {"sciq": 1000, "arc_challenge": 1172, "piqa": 1838}
    obs = pythia_observations(PYTHIA, tasks=list(tasks))
    obs = obs[obs["metric"] == "acc"]
    for task, size in tasks.items():
        rows = obs[obs["task"] == task]
        p, se = rows["value"].to_numpy(float), rows["stderr"].to_numpy(float)
        n_eval = p * (1 - p) / se**2 + 1
        assert np.allclose(n_eval, size, atol=1e-6), task
        loss = rows["loss"].to_numpy(float)
        gt = fit_elbow(loss, p, model="relu")
        w = binomial_weights(p, n_eval)
        phi = float(np.sum(w * (p - gt.curve(loss)) ** 2) / (len(p) - 3))
        assert 1.2 < phi < 4.0, (task, phi)


# ------------------------------------------------------------------------------ the CLI


def test_cli_fit_quasi_binomial(sim, sim_csv, tmp_path, capsys):
    from emergence_law.cli import main

    out = tmp_path / "out"
    rc = main(["fit", str(sim_csv), "--task", "simtask", "--likelihood", "quasi-binomial",
               "--posterior", "bootstrap", "--samples", "100", "--out", str(out),
               "--min-loss", str(sim[1]["emergence_point"])])
    assert rc == 0
    assert "likelihood quasi-binomial" in capsys.readouterr().out
    d = json.loads((out / "fit.json").read_text())
    assert d["likelihood"] == "quasi-binomial" and d["dispersion"] > 0
    assert len(d["emergence_point"]["samples"]) == 100
    # an unknown likelihood, and a table without n_eval: one line each, naming what is wrong
    assert main(["fit", str(sim_csv), "--task", "simtask", "--likelihood", "poisson",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--likelihood" in err and "quasi-binomial" in err and len(err.strip().splitlines()) == 1
    df = sim[0].copy()
    df["n_eval"] = df["n_eval"].astype(float)
    df.loc[3, "n_eval"] = np.nan
    bad = tmp_path / "no_n.csv"
    df.to_csv(bad, index=False)
    assert main(["fit", str(bad), "--task", "simtask", "--likelihood", "quasi-binomial",
                 "--posterior", "none", "--out", str(out)]) == 2
    err = capsys.readouterr().err  # the selection is reported first, then the one error line
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "error" in last
    assert "row 4" in last and "n_eval" in last and "quasi-binomial" in last
