"""Loss -> parameter count (Fig. 10/15): both fits' uncertainty propagated, unreachable losses."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis.to_params import loss_to_params
from emergence_law.cli import main
from emergence_law.fitting import EmergenceLaw

E, A, ALPHA = 1.6, 80.0, 0.25  # a LLaMA-2-like family law, N in parameters


def _family(path, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    N = np.array([1.4e9, 3e9, 7e9, 13e9, 34e9, 70e9])
    loss = (E + A / N ** ALPHA) * np.exp(rng.normal(0, noise, N.size))
    pd.DataFrame({"model": [f"m{i}" for i in range(N.size)], "params": N, "loss": loss}).to_csv(
        path, index=False)
    return path


def _true_size(loss):
    return (A / (loss - E)) ** (1 / ALPHA)


def test_posterior_over_size_brackets_the_truth_and_widens_with_both_uncertainties(tmp_path):
    scal = _family(tmp_path / "family.csv")
    rng = np.random.default_rng(1)
    target = 1.72  # 0.035 nats below the largest model: an extrapolation, like APPS in the paper
    tight = {"task": "t", "emergence_point": {"mle": target, "samples": [target] * 400}}
    wide = {"task": "t", "emergence_point": {"mle": target,
                                             "samples": list(rng.normal(target, 0.02, 400))}}
    p_tight = loss_to_params(tight, scal, n_bootstrap=60)
    p_wide = loss_to_params(wide, scal, n_bootstrap=60)
    truth = _true_size(target)
    for p in (p_tight, p_wide):
        lo, hi = np.percentile(p.params_draws, [5, 95])
        assert lo < truth < hi
        assert p.params_mle == pytest.approx(truth, rel=0.5)
    w = lambda p: np.diff(np.log10(np.percentile(p.params_draws, [5, 95])))[0]  # noqa: E731
    assert w(p_wide) > w(p_tight) > 0  # emergence uncertainty adds to the scaling law's
    d = p_wide.to_dict()
    assert d["flops"]["mle"] == pytest.approx(6 * 20 * p_wide.params_mle ** 2)
    assert "extrapolation" in " ".join(d["notes"])


def test_a_loss_below_the_irreducible_term_is_said_plainly(tmp_path):
    scal = _family(tmp_path / "family.csv")
    fit = {"task": "t", "emergence_point": {"mle": 1.5, "samples": [1.5, 1.52, 1.55]}}
    p = loss_to_params(fit, scal, n_bootstrap=30)
    d = p.to_dict()
    assert d["params"]["mle"] is None and d["params"]["fraction_unreachable"] == 1.0
    assert d["params"]["percentiles"]["50"] is None
    assert "no finite model size reaches it" in d["message"]


def test_to_params_cli_reads_a_real_fit_json(small_sim, tmp_path):
    obs, _ = small_sim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = EmergenceLaw(posterior="bootstrap", n_samples=40).fit(obs, "simtask")
    fit_path = fit.save(tmp_path / "fit.json")
    # a family whose losses straddle this task's emergence point
    rng = np.random.default_rng(3)
    N = np.geomspace(1e8, 3e10, 7)
    loss = (1.5 + 30 / N ** 0.2) * np.exp(rng.normal(0, 0.002, N.size))
    scal = tmp_path / "family.csv"
    pd.DataFrame({"params": N, "loss": loss}).to_csv(scal, index=False)
    out = tmp_path / "tp"
    rc = main(["to-params", str(fit_path), "--scaling", str(scal), "--tokens-per-param", "30",
               "--bootstrap", "40", "--out", str(out)])
    assert rc == 0
    d = json.loads((out / "to_params.json").read_text())
    assert d["emergence_loss"]["n_draws"] == 40
    assert d["tokens_per_param"] == 30 and d["scaling_law"]["form"] == "size"
    assert d["params"]["percentiles"]["5"] < d["params"]["percentiles"]["95"]
    assert (out / "to_params.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "run_to_params.json").exists()


def test_to_params_bad_inputs_are_one_line(tmp_path, capsys):
    scal = _family(tmp_path / "family.csv")
    bad = tmp_path / "bad.json"
    bad.write_text('{"task": "t"}')
    rc = main(["to-params", str(bad), "--scaling", str(scal), "--out", str(tmp_path)])
    assert rc == 2 and "no emergence_point.mle" in capsys.readouterr().err
    good = tmp_path / "fit.json"
    good.write_text(json.dumps({"emergence_point": {"mle": 1.7}}))
    rc = main(["to-params", str(good), "--scaling", str(scal), "--tokens-per-param", "0",
               "--out", str(tmp_path)])
    assert rc == 2 and "option --tokens-per-param" in capsys.readouterr().err
    (tmp_path / "s.csv").write_text("params,loss\n1e9,abc\n")
    rc = main(["to-params", str(good), "--scaling", str(tmp_path / "s.csv"), "--out",
               str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "row 1, column 'loss'" in err and "Traceback" not in err
