"""Data-quality comparison (Fig. 8/9): P(A emerges at a higher loss) and its Monte Carlo error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from emergence_law.analysis.compare import prob_greater
from emergence_law.cli import main
from emergence_law.simulate import simulate_observations


def test_prob_greater_is_unbiased_and_its_mc_error_is_calibrated():
    """Two normal posteriors with a known P(A > B); over 300 repetitions the estimate centres on
    the truth and the reported Monte Carlo error matches the spread of the estimates."""
    truth = norm.cdf(-0.5 / np.sqrt(2))  # A ~ N(0, 1), B ~ N(0.5, 1)
    rng = np.random.default_rng(0)
    est, ses = [], []
    for _ in range(300):
        p, se = prob_greater(rng.normal(0, 1, 400), rng.normal(0.5, 1, 300))
        est.append(p)
        ses.append(se)
    est = np.array(est)
    assert abs(est.mean() - truth) < 3 * est.std() / np.sqrt(len(est))
    assert np.mean(ses) == pytest.approx(est.std(), rel=0.15)
    # autocorrelated draws: a smaller effective sample size widens the error accordingly
    a, b = rng.normal(0, 1, 400), rng.normal(0.5, 1, 300)
    _, se_iid = prob_greater(a, b)
    _, se_ess = prob_greater(a, b, ess_a=100, ess_b=75)
    assert se_ess == pytest.approx(2 * se_iid, rel=1e-6)
    # ties count one half; identical posteriors give exactly 0.5
    assert prob_greater(np.ones(10), np.ones(7))[0] == 0.5


def test_compare_cli_finds_the_series_that_emerges_first(tmp_path, capsys):
    """Series v2 truly emerges 0.08 nats earlier (at a higher loss); both series are fitted on
    their pre-emergence checkpoints only, as a real data-quality study would be."""
    a, ta = simulate_observations(seed=11, n_checkpoints=14, C=1.765, series="v1")
    b, tb = simulate_observations(seed=12, n_checkpoints=14, C=1.845, series="v2")
    assert tb["emergence_point"] - ta["emergence_point"] == pytest.approx(0.08)
    path = tmp_path / "two.csv"
    pd.concat([a, b], ignore_index=True).to_csv(path, index=False)
    out = tmp_path / "cmp"
    cut = tb["emergence_point"] + 0.02  # above both true elbows: no post-emergence rows
    rc = main(["compare", str(path), "--task", "simtask", "--series", "v2", "--series", "v1",
               "--min-loss", str(cut), "--posterior", "mcmc", "--samples", "300",
               "--out", str(out)])
    assert rc == 0
    d = json.loads((out / "compare.json").read_text())
    assert set(d["series"]) == {"v1", "v2"}
    for s in ("v1", "v2"):
        assert d["series"][s]["emergence_point"]["percentiles"]["95"] is not None
    assert d["p_a_higher"] > 0.9
    assert 0 <= d["p_a_higher_mc_error"] < 0.05
    assert d["difference_a_minus_b"]["mle"] > 0
    assert d["verdict"].startswith("v2 emerges first")
    # issue 13: the metric and finetuning method are in the file and the printed header
    assert d["metric"] == "acc" and d["ft_method"] == "full"
    assert "task simtask, metric acc, finetuning method full: P(v2" in capsys.readouterr().out
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "run_compare.json").exists()


def test_compare_needs_two_series_and_a_posterior(small_csv, tmp_path, capsys):
    rc = main(["compare", str(small_csv), "--task", "simtask", "--series", "sim",
               "--out", str(tmp_path)])
    assert rc == 2 and "give exactly two series" in capsys.readouterr().err
    rc = main(["compare", str(small_csv), "--task", "simtask", "--series", "sim", "--series",
               "other", "--posterior", "none", "--out", str(tmp_path)])
    assert rc == 2 and "'--posterior': 'none' is not one of 'mcmc', 'bootstrap'" in \
        capsys.readouterr().err
    rc = main(["compare", str(small_csv), "--task", "simtask", "--series", "sim", "--series",
               "other", "--posterior", "bootstrap", "--out", str(tmp_path)])
    assert rc == 2 and "series 'other' has no rows" in capsys.readouterr().err


def test_series_fitted_on_different_finetuning_methods_are_refused(capsys):
    """Comparing a LoRA-finetuned series with a fully finetuned one would confound the data
    with the method: one line naming --ft-method instead of a verdict."""
    from emergence_law.analysis.compare import compare_series
    from emergence_law.errors import DataError

    a, _ = simulate_observations(seed=11, n_checkpoints=10, series="v1")
    b, _ = simulate_observations(seed=12, n_checkpoints=10, series="v2")
    b["method"] = b["method"].where(b["setting"] != "finetune", "lora-r4")
    obs = pd.concat([a, b], ignore_index=True)
    with pytest.raises(DataError, match="finetuning method full and 'v2' on lora-r4; choose "
                       "one with --ft-method"):
        compare_series(obs, "simtask", "v1", "v2",
                       law={"posterior": "bootstrap", "n_samples": 20})
