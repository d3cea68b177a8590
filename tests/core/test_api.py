"""The fitting API contract (docs/core.md): estimator, result object, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emergence_law import EmergenceFit, EmergenceLaw, simulate_observations
from emergence_law.errors import NotIdentifiableError, OptionError, SettingError


@pytest.fixture(scope="module")
def fit_none(sim):
    df, truth = sim
    return EmergenceLaw(posterior="none").fit(df, "simtask", min_loss=truth["emergence_point"])


def test_mle_close_to_truth_and_params(fit_none, sim):
    truth = sim[1]
    assert abs(fit_none.emergence_point_mle - truth["emergence_point"]) < 0.05
    p = fit_none.params
    for key in ("k", "alpha", "C", "A", "B", "Delta", "sigma"):
        assert key in p
    assert p["A"] == pytest.approx(truth["A"], rel=0.2)
    assert p["B"] == pytest.approx(truth["B"], abs=0.01)
    # the paper's parameters reproduce the anchored law
    D = np.array([30.0, 3000.0])
    paper = p["C"] + p["k"] * np.log(D) ** p["alpha"]
    assert np.allclose(paper, fit_none.emergence_point(D), atol=1e-9)
    assert fit_none.emergence_point(fit_none.d0) == pytest.approx(fit_none.emergence_point_mle)
    assert fit_none.d0 == 5


def test_predict_is_the_relu(fit_none):
    p = fit_none.params
    e0 = fit_none.emergence_point_mle
    assert fit_none.predict(e0 + 0.3) == pytest.approx(p["B"] + p["Delta"])
    assert fit_none.predict(e0 - 0.1) == pytest.approx(p["B"] + p["Delta"] + 0.1 * p["A"])
    e300 = fit_none.emergence_point(300)
    assert fit_none.predict(e300 - 0.2, n_train=300) == pytest.approx(p["B"] + 0.2 * p["A"])


def test_no_posterior_fields(fit_none):
    assert fit_none.emergence_samples is None
    assert fit_none.percentiles is None and fit_none.median is None
    d = fit_none.to_dict()
    assert d["emergence_point"]["mle"] == fit_none.emergence_point_mle
    assert "-" in fit_none.summary()


def test_json_round_trip_with_samples(fit_none, tmp_path):
    fit = fit_none
    fit.emergence_samples = np.random.default_rng(0).normal(fit.emergence_point_mle, 0.02, 500)
    path = fit.save(tmp_path / "fit.json")
    d = json.loads(path.read_text())
    for key in ("task", "form", "d0", "emergence_point", "params", "diagnostics", "mode",
                "likelihood", "posterior"):
        assert key in d
    ep = d["emergence_point"]
    assert set(ep["percentiles"]) == {"5", "10", "25", "50", "75", "90", "95"}
    assert len(ep["samples"]) == 500 and isinstance(ep["median"], float)
    back = EmergenceFit.load(path)
    assert back.percentiles == fit.percentiles
    assert back.emergence_point(1000) == pytest.approx(fit.emergence_point(1000))
    assert np.allclose(back.predict([1.8, 2.0], 300), fit.predict([1.8, 2.0], 300))
    assert back.cdf(fit.median) == pytest.approx(0.5, abs=0.01)
    assert 0.0 <= back.cdf(1.0) <= back.cdf(3.0) == 1.0
    back.plot_fit(tmp_path / "a.png")
    back.plot(tmp_path / "both.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000
    assert (tmp_path / "both.png").stat().st_size > 20_000
    fit.emergence_samples = None


@pytest.mark.parametrize(("kw", "param"), [
    ({"form": "cubic"}, "form"), ({"posterior": "vi"}, "posterior"),
    ({"likelihood": "t"}, "likelihood"), ({"d0": -1}, "d0"), ({"n_samples": 1}, "n_samples"),
    ({"d0": float("inf")}, "d0"), ({"d0": float("nan")}, "d0"), ({"seed": -1}, "seed"),
    ({"seed": 2**32}, "seed"), ({"seed": 1.5}, "seed"), ({"d0": "5"}, "d0"),
    ({"bootstrap_unit": "row"}, "bootstrap_unit"), ({"n_walkers": 4}, "n_walkers"),
])
def test_bad_settings_name_the_parameter_at_fit(sim, kw, param):
    """scikit-learn's convention: the constructor stores, ``fit`` refuses (a ValueError naming
    the Python parameter, not a CLI flag), before it reads any data."""
    law = EmergenceLaw(**kw)  # no error here
    assert law.get_params()[param] is kw[param]
    with pytest.raises(SettingError, match=rf"^parameter {param}: ") as info:
        law.fit(sim[0], "simtask")
    assert isinstance(info.value, ValueError) and info.value.param == param
    with pytest.raises(ValueError, match=param):
        law.fit(pd.DataFrame(), "no such task")  # the settings are checked before the data


def test_other_forms_and_options_fit():
    df, truth = simulate_observations(seed=3)
    m = truth["emergence_point"]
    fits = {
        "power": EmergenceLaw(form="power", posterior="none").fit(df, "simtask", min_loss=m),
        "no_fewshot": EmergenceLaw(form="no_fewshot", posterior="none").fit(df, "simtask",
                                                                           min_loss=m),
        "binomial": EmergenceLaw(likelihood="binomial", posterior="none").fit(df, "simtask",
                                                                             min_loss=m),
        "per_level": EmergenceLaw(shared_ab=False, posterior="none").fit(df, "simtask",
                                                                        min_loss=m),
        "d0=10": EmergenceLaw(d0=10, posterior="none").fit(df, "simtask", min_loss=m),
    }
    for name, f in fits.items():
        assert abs(f.emergence_point_mle - m) < 0.1, name
    assert "Delta" not in fits["no_fewshot"].params
    assert "A_300" in fits["per_level"].params
    assert fits["d0=10"].d0 == 10
    # the true law is log-power: the power form cannot fit it better
    assert fits["power"].loglik <= EmergenceLaw(posterior="none").fit(
        df, "simtask", min_loss=m).loglik + 1.0


def test_metric_and_method_in_header_and_file(fit_none, tmp_path):
    """No silent defaults: what was fitted is said in the summary's first line and fit.json."""
    assert fit_none.metric == "acc" and fit_none.method == "full"
    first = fit_none.summary().splitlines()[0]
    assert "metric acc" in first and "finetuning method full" in first
    d = json.loads(fit_none.save(tmp_path / "fit.json").read_text())
    assert d["metric"] == "acc" and d["method"] == "full"
    assert "metric acc (the task's only metric)" in d["selection"]
    assert EmergenceFit.load(tmp_path / "fit.json").metric == "acc"
    assert set(fit_none.data["metric"]) == {"acc"}  # data_used.csv says it on every row


def test_every_row_at_one_loss_is_refused(sim):
    df = sim[0].assign(loss=2.0)
    with pytest.raises(NotIdentifiableError, match="1 distinct loss value"):
        EmergenceLaw(posterior="none").fit(df, "simtask")


def test_one_example_per_evaluation_is_power_limited_not_flat(sim):
    """n_eval = 1: no score can count as a rise; say so instead of 'never rises above chance'."""
    df = sim[0].assign(n_eval=1)
    with pytest.raises(NotIdentifiableError, match="power-limited.*n_eval") as info:
        EmergenceLaw(posterior="none").fit(df, "simtask")
    assert "never rises" not in str(info.value)


def test_binomial_likelihood_refuses_a_metric_that_is_no_proportion():
    """Found by the fuzz test: logprob_norm with --likelihood binomial ended in an SVD error."""
    from pathlib import Path

    lab = Path(__file__).resolve().parents[2] / "src/emergence_law/data/lab_observations.csv"
    with pytest.raises(OptionError, match="binomial needs proportions in .0, 1., but "
                                          "logprob_norm has -"):
        EmergenceLaw(likelihood="binomial", posterior="none").fit(
            lab, "mul-mc", metric="logprob_norm", method="full")
