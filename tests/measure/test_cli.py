"""The measure CLI end to end on a real tiny model: figures printed, rows appended or stored."""

from __future__ import annotations

import pandas as pd
import pytest

from emergence_law.cli import main


def test_measure_loss_and_fewshot_append_to_tables(tiny_lm, addition_task_file, tmp_path,
                                                   capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("1+2=3\n\n4+4=8\n\n9+9=18")
    losses = tmp_path / "losses.csv"
    assert main(["measure", "loss", "--model", str(tiny_lm), "--corpus", str(corpus),
                 "--checkpoint", "s150", "--out", str(losses)]) == 0
    out = capsys.readouterr().out
    assert "nats/token" in out and "bits/byte" in out
    obs = tmp_path / "obs.csv"
    for shots in ("0", "2"):
        assert main(["measure", "fewshot", "--model", str(tiny_lm), "--task",
                     str(addition_task_file), "--shots", shots, "--limit", "6", "--loss",
                     "1.25", "--checkpoint", "s150", "--out", str(obs)]) == 0
    assert "logprob_norm" in capsys.readouterr().out
    table = pd.read_csv(obs)
    assert sorted(table["shots"].unique()) == [0, 2] and (table["loss"] == 1.25).all()
    from emergence_law.observations import load_observations

    load_observations(obs)  # a valid observation table
    assert pd.read_csv(losses)["loss"].iloc[0] > 0


def test_measure_finetune_records_each_result_in_a_store(tiny_lm, addition_task_file,
                                                         tmp_path, capsys):
    from emergence_law.store import ResultStore

    store = tmp_path / "s.sqlite"
    args = ["measure", "finetune", "--model", str(tiny_lm), "--task", str(addition_task_file),
            "--n-train", "4,8", "--subsets", "0,1", "--max-steps", "2", "--eval-limit", "4",
            "--out", str(store)]
    assert main(args) == 0
    assert capsys.readouterr().out.count("recorded: 5 rows") == 4
    assert main(args) == 0  # the same jobs again: never written twice
    assert "already recorded" in capsys.readouterr().out
    with ResultStore(store) as s:
        rows = s.observation_rows()
    assert len(rows) == 20
    assert {(r["n_train"], r["subset"]) for r in rows} == {(4, 0), (8, 0), (4, 1), (8, 1)}


@pytest.mark.parametrize("args, message", [
    (["measure", "finetune", "--n-train", "8,x"], "option --n-train"),
    (["measure", "finetune", "--n-train", "8", "--method", "adapter"],
     "Invalid value for '--method': 'adapter' is not one of 'full', 'lora'"),
    (["measure", "fewshot", "--task", "missing.yaml"], "missing.yaml: task file not found"),
    (["measure", "fewshot", "--task", "addition", "--out", "x.xlsx"], "option --out"),
])
def test_bad_options_are_one_line_errors(tiny_lm, args, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cmd = args[:2] + ["--model", str(tiny_lm)] + args[2:]
    if args[1] == "finetune":
        cmd += ["--task", "addition"]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_import_lmeval_cli(pythia_dir, tmp_path, capsys):
    out = tmp_path / "pythia.parquet"
    assert main(["import-lmeval", str(pythia_dir / "pythia-70m"), str(pythia_dir / "pythia-160m"),
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 models, 54 checkpoints" in text and "ln ppl lambada_openai" in text
    df = pd.read_parquet(out)
    assert df["loss"].notna().all() and df["model"].nunique() == 2
    assert main(["import-lmeval", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "file or folder not found" in capsys.readouterr().err


def test_measure_lmeval_writes_harness_files_that_import(tiny_lm, addition_task_file, tmp_path,
                                                         capsys):
    folder = tmp_path / "harness"
    assert main(["measure", "lmeval", "--model", str(tiny_lm), "--task",
                 str(addition_task_file), "--shots", "1", "--limit", "5", "--checkpoint", "s150",
                 "--output-path", str(folder)]) == 0
    assert "prob_norm" in capsys.readouterr().out
    obs, per = tmp_path / "obs.csv", tmp_path / "per.csv"
    assert main(["import-lmeval", str(folder), "--out", str(obs), "--loss-from", "none",
                 "--samples", str(per)]) == 0
    assert "without a loss" in capsys.readouterr().out
    table = pd.read_csv(obs)
    assert set(table["metric"]) == {"acc", "acc_norm", "logprob", "logprob_norm", "prob_norm"}
    assert (table["n_eval"] == 5).all() and (table["shots"] == 1).all()
    assert len(pd.read_csv(per)) == 5
