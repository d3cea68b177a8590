"""A real lm-eval-harness run on a tiny local model, its files imported (0.4 format)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("lm_eval")


@pytest.fixture(scope="module")
def harness_run(loaded_lm, addition_task_file, tmp_path_factory):
    """lm-eval on a local-data task exported from our task file; results and samples on disk."""
    from emergence_law.measure.lmeval import run_lmeval
    from emergence_law.measure.tasks import load_task

    task = load_task(addition_task_file)
    out = tmp_path_factory.mktemp("lmeval")
    include = task.to_lmeval(out / "tasks")
    results = run_lmeval(loaded_lm.model, loaded_lm.tokenizer, ["addition_mc"],
                         model_name="tiny/add-64", revision="step150", include_path=include,
                         output_path=out / "results", batch_size=16)
    return task, results, out / "results"


def test_harness_and_builtin_evaluator_agree_exactly(loaded_lm, harness_run):
    from emergence_law.measure.fewshot import evaluate_fewshot

    task, results, _ = harness_run
    ours = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, task)
    theirs = results["results"]["addition_mc"]
    assert ours.metrics["acc"] == theirs["acc,none"]
    assert ours.metrics["acc_norm"] == theirs["acc_norm,none"]
    # same prompts, same per-choice log-likelihoods
    samples = sorted(results["samples"]["addition_mc"], key=lambda s: s["doc_id"])
    ex0 = task.examples()[0]
    assert samples[0]["arguments"][0][0] == task.fewshot_prefix() + ex0.prompt  # not rewritten
    theirs_ll = [[float(r[0]) for r in s["filtered_resps"]] for s in samples]
    np.testing.assert_allclose(np.concatenate(ours.per_example["choice_logprobs"].tolist()),
                               np.concatenate(theirs_ll), atol=1e-4)


def test_harness_output_files_import_with_per_sample_logprobs(harness_run):
    from emergence_law.measure.lmeval import import_lmeval, read_lmeval_samples
    from emergence_law.observations import validate_observations

    _, results, folder = harness_run
    files = sorted(folder.rglob("*"))
    assert any(f.name.startswith("results_") for f in files)
    assert any(f.name.startswith("samples_addition_mc_") for f in files)
    df = import_lmeval(folder)
    by = df.set_index("metric")
    assert set(by.index) == {"acc", "acc_norm", "logprob", "logprob_norm", "prob_norm"}
    assert by.loc["acc", "value"] == results["results"]["addition_mc"]["acc,none"]
    assert by.loc["acc", "model"] == "tiny/add-64" and by.loc["acc", "checkpoint"] == "step150"
    assert by.loc["acc", "shots"] == 3 and by.loc["acc", "n_eval"] == 48
    assert by.loc["acc", "chance"] == pytest.approx(0.25)  # from the samples' choice counts
    assert by.loc["logprob_norm", "log_chance"] == pytest.approx(math.log(0.25))
    assert by.loc["prob_norm", "chance"] == pytest.approx(0.25)
    # per-sample figures agree with the aggregate and with the raw log-likelihoods
    per = read_lmeval_samples(folder)
    assert len(per) == 48
    assert by.loc["logprob_norm", "value"] == pytest.approx(per["logprob_norm"].mean())
    lls = np.array(json.loads(per["choice_logprobs"].iloc[0]))
    assert per["logprob_norm"].iloc[0] == pytest.approx(
        lls[per["gold"].iloc[0]] - np.logaddexp.reduce(lls))
    assert per["acc"].mean() == pytest.approx(by.loc["acc", "value"])
    df["loss"] = 1.0
    validate_observations(df)


def test_in_memory_rows_match_imported_rows(harness_run):
    from emergence_law.measure.lmeval import import_lmeval, lmeval_results_to_rows

    _, results, folder = harness_run
    mem = {r["metric"]: r for r in lmeval_results_to_rows(results, model="tiny/add-64")}
    disk = import_lmeval(folder).set_index("metric")
    for m in ("acc", "acc_norm", "logprob", "logprob_norm", "prob_norm"):
        assert mem[m]["value"] == pytest.approx(disk.loc[m, "value"])
        if mem[m]["chance"] is not None:
            assert mem[m]["chance"] == pytest.approx(disk.loc[m, "chance"])


def test_unknown_harness_task_is_an_option_error(loaded_lm, harness_run, tmp_path):
    from emergence_law.errors import OptionError
    from emergence_law.measure.lmeval import run_lmeval

    task, _, _ = harness_run
    include = task.to_lmeval(tmp_path)
    with pytest.raises(OptionError, match="unknown lm-eval task"):
        run_lmeval(loaded_lm.model, loaded_lm.tokenizer, ["no_such_task_xyz"],
                   include_path=include, builtin_tasks=False)
