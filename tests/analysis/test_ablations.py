"""Ablations: which rows each ablation keeps, skip reasons, scoring, the CLI and its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis.ablations import (
    CSV_COLUMNS,
    Ablation,
    AblationSkipped,
    apply_ablation,
    run_ablations,
    select_ablations,
    standard_ablations,
)
from emergence_law.analysis.checkpoints import checkpoint_table
from emergence_law.analysis.ground_truth import ground_truth_emergence
from emergence_law.cli import main
from emergence_law.simulate import simulate_observations


@pytest.fixture(scope="module")
def pre(small_sim):
    """Pre-emergence rows (loss >= ground-truth elbow) and their checkpoint order."""
    obs, _ = small_sim
    gt = ground_truth_emergence(obs, "simtask")
    rows = obs[obs["loss"] >= gt.elbow]
    return rows, checkpoint_table(rows)


def _losses(rows: pd.DataFrame) -> list[float]:
    return sorted(rows["loss"].unique())


def test_grid_has_every_ablation_the_issue_names():
    names = [a.name for a in standard_ablations()]
    assert len(names) == 27 and len(set(names)) == 27
    for expected in ("full data", "-3 smallest data levels", "-3 largest data levels",
                     "only subset sample 1", "only subset sample 2", "last 3 checkpoints",
                     "last 6, every other (even)", "last 6, every other (odd)",
                     "-4 last checkpoints", "form: power", "form: no_fewshot", "D0 = 20N"):
        assert expected in names


def test_data_level_ablations_drop_the_right_levels(pre):
    rows, ck = pre
    levels = sorted(rows.loc[rows.setting == "finetune", "n_train"].astype(int).unique())
    for k in (1, 2, 3):
        sub, over = apply_ablation(Ablation("x", "data", "drop_smallest", k), rows, ck, 5)
        kept = sorted(sub.loc[sub.setting == "finetune", "n_train"].astype(int).unique())
        assert kept == levels[k:] and over == {}
        assert (sub.setting == "fewshot").sum() == (rows.setting == "fewshot").sum()
        sub, _ = apply_ablation(Ablation("x", "data", "drop_largest", k), rows, ck, 5)
        kept = sorted(sub.loc[sub.setting == "finetune", "n_train"].astype(int).unique())
        assert kept == levels[:-k]


def test_subset_ablations_keep_one_sample(pre):
    rows, ck = pre
    for i in (1, 2):
        sub, _ = apply_ablation(Ablation("x", "data", "only_subset", i), rows, ck, 5)
        assert set(sub.loc[sub.setting == "finetune", "subset"].astype(int)) == {i - 1}
        assert len(sub[sub.setting == "finetune"]) == len(rows[rows.setting == "finetune"]) // 2


def test_checkpoint_ablations_count_from_the_most_capable(pre):
    rows, ck = pre
    losses = _losses(rows)  # ascending: most capable first
    assert len(losses) >= 8
    for k in (3, 6):
        sub, _ = apply_ablation(Ablation("x", "c", "last", k), rows, ck, 5)
        assert _losses(sub) == losses[:k]
    for k in (1, 4):
        sub, _ = apply_ablation(Ablation("x", "c", "drop_last", k), rows, ck, 5)
        assert _losses(sub) == losses[k:]
    even, _ = apply_ablation(Ablation("x", "c", "every_other", "even"), rows, ck, 5)
    odd, _ = apply_ablation(Ablation("x", "c", "every_other", "odd"), rows, ck, 5)
    assert _losses(even) == [losses[0], losses[2], losses[4]]
    assert _losses(odd) == [losses[1], losses[3], losses[5]]


def test_form_and_d0_ablations_change_settings_only(pre):
    rows, ck = pre
    sub, over = apply_ablation(Ablation("x", "d0", "d0", 10), rows, ck, 5)
    assert len(sub) == len(rows) and over == {"d0": 50.0}
    sub, over = apply_ablation(Ablation("x", "form", "form", "power"), rows, ck, 5)
    assert over == {"form": "power"}


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_inapplicable_ablations_are_skipped_with_a_reason():
    obs, _ = simulate_observations(seed=5, n_checkpoints=10, n_subsets=1,
                                   data_levels=(30, 300, 3000), shots=0)
    ck = checkpoint_table(obs)
    with pytest.raises(AblationSkipped, match="only 1 subset sample"):
        apply_ablation(Ablation("x", "data", "only_subset", 1), obs, ck, 0)
    with pytest.raises(AblationSkipped, match="3 data levels; dropping 2 leaves 1"):
        apply_ablation(Ablation("x", "data", "drop_largest", 2), obs, ck, 0)
    with pytest.raises(AblationSkipped, match="0-shot"):
        apply_ablation(Ablation("x", "d0", "d0", 2), obs, ck, 0)
    few = obs[obs["loss"] >= sorted(obs["loss"].unique())[-4]]
    with pytest.raises(AblationSkipped, match="needs 6"):
        apply_ablation(Ablation("x", "c", "every_other", "odd"), few, checkpoint_table(few), 0)


def test_run_ablations_scores_every_fit_against_ground_truth(small_sim):
    obs, truth = small_sim
    res = run_ablations(obs, "simtask", law={"posterior": "none"}, workers=1, progress=False)
    t = res.table
    assert list(t.columns) == CSV_COLUMNS
    assert set(t["status"]) <= {"ok", "skipped", "failed"}
    ok = t[t["status"] == "ok"]
    assert len(ok) >= 22
    # the score is |MLE - GT| and success is the threshold test
    np.testing.assert_allclose(ok["error"], (ok["mle"] - res.ground_truth.elbow).abs())
    assert (ok["success"] == (ok["error"] <= 0.1)).all()
    # identical settings are fitted once and share the answer
    same = t.set_index("ablation").loc[["full data", "form: log_power", "D0 = 1N"], "mle"]
    assert same.nunique() == 1
    assert res.info["n_fits"] < len(ok)
    # the full-data prediction is a real prediction: close to the simulated truth
    full = t.set_index("ablation").loc["full data"]
    assert abs(full["mle"] - truth["emergence_point"]) < 0.1
    # fits never saw a post-emergence checkpoint
    assert res.cutoff == pytest.approx(res.ground_truth.elbow)
    md = res.to_markdown()
    assert "| full data |" in md and "Ground truth" in md


def test_ablate_cli_with_posterior_writes_all_files(small_csv, tmp_path):
    out = tmp_path / "abl"
    rc = main(["ablate", str(small_csv), "--task", "simtask", "--out", str(out),
               "--posterior", "mcmc", "--samples", "200", "--workers", "2",
               "--only", "full", "--only", "form", "--only", "-2 last checkpoints"])
    assert rc == 0
    t = pd.read_csv(out / "ablations.csv")
    assert t["ablation"].tolist() == ["full data", "-2 last checkpoints", "form: log_power",
                                      "form: power", "form: no_fewshot"]
    for col in ("ablation", "error", "error_p5", "error_p95", "success", "mle", "gt", "p5",
                "p95", "status", "reason"):
        assert col in t.columns
    ok = t[t["status"] == "ok"]
    assert ok["error_p5"].notna().all() and (ok["error_p5"] <= ok["error_p95"]).all()
    assert (ok["p5"] <= ok["p95"]).all()
    assert (out / "ablations.md").read_text().startswith("# Ablations")
    png = (out / "ablations.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    prov = json.loads((out / "run_ablate.json").read_text())
    assert prov["command"] == "ablate" and prov["options"]["task"] == "simtask"


@pytest.mark.parametrize("args, needle", [
    (["--threshold", "-1"], "option --threshold"),
    (["--workers", "0"], "option --workers"),
    (["--posterior", "gibbs"], "--posterior"),
    (["--task", "nope"], "task 'nope' has no rows"),
    (["--only", "everything"], "option --only: unknown ablation 'everything'"),
])
def test_ablate_bad_input_is_one_line(small_csv, tmp_path, capsys, args, needle):
    base = ["ablate", str(small_csv), "--out", str(tmp_path)]
    if "--task" not in args:
        base += ["--task", "simtask"]
    rc = main(base + args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_metric_and_finetuning_method_are_in_the_csv_and_the_header(small_sim):
    """Issue 13: every row and the summary's first line say which metric and finetuning method
    the fits used."""
    obs, _ = small_sim
    res = run_ablations(obs, "simtask", law={"posterior": "none"}, workers=1, progress=False,
                        ablations=select_ablations(["full data"]))
    assert (res.table["metric"] == "acc").all() and (res.table["ft_method"] == "full").all()
    assert res.summary().startswith("task simtask, metric acc, finetuning method full:")
    assert "metric acc, finetuning method full" in res.to_markdown().splitlines()[0]
    assert res.to_dict()["metric"] == "acc" and res.to_dict()["ft_method"] == "full"
