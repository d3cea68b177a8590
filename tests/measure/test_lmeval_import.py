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
