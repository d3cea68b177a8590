"""Sampling design of a counts table: sample-until-r vs fixed budget, and what changes."""

from __future__ import annotations

import numpy as np
import pytest

from emergence_law.cli import main
from emergence_law.errors import DataError
from emergence_law.passuntil.counts import FIXED, UNTIL_R, load_counts, sampling_design
from emergence_law.passuntil.estimate import estimate_instances, task_estimate


def write(tmp_path, text: str, name: str = "c.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_fixed_budget_table_is_read_as_binomial(tmp_path):
    """No r and no censored: trials samples were drawn whatever happened (e.g. 10,000 per
    problem); the estimate must be R/K, not the sample-until-r (R-1)/(K-1)."""
    f = write(tmp_path, "model,params,task,instance,trials,passes\n"
                        "m,1e8,t,a,10000,0\nm,1e8,t,b,10000,3\nm,1e8,t,c,10000,40\n")
    c = load_counts(f)
    assert (c["design"] == FIXED).all() and c["censored"].all()
    est = estimate_instances(c)["estimate"].to_numpy()
    assert est == pytest.approx([0.0, 3e-4, 4e-3])
    assert sampling_design(c) == "fixed budget (10000 samples per instance, binomial counts)"


def test_sample_until_r_table_is_recognised(tmp_path):
    f = write(tmp_path, "model,params,task,instance,trials,passes,r\n"
                        "m,1e8,t,a,500,2,2\nm,1e8,t,b,1000,1,2\n")
    c = load_counts(f)
    assert (c["design"] == UNTIL_R).all()
    assert c["censored"].tolist() == [False, True]
    est = estimate_instances(c)["estimate"].to_numpy()
    assert est == pytest.approx([1 / 499, 1 / 1000])
    assert sampling_design(c).startswith("sample-until-r (r = 2; 1 of 2 rows censored")
    # a censored column alone also marks the design
    f = write(tmp_path, "model,params,task,instance,trials,passes,censored\n"
                        "m,1e8,t,a,500,2,false\n")
    assert load_counts(f)["design"].iloc[0] == UNTIL_R


def test_design_column_overrides_and_bad_value_names_the_cell(tmp_path):
    f = write(tmp_path, "model,params,task,instance,trials,passes,r,design\n"
                        "m,1e8,t,a,500,2,2,fixed\nm,1e8,t,b,500,2,2,sample-until-r\n")
    c = load_counts(f)
    assert c["design"].tolist() == [FIXED, UNTIL_R]
    assert "mixed: 1 rows sample-until-r, 1 rows fixed budget" in sampling_design(c)
    f = write(tmp_path, "model,params,task,instance,trials,passes,design\nm,1e8,t,a,5,2,often\n")
    with pytest.raises(DataError, match=r"row 1, column 'design': unknown sampling design"):
        load_counts(f)


def test_fixed_budget_task_mean_is_unbiased():
    """Over many simulated fixed-budget tasks the mean of R/K hits the true mean; reading the
    same counts as sample-until-r ((R-1)/(K-1)) is biased low."""
    rng = np.random.default_rng(0)
    p = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 30))
    fixed, wrong = [], []
    for _ in range(300):
        x = rng.binomial(2000, p)
        fixed.append(task_estimate(np.full(30, 2000), x, True).mean)
        wrong.append(task_estimate(np.full(30, 2000), x, x == 0).mean)
    assert np.mean(fixed) / p.mean() == pytest.approx(1, abs=0.03)
    assert np.mean(wrong) / p.mean() < 0.9


def test_fit_says_which_design(tmp_path, capsys):
    from emergence_law.passuntil.simulate import simulate_family

    fam = simulate_family(n_instances=20, design="fixed", budget=500, mean_eta_small=1.5, seed=1)
    f = tmp_path / "fixed.csv"
    fam.counts.drop(columns=["design"]).to_csv(f, index=False)
    rc = main(["passuntil", "fit", str(f), "--target-params", "3.2e9", "--level", "dataset",
               "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "sampling design: fixed budget (500 samples per instance, binomial counts)" in out
