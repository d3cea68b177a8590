"""The lab's answers from its tables: the backtest through the project's ``run_backtest``, the
continuous-metric view (paper Fig. 13), and accuracy answers that ignore other metrics' rows.

The shipped table also holds the measured ``logprob_norm`` (log p of the correct choice
normalised over the 4 choices, chance ln 1/4) and ``prob_norm``; to check recovery against a
known truth these tests take its accuracy rows and add simulated continuous rows with a known
elbow: flat at ln(1/4) above it, rising linearly below it, plus noise. The real continuous rows
(which dip below chance before they rise) are checked at the end.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis import backtest as bt_mod
from emergence_law.lab import continuous as C
from emergence_law.lab import load_lab_observations
from emergence_law.lab import results as R

SIM_ELBOW = 1.80
SIM_SLOPE = 0.8
FAST_LAW = {"posterior": "none"}  # MLE refits only: the tests compare numbers, not intervals
RECORD_KEYS = {"held_out", "most_capable_loss_used", "most_capable_flops_used", "mle",
               "error_nats", "success", "flops_in_advance"}


def with_continuous(obs: pd.DataFrame, elbow: float = SIM_ELBOW, seed: int = 0,
                    noise: float = 0.01) -> pd.DataFrame:
    """``obs`` plus simulated ``logprob_norm`` and ``prob_norm`` rows for every accuracy row
    (few-shot and finetuned), appended after the original rows."""
    rng = np.random.default_rng(seed)
    acc = obs[obs["metric"] == "acc"]
    lp = acc.copy()
    lp["metric"] = "logprob_norm"
    lp["value"] = (math.log(0.25) + SIM_SLOPE * np.maximum(elbow - acc["loss"].astype(float), 0)
                   + rng.normal(0, noise, len(acc)))
    lp["chance"] = np.nan
    lp["log_chance"] = math.log(0.25)
    pn = lp.assign(metric="prob_norm", value=np.exp(lp["value"]), chance=0.25,
                   log_chance=np.nan)
    return pd.concat([obs.assign(log_chance=np.nan), lp, pn], ignore_index=True)


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    """The shipped table's accuracy rows (the simulated continuous rows are added to these)."""
    shipped = load_lab_observations()
    acc = shipped[shipped["metric"] == "acc"].drop(columns=["log_chance"], errors="ignore")
    return acc.reset_index(drop=True)


@pytest.fixture(scope="module")
def ext(obs) -> pd.DataFrame:
    return with_continuous(obs)


@pytest.fixture(scope="module")
def gt(obs):
    return R.ground_truth(obs)


def _family_flops(obs, gt) -> float:
    return min(v for v in R.emergence_flops(obs, gt.elbow).values() if v is not None)


def test_simulated_table_is_a_valid_observation_table(ext):
    from emergence_law.observations import load_observations

    t = load_observations(ext)
    assert set(t["metric"]) == {"acc", "logprob_norm", "prob_norm"}
    assert (t.loc[t["metric"] == "logprob_norm", "value"] < 0).all()


def test_continuous_elbow_is_recovered(ext, gt):
    c = C.continuous_emergence(ext, gt)
    assert c["available"] and c["metric"] == "logprob_norm"
    assert c["elbow"] == pytest.approx(SIM_ELBOW, abs=0.03)
    assert c["interval"][0] <= c["elbow"] <= c["interval"][1]
    assert c["chance"] == pytest.approx(math.log(0.25))
    assert c["pre_elbow_mean"] == pytest.approx(math.log(0.25), abs=0.01)
    assert c["slope_per_nat"] == pytest.approx(SIM_SLOPE, rel=0.1)
    assert c["accuracy_elbow"] == gt.elbow
    assert c["difference_nats"] == pytest.approx(c["elbow"] - gt.elbow)
    assert c["same_loss"] is True and c["answer"].startswith("yes:")


def test_continuous_elbow_far_from_accuracy_says_so(obs, gt):
    c = C.continuous_emergence(with_continuous(obs, elbow=1.60), gt)
    assert c["elbow"] == pytest.approx(1.60, abs=0.03)
    assert c["same_loss"] is False and not c["intervals_overlap"]
    assert "not at the same loss" in c["answer"] and "lower loss" in c["answer"]


def test_flat_continuous_metric_is_no_emergence(obs, gt):
    flat = with_continuous(obs, elbow=0.5)  # below every checkpoint's loss: never rises
    c = C.continuous_emergence(flat, gt)
    assert c["elbow"] is None and c["answer"].startswith("no:")
    assert C.continuous_ground_truth(flat) is None


def test_accuracy_only_table_has_no_continuous_answer(obs, gt, tmp_path):
    from emergence_law.lab import plots

    c = C.continuous_emergence(obs, gt)
    assert c["available"] is False and "not measured" in c["answer"]
    assert C.continuous_ground_truth(obs) is None
    assert plots.plot_continuous_if_measured(obs, gt, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()


def test_accuracy_answers_ignore_the_other_metrics(obs, ext, gt):
    gt2 = R.ground_truth(ext)
    assert gt2.elbow == gt.elbow and gt2.interval == gt.interval
    assert R.fewshot_emergence(ext, gt2) == R.fewshot_emergence(obs, gt)
    assert R.finetune_shift(ext, gt2, {}) == R.finetune_shift(obs, gt, {})
    assert R.emergence_flops(ext, gt.elbow) == R.emergence_flops(obs, gt.elbow)
    pre = R.preemergence_rows(ext, 1.9)
    assert pre[obs.columns].equals(R.preemergence_rows(obs, 1.9))
    # one method keeps the test fast; the other runs the same code
    kw = dict(methods=("full",), n_samples=60, backtest_law=FAST_LAW, workers=1)
    p1, _ = R.prediction(obs, gt, **kw)
    p2, _ = R.prediction(ext, gt2, **kw)
    for method in ("full",):
        a, b = p1["methods"][method], p2["methods"][method]
        for key in ("mle", "error_nats", "interval_90", "percentiles", "flops_in_advance",
                    "most_capable_loss_used", "E_of_D", "params"):
            assert a[key] == b[key], (method, key)
        law_only = [{k: v for k, v in r.items() if k != "baseline"} for r in b["backtest"]]
        assert law_only == a["backtest"]
        # the extended table has a continuous metric: the baseline ran there, not here
        assert a["backtest_info"]["baseline"] is None and a["two_step_baseline"] is None
        assert b["backtest_info"]["baseline"] == "two_step"
        assert b["two_step_baseline"] == b["backtest"][0]["baseline"]
        assert b["two_step_baseline"]["status"] == "ok"


def test_backtest_goes_through_run_backtest(ext, gt, monkeypatch):
    calls = []
    real = bt_mod.run_backtest

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(bt_mod, "run_backtest", spy)
    fam = _family_flops(ext, gt)
    recs, info = R.backtest(ext, gt, "full", fam, law=FAST_LAW, workers=1)
    assert [c["method"] for c in calls] == ["both"]
    assert info["implementation"].endswith("run_backtest") and info["baseline"] == "two_step"
    assert info["run_backtest_ground_truth"] == pytest.approx(gt.elbow, abs=1e-9)

    # the same backtest called directly gives the same predictions, cut-off by cut-off
    table = ext[(ext["setting"] == "fewshot") | (ext["method"] == "full")]
    direct = real(table, "mul-mc", method="both", law={**bt_mod.DEFAULT_LAW, **FAST_LAW},
                  cutoff=info["cutoff"], order_by="loss", metric="acc", ft_method="full",
                  min_checkpoints=calls[0]["min_checkpoints"], workers=1, progress=False)
    d = direct.table
    law_rows = d[d["method"] == "emergence_law"].set_index("n_held_out")
    base_rows = d[d["method"] == "two_step"].set_index("n_held_out")
    assert len(recs) == len(law_rows) > 5
    n_ok = 0
    for r in recs:
        assert set(r) >= RECORD_KEYS
        row = law_rows.loc[r["held_out"]]
        assert r["most_capable_loss_used"] == pytest.approx(row["cutoff_loss"])
        if row["status"] == "ok":
            n_ok += 1
            assert r["mle"] == pytest.approx(row["prediction"], abs=1e-9)
            assert r["error_nats"] == pytest.approx(row["prediction"] - gt.elbow, abs=1e-9)
            assert r["success"] == (abs(r["error_nats"]) <= R.SUCCESS_NATS)
        else:
            assert r["mle"] is None and r["success"] is False and r["note"]
        b = base_rows.loc[r["held_out"]]
        if b["status"] == "ok":
            assert r["baseline"]["mle"] == pytest.approx(b["prediction"], abs=1e-9)
        used = ext[(ext["metric"] == "acc") & (ext["loss"] >= r["most_capable_loss_used"])]
        assert r["most_capable_flops_used"] == float(used.loc[used["loss"].idxmin(), "flops"])
        assert r["flops_in_advance"] == pytest.approx(fam / r["most_capable_flops_used"])
    assert n_ok >= 5
    # the last cut-off leaves exactly two finetuned checkpoints (the old backtest's range)
    n_ft = ext.loc[(ext["method"] == "full") & (ext["metric"] == "acc"), "loss"].nunique()
    assert recs[-1]["finetuned_held_out"] == n_ft - 2
    assert recs[0]["held_out"] == 0 and recs[0]["finetuned_held_out"] == 0


def test_backtest_without_continuous_metric_runs_the_law_alone(obs, gt):
    recs, info = R.backtest(obs, gt, "lora-r4", _family_flops(obs, gt), law=FAST_LAW,
                            workers=1)
    assert info["baseline"] is None
    assert "continuous few-shot metric" in info["baseline_note"]
    assert recs and all("baseline" not in r for r in recs)
    # with every pre-emergence checkpoint, the backtest's fit is the prediction's (MLE)
    cut = float(obs.loc[obs["method"] == "lora-r4", "loss"].min())
    data = R.preemergence_rows(obs, max(cut, gt.elbow + 1e-9))
    data = data[(data["setting"] == "fewshot") | (data["method"] == "lora-r4")]
    fit = R._fit(data, "lora-r4", posterior="none", n_samples=10, seed=0)
    assert recs[0]["mle"] == pytest.approx(fit.emergence_point_mle, abs=0.002)


def test_continuous_plot_is_written_and_not_blank(ext, gt, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    from emergence_law.lab import plots

    path = plots.plot_continuous(ext, gt, C.continuous_ground_truth(ext),
                                 tmp_path / "continuous.png")
    assert path.stat().st_size > 20_000
    img = mpimg.imread(path)[..., :3]
    assert img.std() > 0.05  # not a blank canvas
    # coloured pixels (the data lines) in both halves of the figure
    coloured = img.max(axis=2) - img.min(axis=2) > 0.3
    half = img.shape[1] // 2
    assert coloured[:, :half].sum() > 500 and coloured[:, half:].sum() > 500

    written = plots.write_all(ext, pd.DataFrame(), gt, {}, None, {}, tmp_path / "all")
    assert tmp_path / "all" / "continuous_emergence.png" in written
    only_acc = plots.write_all(ext[ext["metric"] == "acc"], pd.DataFrame(), gt, {}, None, {},
                               tmp_path / "acc")
    assert [p.name for p in only_acc] == ["fewshot_emergence.png"]


def test_the_measured_continuous_metric_dips_below_chance_before_it_rises():
    """The shipped (measured) logprob_norm rows: the models grow confident in wrong choices
    before they learn to multiply, so the metric falls below chance, then rises; the answer
    says so and reports where the fitted rise crosses chance, next to the accuracy elbow."""
    shipped = load_lab_observations()
    r = C.continuous_emergence(shipped)
    assert r["available"] and r["dips_below_chance"]
    assert r["min_value"] < r["chance"] - C.DIP_NATS
    assert r["chance_crossing"] < r["elbow"]  # the rise reaches chance after the dip's bottom
    assert "after a dip" in r["answer"] and "crosses chance" in r["answer"]
    A, B = r["params"]["A"], r["params"]["B"]
    assert B + A * (r["elbow"] - r["chance_crossing"]) == pytest.approx(r["chance"])
