"""Real-data audit: the shared OLMo and Pythia files, and perturbed copies of them as users
bring them (repeated or unsorted steps, percentages, infinite losses, two runs under one name,
a loss metric asked for as the capability, lm-eval 0.4 layout). Each case either works
correctly or is one line naming the file, row, column or option, exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence_law.errors import DataError, SettingError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OLMO = DATA / "olmo-ladder"
SEVEN_B = OLMO / "peteish7_eval_full.csv"
PYTHIA = DATA / "pythia-evals"
LOSS = "eval/c4_en-validation/CrossEntropyLoss"
ARC_C_MC = "eval/downstream/arc_challenge_test_mc_5shot_acc"


def _need(*paths: Path) -> None:
    if not all(p.exists() for p in paths):
        pytest.skip("shared real data absent")


def _cli(args) -> int:
    from emergence_law.cli import main

    return main([str(a) for a in args])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def _olmo(paths, tasks=None) -> pd.DataFrame:
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder

    return read_olmo_ladder(paths, tasks=tasks)


@pytest.fixture(scope="module")
def seven_b_head() -> pd.DataFrame:
    """The 7B run's first 40 evaluated steps, as the file has them."""
    _need(SEVEN_B)
    return pd.read_csv(SEVEN_B).head(40)


# ------------------------------------------------------------------- ground truth on real data


def test_ground_truth_refuses_a_loss_metric_and_names_the_rising_one(tmp_path, capsys):
    """HellaSwag bpb falls from 1.6 to 0.9 over the 3B run; the elbow model (a rise from a flat
    base) used to report 'never rise clearly ... the capability has not emerged' for every size
    and exit 1. A metric that falls as the model improves is refused, naming --metric."""
    from emergence_law.analysis.ground_truth import ground_truths

    _need(OLMO / "3B-1xC.csv")
    obs = _olmo(OLMO / "3B-1xC.csv", tasks=["hellaswag_rc"])
    with pytest.raises(SettingError, match=r"'bpb' of task 'hellaswag_rc' falls as the model "
                                           r"improves.*use one of len_norm"):
        ground_truths(obs, "hellaswag_rc", metric="bpb", by="model")
    path = tmp_path / "obs.csv"
    obs.to_csv(path, index=False)
    assert _cli(["ground-truth", path, "--task", "hellaswag_rc", "--metric", "bpb",
                 "--out", tmp_path / "gt"]) == 2
    assert "option --metric: 'bpb'" in _one_line_error(capsys)
    assert not (tmp_path / "gt" / "ground_truth.csv").exists()


def test_ground_truth_groups_run_from_the_smallest_model(tmp_path, capsys):
    """--by model listed (and plotted) groups in name order: 190M, 1B, 370M; Pythia 1.4b, 12b,
    160m. Sizes now run smallest first."""
    from emergence_law.analysis.ground_truth import ground_truths

    files = [OLMO / f"{s}-1xC.csv" for s in ("1B", "370M", "190M")]
    _need(*files)
    obs = _olmo(files, tasks=["arc_easy_rc"])
    fits = ground_truths(obs, "arc_easy_rc", metric="len_norm", by="model")
    assert [g for g, _, _ in fits] == ["190M", "370M", "1B"]
    elbows = [gt.elbow for _, gt, _ in fits]
    assert all(np.isfinite(elbows)) and elbows[0] > elbows[-1]  # larger: later in loss
    path = tmp_path / "obs.csv"
    obs.to_csv(path, index=False)
    assert _cli(["ground-truth", path, "--task", "arc_easy_rc", "--metric", "len_norm",
                 "--by", "model", "--out", tmp_path / "gt"]) == 0
    assert pd.read_csv(tmp_path / "gt" / "ground_truth.csv")["group"].tolist() == [
        "190M", "370M", "1B"]
    capsys.readouterr()


def test_plots_name_the_real_x_axis(seven_b_head, tmp_path):
    """Every panel said "pretraining loss" while Pythia's axis is ln LAMBADA perplexity and
    OLMo's the C4 validation loss; the rows' loss source now names the axis."""
    import matplotlib.pyplot as plt

    from emergence_law.analysis.ground_truth import ground_truths
    from emergence_law.analysis.plots import plot_ground_truths
    from emergence_law.measure.lmeval_import import import_lmeval

    _need(PYTHIA / "pythia-410m")
    seven_b_head.to_csv(tmp_path / "peteish7.csv", index=False)
    olmo = _olmo(tmp_path / "peteish7.csv", tasks=["csqa_mc"])
    pythia = import_lmeval(PYTHIA / "pythia-410m", loss_from="lambada")
    for obs, task, axis in ((olmo, "csqa_mc", "C4 validation loss"),
                            (pythia, "arc_easy", "ln ppl lambada_openai")):
        fig = plot_ground_truths(task, ground_truths(obs, task, metric="acc"))
        assert fig.axes[0].get_xlabel() == f"{axis} (nats), more capable to the right"
        plt.close(fig)


def test_a_single_checkpoint_before_the_elbow_is_no_base():
    """OLMo-2 7B's cloze tasks: step 0 (loss 12.26, at chance) and then step 5000 (loss 3.12)
    already far above it. The ReLU through the later points met the step-0 level at 4.33 and
    reported [4.23, 4.43] (95%) where no checkpoint lies; the interval now spans the gap."""
    from emergence_law.analysis.ground_truth import ground_truths

    _need(SEVEN_B)
    obs = _olmo(SEVEN_B, tasks=["piqa_rc", "csqa_mc"])
    [(_, gt, _)] = ground_truths(obs, "piqa_rc", metric="len_norm")
    assert gt.n_pre == 1 and 3.2 < gt.elbow < 12
    assert gt.interval == pytest.approx((3.115204, 12.257063), abs=1e-5)
    [(_, gt, _)] = ground_truths(obs, "csqa_mc", metric="acc")  # the jump: 11 before it
    assert gt.n_pre == 11 and gt.interval[1] - gt.interval[0] < 0.05


# ------------------------------------------------------------ import-olmo on perturbed copies


def test_repeated_steps_merge_when_they_agree(seven_b_head, tmp_path):
    """A W&B export can repeat a step (a resumed run; one row per logging call). Rows of one
    step that agree wherever both have a value are one checkpoint: the import equals the clean
    file's. Before, the repeated row was refused as a repeated measurement of the observation
    table's row number, not the file's."""
    clean = tmp_path / "peteish7.csv"
    seven_b_head.to_csv(clean, index=False)
    want = _olmo(clean).drop(columns="run")
    again = pd.concat([seven_b_head, seven_b_head.iloc[[10, 11]]])
    # one step logged in two rows: the loss and MC ARC-C in one, everything else in the other
    split_a = seven_b_head.iloc[[20]].astype(float)
    split_b = split_a.copy()
    keep_a = ["_step", LOSS, ARC_C_MC]
    split_a.loc[:, [c for c in split_a.columns if c not in keep_a]] = np.nan
    split_b.loc[:, [ARC_C_MC]] = np.nan
    parts = [seven_b_head.drop(index=20), split_b, split_a]
    for name, df in (("again", again), ("split", pd.concat(parts))):
        (tmp_path / name).mkdir()
        df.sample(frac=1, random_state=1).to_csv(tmp_path / name / "peteish7.csv", index=False)
        got = _olmo(tmp_path / name / "peteish7.csv").drop(columns="run")
        key = ["task", "metric", "checkpoint"]
        a = got.sort_values(key).reset_index(drop=True)
        b = want.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_repeated_step_with_different_values_names_both_rows(seven_b_head, tmp_path, capsys):
    df = pd.concat([seven_b_head, seven_b_head.iloc[[10]]])
    df.iloc[-1, df.columns.get_loc(ARC_C_MC)] = 0.9
    path = tmp_path / "peteish7.csv"
    df.to_csv(path, index=False)
    assert _cli(["import-olmo", path, "--out", tmp_path / "o.csv"]) == 2
    err = _one_line_error(capsys)
    step = int(seven_b_head["_step"].iloc[10])
    assert re.search(rf"peteish7.csv, row 41, column '{ARC_C_MC}': step {step} appears in rows "
                     r"11 and 41 with different values \(0\.\d+ and 0\.9\)", err), err


@pytest.mark.parametrize("spoil,msg", [
    ("percent", f"row 1, column '{ARC_C_MC}': an accuracy must lie in [0, 1] (a percentage? "
                "divide it by 100), got"),
    ("inf", f"row 5, column '{LOSS}': expected a finite number, got 'inf'"),
    ("negative", f"row 3, column '{LOSS}': must not be negative, got -2"),
])
def test_bad_values_are_named_by_file_row_and_column(seven_b_head, tmp_path, capsys, spoil, msg):
    """An accuracy in percent was refused naming row 1xx of the converted table and column
    'value'; an infinite loss silently dropped its step."""
    df = seven_b_head.copy()
    if spoil == "percent":
        df[ARC_C_MC] = df[ARC_C_MC] * 100
    elif spoil == "inf":
        df[LOSS] = df[LOSS].astype(object)
        df.loc[4, LOSS] = "inf"
    else:
        df.loc[2, LOSS] = -2.0
    path = tmp_path / "peteish7.csv"
    df.to_csv(path, index=False)
    assert _cli(["import-olmo", path, "--out", tmp_path / "o.csv"]) == 2
    err = _one_line_error(capsys)
    assert f"peteish7.csv, {msg}" in err, err


def test_two_runs_under_one_file_name_are_two_runs(tmp_path, capsys):
    """Another seed of 190M-1xC kept in its own folder has the same file name: both were read
    as one run (the ladder's bootstrap over runs saw one run where there were two). Such runs
    are now named by folder and file; an identical copy, or one file given twice, is refused."""
    src = OLMO / "190M-1xC.csv"
    _need(src)
    (tmp_path / "seed1").mkdir()
    seed = pd.read_csv(src)
    seed[LOSS] = seed[LOSS] + 0.003  # another seed: other losses at the same steps
    seed.to_csv(tmp_path / "seed1" / "190M-1xC.csv", index=False)
    obs = _olmo([src, tmp_path / "seed1" / "190M-1xC.csv", OLMO / "190M-2xC.csv"],
                tasks=["piqa_rc"])
    assert sorted(obs["run"].unique()) == ["190M-2xC", "olmo-ladder/190M-1xC",
                                           "seed1/190M-1xC"]
    assert set(obs["model"]) == {"190M"} and set(obs["params"]) == {190e6}
    copy = tmp_path / "copy" / "190M-1xC.csv"
    copy.parent.mkdir()
    copy.write_bytes(src.read_bytes())
    assert _cli(["import-olmo", src, copy, "--out", tmp_path / "o.csv"]) == 2
    assert ("copy/190M-1xC.csv: runs 'olmo-ladder/190M-1xC' and 'copy/190M-1xC' hold the same "
            "measurements") in _one_line_error(capsys)
    assert _cli(["import-olmo", src, src, "--out", tmp_path / "o.csv"]) == 2
    assert "190M-1xC.csv: the file is given twice" in _one_line_error(capsys)


def test_report_of_a_folder_of_results_keeps_ground_truth_and_ladder_parts(tmp_path, capsys):
    """Results gathered as subfolders of one folder: the report kept the backtest part and
    silently dropped the ground-truth and ladder ones; they are now kept, each read into a
    section of its own (docs/report.md)."""
    from emergence_law.report.collect import collect_tree

    _need(SEVEN_B)
    obs = tmp_path / "p7.csv"
    _olmo(SEVEN_B, tasks=["csqa_mc"]).to_csv(obs, index=False)
    assert _cli(["ground-truth", obs, "--task", "csqa_mc", "--out", tmp_path / "all" / "gt"]) == 0
    parts = collect_tree(tmp_path / "all")
    assert [p.part for p in parts] == ["gt"]
    assert parts[0].ground_truth is not None and parts[0].ground_truth_plot is not None
    assert not parts[0].other_tables and not parts[0].other_images
    assert _cli(["report", tmp_path / "all"]) == 0
    capsys.readouterr()


def test_task_filter_across_files_and_unknown_tasks(tmp_path, capsys):
    """--task arc_challenge_mc over the cloze-only 3B run and the 7B failed on the 3B file
    ("no downstream evaluation columns ... for tasks arc_challenge_mc"); a task name in no file
    (arc_challenge: the format suffix forgotten) did not say which names there are."""
    files = [OLMO / "3B-1xC.csv", SEVEN_B]
    _need(*files)
    obs = _olmo(files, tasks=["arc_challenge_mc"])
    assert set(obs["run"]) == {"peteish7_eval_full"} and set(obs["task"]) == {"arc_challenge_mc"}
    assert _cli(["import-olmo", files[0], "--task", "arc_challenge", "--out",
                 tmp_path / "o.csv"]) == 2
    err = _one_line_error(capsys)
    assert "option --task: task 'arc_challenge' is in none of the 1 file(s) (tasks: " \
           "arc_challenge_rc, arc_easy_rc," in err, err


def test_later_olmo_column_names_and_sizes_from_file_names(seven_b_head, tmp_path):
    """Later OLMo logs drop the split and double bpb (``piqa_rc_5shot_bpb_bpb``); those columns
    were ignored. A run named by a size the ladder table lacks (530M-1xC, 13B-5T) had no
    parameter count, so the ladder could not order it by size."""
    def later(c: str) -> str:
        return c.replace("_val_", "_").replace("_5shot_bpb", "_5shot_bpb_bpb")

    seven_b_head.rename(columns=lambda c: later(c) if "piqa" in c else c).to_csv(
        tmp_path / "13B-5T.csv", index=False)
    seven_b_head.to_csv(tmp_path / "530M-1xC.csv", index=False)
    tasks = ["piqa_mc", "piqa_rc"]
    got = _olmo(tmp_path / "13B-5T.csv", tasks=tasks)
    want = _olmo(tmp_path / "530M-1xC.csv", tasks=tasks)
    cols = ["checkpoint", "loss", "task", "metric", "value", "chance"]
    key = ["task", "metric", "checkpoint"]
    pd.testing.assert_frame_equal(got[cols].sort_values(key).reset_index(drop=True),
                                  want[cols].sort_values(key).reset_index(drop=True))
    assert len(got) == 4 * 40  # acc and bpb of both formats at every step
    assert (got["model"] == "13B").all() and (got["params"] == 13e9).all()
    assert (want["model"] == "530M").all() and (want["params"] == 530e6).all()


# ---------------------------------------------------------------------------- ladder forecast


def test_ladder_with_two_training_sizes_says_its_interval_lacks_the_size_error(tmp_path, capsys):
    """With fewer than 3 training sizes the size-level error cannot be measured and was left
    out silently (190M + 370M -> 3B ARC-Easy: 0/6 inside). The summary and JSON now say so; the
    CSV names each target checkpoint as the table does (stepN), not by an internal key."""
    files = [OLMO / f"{s}-1xC.csv" for s in ("190M", "370M", "3B")]
    _need(*files)
    obs = tmp_path / "obs.csv"
    _olmo(files, tasks=["arc_easy_rc"]).to_csv(obs, index=False)
    out = tmp_path / "lad"
    assert _cli(["ladder", obs, "--task", "arc_easy_rc", "--target", "3B", "--n-boot", "20",
                 "--out", out]) == 0
    said = capsys.readouterr().out
    assert "no size-level error in the interval: measuring it needs 3 or more training " \
           "models, got 2" in said
    info = json.loads((out / "ladder_forecast.json").read_text())["info"]
    assert info["size_level_sd"] == 0 and "no size-level error" in info["note"]
    t = pd.read_csv(out / "ladder_forecast.csv")
    assert t["checkpoint"].tolist() == [f"step{int(pd.read_csv(files[2])['_step'].max())}"]


def test_ladder_to_a_task_only_the_target_has_says_so(seven_b_head, tmp_path, capsys):
    """MC HellaSwag exists for the 7B only (the ladder runs are cloze): the ladder said "no
    model smaller than 'olmo2-7b'", though 3B and smaller were in the table."""
    _need(OLMO / "3B-1xC.csv")
    seven_b_head.to_csv(tmp_path / "peteish7_eval_full.csv", index=False)
    obs = tmp_path / "obs.csv"
    _olmo([OLMO / "3B-1xC.csv", tmp_path / "peteish7_eval_full.csv"],
          tasks=["hellaswag_mc", "hellaswag_rc"]).to_csv(obs, index=False)
    assert _cli(["ladder", obs, "--task", "hellaswag_mc", "--target", "olmo2-7b",
                 "--out", tmp_path / "lad"]) == 2
    assert ("option --target: 'olmo2-7b' is the only model with rows of task 'hellaswag_mc'"
            in _one_line_error(capsys))


def test_backtest_across_sizes_reports_no_flops_lead_below_1(tmp_path, capsys):
    """A 190M trained 10x Chinchilla and an early 3B: the 190M's pre-emergence checkpoints have
    more FLOPs than the 3B's first post-emergence one, so every FLOPs ratio is below 1. The
    backtest said "largest FLOPs ratio with a successful prediction: 0.07x" and the report
    "0.0688x the FLOPs in advance"; both now say there is no FLOPs lead and give the loss gap."""
    files = [OLMO / "190M-10xC.csv", OLMO / "3B-0.5xC.csv"]
    _need(*files)
    obs = _olmo(files, tasks=["hellaswag_rc"])
    step = obs["checkpoint"].str[4:].astype(int)
    keep = obs.groupby("run")["checkpoint"].transform(  # every 8th evaluated step, fast
        lambda c: c.isin(sorted(c.unique(), key=lambda k: int(k[4:]))[::8]))
    obs[keep.astype(bool) & (step > 0)].to_csv(tmp_path / "obs.csv", index=False)
    out = tmp_path / "bt"
    assert _cli(["backtest", tmp_path / "obs.csv", "--task", "hellaswag_rc", "--metric",
                 "len_norm", "--method", "two_step", "--samples", "20", "--order-by", "loss",
                 "--threshold", "0.3", "--out", out]) == 0
    said = capsys.readouterr().out
    t = pd.read_csv(out / "backtest.csv")
    assert (t["flops_ratio"] < 1).all() and t["success"].any()
    assert "FLOPs do not grow with capability" in said and "largest loss gap" in said
    assert "largest FLOPs ratio" not in said
    assert _cli(["report", out]) == 0
    page = (out / "report.html").read_text()
    assert "no FLOPs lead" in page and "the FLOPs</b> in advance" not in page
    capsys.readouterr()


# ------------------------------------------------------------------------- lm-eval 0.4 layout


def _to_v04(old: dict, model: str) -> dict:
    """An older-harness Pythia result as lm-eval 0.4 writes it (``acc,none`` keys, n-shot,
    configs, ``perplexity`` for LAMBADA, ``mmlu_*`` subject names)."""
    rev = re.search(r"revision=(step\d+)", old["config"]["model_args"])[1]
    results, configs = {}, {}
    for task, metrics in old["results"].items():
        name = task.replace("hendrycksTest-", "mmlu_")
        block: dict = {"alias": name}
        for k, v in metrics.items():
            base, stderr = (k[:-7], "_stderr") if k.endswith("_stderr") else (k, "")
            block[f"{'perplexity' if base == 'ppl' else base}{stderr},none"] = v
        results[name] = block
        configs[name] = {"task": name, "num_fewshot": 0, "output_type": "multiple_choice"}
    return {"results": results, "configs": configs, "versions": {t: 1.0 for t in results},
            "n-shot": {t: 0 for t in results},
            "n-samples": {t: {"original": 100, "effective": 100} for t in results},
            "config": {"model": "hf", "batch_size": 16,
                       "model_args": f"pretrained={model},revision={rev},dtype=float16"},
            "lm_eval_version": "0.4.2", "model_name": model}


def test_lmeval_04_layout_of_pythia_imports_like_the_older_files(tmp_path):
    from emergence_law.measure.lmeval_import import import_lmeval

    _need(PYTHIA / "pythia-410m")
    src = sorted((PYTHIA / "pythia-410m" / "zero-shot").glob("*_step1*000.json"))[:4]
    for f in src:
        data = _to_v04(json.loads(f.read_text()), "EleutherAI/pythia-410m")
        rev = data["config"]["model_args"].split("revision=")[1].split(",")[0]
        d = tmp_path / f"EleutherAI__pythia-410m__{rev}"
        d.mkdir()
        (d / "results_2024-05-01T12-00-00.json").write_text(json.dumps(data))
    (tmp_path / "README.md").write_text("unrelated")
    (tmp_path / "notes.json").write_text('{"a": 1}')
    new = import_lmeval(tmp_path, loss_from="lambada")
    old = import_lmeval(src, loss_from="lambada")
    key = ["checkpoint", "task", "metric"]
    old["task"] = old["task"].str.replace("hendrycksTest-", "mmlu_")
    old = old[old["task"] != "mmlu"].assign(
        metric=old["metric"].replace({"ppl": "perplexity"}))
    m = new.merge(old, on=key, suffixes=("", "_old"))
    assert len(m) == len(old) == len(new)
    assert np.allclose(m["value"], m["value_old"]) and np.allclose(m["loss"], m["loss_old"])
    assert (m["params"] == 4.1e8).all() and (m["tokens"] == m["tokens_old"]).all()
    only_unrelated = tmp_path / "only_unrelated"
    only_unrelated.mkdir()
    (only_unrelated / "notes.json").write_text('{"a": 1}')
    (only_unrelated / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="only_unrelated: no lm-eval result files"):
        import_lmeval(only_unrelated)


def test_lmeval_without_lambada_names_the_file_and_the_options(tmp_path, capsys):
    """A result file without LAMBADA (the default loss source) said "loss_from='lambada' but
    ...": the Python name, no file, no way out. It now names the file and the options."""
    src = PYTHIA / "pythia-410m" / "zero-shot" / "410m_step143000.json"
    _need(src)
    data = json.loads(src.read_text())
    del data["results"]["lambada_openai"]
    f = tmp_path / "410m_step143000.json"
    f.write_text(json.dumps(data))
    assert _cli(["import-lmeval", f, "--out", tmp_path / "o.csv"]) == 2
    err = _one_line_error(capsys)
    assert f"{f}: no LAMBADA perplexity" in err and "--losses" in err and "--loss-from none" in err
    assert _cli(["import-lmeval", f, "--loss-from", "none", "--out", tmp_path / "o.csv"]) == 0
    capsys.readouterr()


def test_table_without_a_metric_column_says_why_rows_clash(seven_b_head, tmp_path, capsys):
    """An imported table saved without its metric column: acc and bpb rows of one checkpoint
    then clash, and the error said only "contradicts ... remove the repeated rows"."""
    seven_b_head.to_csv(tmp_path / "peteish7.csv", index=False)
    obs = _olmo(tmp_path / "peteish7.csv", tasks=["csqa_mc"]).drop(columns="metric")
    obs.to_csv(tmp_path / "obs.csv", index=False)
    assert _cli(["ground-truth", tmp_path / "obs.csv", "--task", "csqa_mc",
                 "--out", tmp_path / "gt"]) == 2
    err = _one_line_error(capsys)
    assert "obs.csv, row 41: contradicts" in err and "add a 'metric' column" in err, err
