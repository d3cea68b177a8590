"""Importing lm-eval result files: the real Pythia evals (older format) and error handling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emergence_law.errors import DataError, OptionError
from emergence_law.measure.lmeval import (
    import_lmeval,
    params_from_name,
    series_from_name,
    step_from,
    tokens_from_revision,
)
from emergence_law.observations import validate_observations


def test_name_parsing():
    assert params_from_name("EleutherAI/pythia-v1.1-1.4b") == pytest.approx(1.4e9)
    assert params_from_name("EleutherAI/pythia-70m-deduped") == pytest.approx(7e7)
    assert params_from_name("EleutherAI/pythia-v1.1-1b-bf16") == pytest.approx(1e9)
    assert params_from_name("openlm-research/open_llama_7b") == pytest.approx(7e9)
    assert params_from_name("gpt2") is None
    assert series_from_name("EleutherAI/pythia-v1.1-1b-bf16") == "pythia-v1.1"
    assert series_from_name("EleutherAI/pythia-160m-deduped") == "pythia-deduped"
    assert step_from("step143000") == 143000
    assert step_from(None, "1.4b_step512.json") == 512
    assert tokens_from_revision("stage1-step1000-tokens4B") == pytest.approx(4e9)


def test_import_pythia_old_format(pythia_dir):
    df = import_lmeval(pythia_dir, loss_from="lambada")
    obs = validate_observations(df)  # a valid observation table, every row has a loss
    assert obs["loss"].notna().all()
    assert set(df["loss_source"]) == {"ln ppl lambada_openai"}
    # 8 sizes x 27 checkpoints, every (model, checkpoint) distinct
    ids = df[["model", "checkpoint"]].drop_duplicates()
    assert len(ids) == 216
    assert df["model"].nunique() == 8
    assert not df.duplicated(["model", "checkpoint", "task", "metric", "shots"]).any()
    one = df[(df["model"] == "EleutherAI/pythia-v1.1-1.4b") & (df["checkpoint"] == "step1000")]
    raw = json.loads((pythia_dir / "pythia-1.4b/zero-shot/1.4b_step1000.json").read_text())
    piqa = one[(one["task"] == "piqa") & (one["metric"] == "acc")].iloc[0]
    assert piqa["value"] == raw["results"]["piqa"]["acc"]
    assert piqa["stderr"] == raw["results"]["piqa"]["acc_stderr"]
    assert piqa["chance"] == 0.5 and piqa["shots"] == 0 and piqa["setting"] == "fewshot"
    assert piqa["tokens"] == 1000 * 2_097_152
    assert piqa["params"] == pytest.approx(1.4e9)
    assert piqa["flops"] == pytest.approx(6 * 1.4e9 * 1000 * 2_097_152)
    assert piqa["loss"] == pytest.approx(math.log(raw["results"]["lambada_openai"]["ppl"]))
    # MMLU averaged over its 57 subjects
    mmlu = one[(one["task"] == "mmlu") & (one["metric"] == "acc")].iloc[0]
    subj = [v["acc"] for k, v in raw["results"].items() if k.startswith("hendrycksTest-")]
    assert len(subj) == 57 and mmlu["value"] == pytest.approx(np.mean(subj))
    # larger, later models have lower LAMBADA loss
    lam = df[(df["task"] == "piqa") & (df["metric"] == "acc")]
    final = lam[lam["checkpoint"] == "step143000"].sort_values("params")
    assert final["loss"].iloc[-1] < final["loss"].iloc[0]


def test_two_revisions_never_collide(pythia_dir, tmp_path):
    src = pythia_dir / "pythia-70m/zero-shot"
    for step in (1000, 2000):
        raw = json.loads((src / "70m_step1000.json").read_text())
        raw["config"]["model_args"] = f"pretrained=my/model-70m,revision=step{step}"
        if step == 2000:
            raw["results"]["piqa"]["acc"] = 0.9
        (tmp_path / f"run{step}.json").write_text(json.dumps(raw))
    with pytest.warns(UserWarning, match="tokens .* left empty"):  # not a known suite
        df = import_lmeval(tmp_path)
    piqa = df[(df["task"] == "piqa") & (df["metric"] == "acc")].set_index("checkpoint")
    assert piqa.loc["step2000", "value"] == 0.9
    assert piqa.loc["step1000", "value"] != 0.9
    assert df["loss"].isna().all()  # no loss source asked for: left missing, not invented


def test_identical_reimport_collapses_but_conflicts_fail(pythia_dir, tmp_path):
    f = pythia_dir / "pythia-70m/zero-shot/70m_step1000.json"
    once = import_lmeval(f)
    twice = import_lmeval([f, f])
    assert len(once) == len(twice)
    raw = json.loads(f.read_text())
    raw["results"]["piqa"]["acc"] = 0.99
    (tmp_path / "other.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match="disagree"):
        import_lmeval([f, tmp_path / "other.json"])


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        import_lmeval(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no lm-eval result files"):
        import_lmeval(tmp_path / "empty")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json: invalid JSON"):
        import_lmeval(bad)
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(DataError, match="no 'results'"):
        import_lmeval(other)
    with pytest.raises(OptionError, match="loss_from"):
        import_lmeval(other, loss_from="wikitext")


def test_measured_losses_take_precedence(pythia_dir):
    import pandas as pd

    f = pythia_dir / "pythia-70m/zero-shot/70m_step1000.json"
    losses = pd.DataFrame({"model": ["EleutherAI/pythia-v1.1-70m"], "checkpoint": ["step1000"],
                           "loss": [3.25]})
    df = import_lmeval(f, loss_from="lambada", losses=losses)
    assert (df["loss"] == 3.25).all() and set(df["loss_source"]) == {"measured"}


# --- malformed files: one-line DataErrors naming the file, never a traceback (issue 13) -------


def _v04(tmp_path, name="results_2024-01-01T00-00-00.json", **changes):
    """A minimal lm-eval 0.4 results file, with top-level keys replaced by ``changes``."""
    data = {
        "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.01}},
        "configs": {"arc_easy": {"output_type": "multiple_choice", "num_fewshot": 0}},
        "n-shot": {"arc_easy": 0},
        "n-samples": {"arc_easy": {"original": 100, "effective": 100}},
        "config": {"model": "hf", "model_args": "pretrained=org/model-70m,revision=main"},
    }
    data.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("changes", "words"), [
    ({"config": [1]}, "'config' must be a JSON object, got a list"),
    ({"n-samples": [100]}, "'n-samples' must be a JSON object"),
    ({"n-shot": [0]}, "'n-shot' must be a JSON object"),
    ({"configs": "x"}, "'configs' must be a JSON object"),
])
def test_wrong_json_types_are_named(tmp_path, changes, words):
    with pytest.raises(DataError, match=words) as info:
        import_lmeval(_v04(tmp_path, **changes))
    assert "results_2024" in str(info.value)


def test_odd_inner_entries_count_as_absent(tmp_path):
    # n-samples of a task given as a list, n-shot as a list: no n_eval / shots from them
    f = _v04(tmp_path, **{"n-samples": {"arc_easy": [1, 2]}, "n-shot": {"arc_easy": [0]},
                          "configs": {"arc_easy": {"num_fewshot": {"a": 1}}},
                          "group_subtasks": {"arc_easy": ["arc_easy"]}})
    df = import_lmeval(f)
    assert df["n_eval"].isna().all() and df["shots"].isna().all()
    df = import_lmeval(_v04(tmp_path, **{"n-samples": {"arc_easy": {"effective": 2.5}}}))
    from emergence_law.measure.lmeval import validate_imported

    with pytest.raises(DataError, match="whole number"):  # not silently truncated to 2
        validate_imported(df)


def test_samples_line_that_is_not_an_object(tmp_path):
    _v04(tmp_path)
    (tmp_path / "samples_arc_easy_2024-01-01T00-00-00.jsonl").write_text("[1,2]\n")
    with pytest.raises(DataError, match="row 1: each line must be a JSON object"):
        import_lmeval(tmp_path)


def test_latin1_and_deeply_nested_files(tmp_path):
    latin = tmp_path / "results_latin.json"
    latin.write_bytes('{"results": {"caf\u00e9": {"acc": 0.5}}}'.encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        import_lmeval(latin)
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        import_lmeval(tmp_path)  # found while searching a folder, too
    latin.unlink()
    deep = tmp_path / "results_deep.json"
    deep.write_text('{"results": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DataError, match="nested too deeply"):
        import_lmeval(deep)


def test_imported_rows_are_validated_like_loaded_ones(tmp_path):
    """--loss-from none used to write acc 1.7, params -5 and shots -3 unchecked."""
    from emergence_law.measure.lmeval import validate_imported

    bad = {"results": {"arc_easy": {"acc,none": 1.7}}}
    df = import_lmeval(_v04(tmp_path, **bad))
    with pytest.raises(DataError, match=r"results_2024.*acc must lie in \[0, 1\], got 1\.7"):
        validate_imported(df)
    df = import_lmeval(_v04(tmp_path, **{"n-shot": {"arc_easy": -3}}))
    with pytest.raises(DataError, match="shots.*negative|negative.*shots"):
        validate_imported(df)
    f = _v04(tmp_path, config={"model_args": "pretrained=org/model-70m,revision=main",
                               "model_num_parameters": -5})
    with pytest.raises(DataError, match="'params'.*negative"):
        validate_imported(import_lmeval(f))
    ok = validate_imported(import_lmeval(_v04(tmp_path)))
    assert ok["loss"].isna().all() and len(ok) == 1


def test_cli_import_refuses_bad_rows_in_one_line(tmp_path, capsys):
    from emergence_law.cli import main

    f = _v04(tmp_path, **{"results": {"arc_easy": {"acc,none": 1.7}}})
    assert main(["import-lmeval", str(f), "--loss-from", "none",
                 "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1.7" in err
    assert not (tmp_path / "o.csv").exists()


# --- tokens per step from the run's own batch size (issue 11 item 4) --------------------------


@pytest.mark.parametrize(("model", "fname", "per_step"), [
    ("EleutherAI/pythia-70m-0.25MtokBS", "70m-0.25MtokBS_step1000.json", 262_144),
    ("EleutherAI/pythia-1b-0.5MtokBS", "1b-0.5MtokBS_step1000.json", 524_288),
    # the batch size only in the file name (the older harness's model_args may omit it)
    ("EleutherAI/pythia-v1.1-70m", "70m-0.25MtokBS_step1000.json", 262_144),
    ("EleutherAI/pythia-v1.1-1.4b", "1.4b_step1000.json", 2_097_152),
])
def test_tokens_per_step_from_the_runs_batch(tmp_path, model, fname, per_step):
    raw = {"results": {"piqa": {"acc": 0.6}},
           "config": {"model_args": f"pretrained={model},revision=step1000", "num_fewshot": 0}}
    (tmp_path / fname).write_text(json.dumps(raw))
    df = import_lmeval(tmp_path / fname)
    assert df["tokens"].iloc[0] == 1000 * per_step
    assert df["flops"].iloc[0] == pytest.approx(6 * df["params"].iloc[0] * 1000 * per_step)


@pytest.mark.parametrize("model", ["EleutherAI/pythia-70m-smallBS", "org/unknown-70m"])
def test_unknown_tokens_per_step_is_left_empty_with_a_warning(tmp_path, model):
    from emergence_law.measure.lmeval import LmEvalImportWarning

    raw = {"results": {"piqa": {"acc": 0.6}},
           "config": {"model_args": f"pretrained={model},revision=step1000"}}
    (tmp_path / "r.json").write_text(json.dumps(raw))
    with pytest.warns(LmEvalImportWarning, match="--tokens-per-step"):
        df = import_lmeval(tmp_path / "r.json")
    assert df["tokens"].isna().all() and df["flops"].isna().all()
    assert df["tokens_source"].iloc[0].startswith("unknown")
    df = import_lmeval(tmp_path / "r.json", tokens_per_step=4096)
    assert df["tokens"].iloc[0] == 1000 * 4096
    with pytest.raises(OptionError, match="tokens_per_step"):
        import_lmeval(tmp_path / "r.json", tokens_per_step=-1)


def test_pythia_tokens_source_is_recorded(pythia_dir):
    df = import_lmeval(pythia_dir / "pythia-70m/zero-shot/70m_step1000.json")
    assert set(df["tokens_source"]) == {"pythia's standard batch"}
    assert (df["tokens"] == 1000 * 2_097_152).all()
