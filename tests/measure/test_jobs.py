"""run_job: the contract the sweep executors call, on real tiny models and the real store."""

from __future__ import annotations

import pytest

from emergence_law.errors import OptionError
from emergence_law.measure import jobs
from emergence_law.measure.jobs import run_job


@pytest.fixture
def base(tiny_lm):
    return {"model": str(tiny_lm), "checkpoint": "step150", "series": "tiny",
            "tokens": 150 * 12 * 48.0}


def test_loss_job_row(base, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("1+2=3\n\n4+4=8\n\n9+9=18")
    (row,) = run_job({**base, "kind": "loss", "corpus": str(corpus),
                      "hparams": {"batch_size": 2}})
    assert row["kind"] == "loss" and row["model"] == base["model"]
    assert row["checkpoint"] == "step150" and row["n_tokens"] > 0 and row["loss"] > 0
    assert row["params"] > 1e4  # counted from the model when not given


def test_fewshot_job_rows_have_no_loss_and_share_the_cached_model(base, addition_task_file):
    jobs.clear_model_cache()
    rows = run_job({**base, "kind": "fewshot", "task": str(addition_task_file), "shots": 1,
                    "hparams": {"limit": 8}})
    first = jobs.MODEL_CACHE._value
    rows2 = run_job({**base, "kind": "fewshot", "task": str(addition_task_file), "shots": 0,
                     "hparams": {"limit": 8}})
    assert jobs.MODEL_CACHE._value is first  # loaded once for consecutive jobs
    assert {r["metric"] for r in rows} >= {"acc", "logprob_norm"}
    assert all("loss" not in r for r in rows + rows2)
    assert {r["shots"] for r in rows} == {1} and {r["shots"] for r in rows2} == {0}
    assert all(r["n_eval"] == 8 and r["model"] == base["model"] for r in rows)


def test_finetune_job_rows(base, addition_task_file):
    rows = run_job({**base, "kind": "finetune", "task": str(addition_task_file), "n_train": 8,
                    "subset": 2, "method": "lora", "lora_rank": 2, "seed": 1,
                    "hparams": {"max_steps": 3, "eval_limit": 4}})
    assert {(r["setting"], r["n_train"], r["subset"], r["method"]) for r in rows} == {
        ("finetune", 8, 2, "lora-r2")}


def test_lmeval_job_on_a_task_file(base, addition_task_file):
    rows = run_job({**base, "kind": "lmeval", "task": str(addition_task_file), "shots": 2,
                    "hparams": {"limit": 6}})
    by = {r["metric"]: r for r in rows}
    assert {"acc", "acc_norm", "logprob", "logprob_norm", "prob_norm"} <= set(by)
    assert by["acc"]["shots"] == 2 and by["acc"]["n_eval"] == 6
    assert by["acc"]["checkpoint"] == "step150"


def test_rows_go_through_the_store_and_export(base, addition_task_file, tmp_path):
    """The store is the sweep's own: rows of a loss job and a few-shot job export joined."""
    from emergence_law.store import ResultStore

    corpus = tmp_path / "c.txt"
    corpus.write_text("1+2=3\n\n4+4=8")
    store = ResultStore(tmp_path / "s.sqlite")
    for d in ({**base, "kind": "loss", "corpus": str(corpus)},
              {**base, "kind": "fewshot", "task": str(addition_task_file), "shots": 1,
               "hparams": {"limit": 4}}):
        assert store.record_result(d, run_job(d))
    try:
        from emergence_law.sweep.export import export_observations
    except ImportError:  # pragma: no cover - the sweep area is not present
        pytest.skip("sweep export not available")
    table = export_observations(store).table
    loss = {r["loss"] for r in store.observation_rows() if r.get("kind") == "loss"}
    assert set(table["loss"]) == loss and len(table) == 5


@pytest.mark.parametrize("definition, match", [
    ({"kind": "train"}, "job.kind"),
    ({"kind": "fewshot"}, "job.model"),
    ({"kind": "loss", "model": "MODEL"}, "job.corpus"),
    ({"kind": "loss", "model": "MODEL", "corpus": "c.txt", "hparams": {"lr": 1}},
     "unknown loss setting"),
])
def test_bad_definitions_name_the_key(definition, match, tiny_lm):
    d = {k: (str(tiny_lm) if v == "MODEL" else v) for k, v in definition.items()}
    with pytest.raises(OptionError, match=match):
        run_job(d)


def test_missing_model_is_one_line(tmp_path):
    pytest.importorskip("torch")
    from emergence_law.measure.models import ModelLoadError

    with pytest.raises(ModelLoadError, match="folder not found"):
        run_job({"kind": "fewshot", "model": str(tmp_path / "nope"), "task": "addition"})
