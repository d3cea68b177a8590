"""Real OLMo data: the ground truth finds the 7B jump; the OLMo CSV reader; the CLI command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence_law.analysis.ground_truth import ground_truth_emergence

OLMO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "olmo-ladder"
SEVEN_B = OLMO / "peteish7_eval_full.csv"
MC_TASKS = ("mmlu_mc", "arc_challenge_mc", "csqa_mc")


@pytest.fixture(scope="module")
def olmo7():
    if not SEVEN_B.is_file():
        pytest.skip("shared OLMo data absent")
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder

    return read_olmo_ladder(SEVEN_B, tasks=list(MC_TASKS))


def jump_location(loss: np.ndarray, y: np.ndarray, w: int = 3) -> tuple[float, float]:
    """The jump, from the data alone: in order of falling loss, the pair of consecutive
    checkpoints across which the mean of the next ``w`` values exceeds the mean of the previous
    ``w`` the most. Returns the two losses (the jump lies between them)."""
    o = np.argsort(-loss)
    ls, ys = loss[o], y[o]
    gain = [ys[i:i + w].mean() - ys[i - w:i].mean() for i in range(w, len(ys) - w)]
    i = int(np.argmax(gain)) + w
    return float(ls[i - 1]), float(ls[i])


def test_reader_gives_validated_fewshot_rows(olmo7):
    assert set(olmo7["task"]) == set(MC_TASKS)
    assert (olmo7["setting"] == "fewshot").all() and (olmo7["shots"] == 5).all()
    assert olmo7.groupby(["task", "metric"]).size().eq(186).all()
    assert set(olmo7["metric"]) == {"acc", "bpb"}  # bpb (cloze) serves the MC task too
    assert (olmo7["params"] == 7.3e9).all() and olmo7["tokens"].max() == 925000 * 4194304
    acc = olmo7[olmo7["metric"] == "acc"]
    assert acc.loc[acc["task"] == "csqa_mc", "chance"].eq(0.2).all()


@pytest.mark.parametrize("task", MC_TASKS)
def test_7b_mc_elbow_is_at_the_jump(olmo7, task):
    """The issue's real curve: chance, a sharp jump, a slow saturating rise. The ReLU on all
    checkpoints puts its elbow 0.09-0.14 nats before the jump; the default (saturating hinge)
    is within 0.02 nats of the jump and its 95% interval contains it."""
    fs = olmo7[(olmo7["task"] == task) & (olmo7["metric"] == "acc")]
    a, b = jump_location(fs["loss"].to_numpy(), fs["value"].to_numpy())
    jump = 0.5 * (a + b)
    assert a - b < 0.02  # a sharp jump: between two checkpoints 0.01 nats apart
    gt = ground_truth_emergence(olmo7, task)
    assert gt.model_kind == "saturating"
    assert abs(gt.elbow - jump) <= 0.02
    assert gt.interval[0] <= jump <= gt.interval[1]
    relu = ground_truth_emergence(olmo7, task, model="relu")
    assert relu.elbow - jump > 0.08 and relu.interval[0] > jump


def test_reader_bad_file_is_one_line_error(tmp_path):
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder
    from emergence_law.errors import DataError

    p = tmp_path / "run.csv"
    p.write_text("_step,foo\n1,2\n")
    with pytest.raises(DataError, match="CrossEntropyLoss"):
        read_olmo_ladder(p)


# ------------------------------------------------------------------------- the CLI command


def _cli(args):
    from emergence_law.cli import main

    return main([str(a) for a in args])


def test_ground_truth_command_writes_csv_and_png(olmo7, tmp_path, capsys):
    obs = tmp_path / "obs.csv"
    olmo7.to_csv(obs, index=False)
    out = tmp_path / "gt"
    assert _cli(["ground-truth", obs, "--task", "arc_challenge_mc", "--out", out]) == 0
    tab = pd.read_csv(out / "ground_truth.csv")
    assert list(tab.columns) == ["task", "group", "elbow", "lower", "upper", "n_checkpoints",
                                 "n_pre", "model_kind", "metric"]
    r = tab.iloc[0]
    assert r["metric"] == "acc"
    assert r["group"] == "all" and r["model_kind"] == "saturating" and r["n_checkpoints"] == 186
    assert r["lower"] < r["elbow"] < r["upper"] and r["n_pre"] == 11
    assert (out / "ground_truth.png").stat().st_size > 10000
    printed = capsys.readouterr().out
    assert "elbow 2.70" in printed and "task arc_challenge_mc, metric acc," in printed


def test_ground_truth_command_by_model(tmp_path, capsys):
    from emergence_law.simulate import simulate_jump_curve

    a, _ = simulate_jump_curve(model="small", elbow=2.75, seed=1)
    b, _ = simulate_jump_curve(model="big", elbow=2.65, seed=2)
    obs = tmp_path / "obs.csv"
    pd.concat([a, b]).to_csv(obs, index=False)
    assert _cli(["ground-truth", obs, "--task", "jumptask", "--by", "model", "--out",
                 tmp_path]) == 0
    tab = pd.read_csv(tmp_path / "ground_truth.csv").set_index("group")
    assert set(tab.index) == {"small", "big"}
    assert abs(tab.loc["small", "elbow"] - 2.75) < 0.02
    assert abs(tab.loc["big", "elbow"] - 2.65) < 0.02
    out = capsys.readouterr().out  # the shared-elbow test, side by side with the elbows
    assert "one shared elbow" in out and "the elbows differ between groups" in out


@pytest.mark.parametrize("args,msg", [
    (["--task", "nope"], "task 'nope' has no rows"),
    (["--task", "jumptask", "--by", "size"], "--by"),
    (["--task", "jumptask", "--metric", "bpb"], "metric 'bpb' has no rows"),
])
def test_ground_truth_command_bad_input_one_line_exit_2(tmp_path, capsys, args, msg):
    from emergence_law.simulate import simulate_jump_curve

    obs = tmp_path / "obs.csv"
    simulate_jump_curve(seed=0)[0].to_csv(obs, index=False)
    assert _cli(["ground-truth", obs, *args, "--out", tmp_path / "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_ground_truth_command_missing_file(tmp_path, capsys):
    assert _cli(["ground-truth", tmp_path / "none.csv", "--task", "t"]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.csv" in err and len(err.splitlines()) == 1
