"""Finetuning (full and LoRA) on nested random subsets, with the train/eval overlap check."""

from __future__ import annotations

import json

import pytest

from emergence_law.errors import DataError, OptionError
from emergence_law.measure.finetune import (
    default_hparams,
    finetune_and_evaluate,
    subset_indices,
    training_pool,
)
from emergence_law.measure.tasks import load_task


def test_subsets_are_nested_across_sizes_and_differ_across_seeds():
    for seed in range(5):
        small, large = subset_indices(100, 16, seed), subset_indices(100, 64, seed)
        assert large[:16] == small and len(set(large)) == 64
    assert set(subset_indices(100, 16, 0)) != set(subset_indices(100, 16, 1))
    assert subset_indices(100, 16, 3) == subset_indices(100, 16, 3)  # reproducible
    with pytest.raises(OptionError, match="only 100"):
        subset_indices(100, 101, 0)


def test_overlap_between_train_and_eval_is_caught(tmp_path):
    rows = [{"prompt": "1+1=", "choices": ["2", "3"], "answer": 0, "split": "eval"},
            {"prompt": "1+1= ", "choices": ["2", "3"], "answer": 0, "split": "train"},
            {"prompt": "2+2=", "choices": ["4", "5"], "answer": 0, "split": "train"}]
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f)
    with pytest.raises(DataError, match="1 training example"):
        training_pool(task)
    assert [e.prompt for e in training_pool(task, drop_overlap=True)] == ["2+2="]


@pytest.fixture(scope="module")
def parity_task(tmp_path_factory):
    """'437=' -> '1' (odd) or '0': the last digit decides; held-out numbers in the eval split."""
    import random

    rng = random.Random(0)
    nums = rng.sample(range(100, 1000), 160)
    rows = [{"prompt": f"{a}=", "choices": ["0", "1"], "answer": a % 2,
             "split": "train" if i < 96 else "eval"} for i, a in enumerate(nums)]
    f = tmp_path_factory.mktemp("parity") / "parity.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f)
    task.target_delimiter = ""
    return task


def test_full_finetuning_learns_the_task(loaded_lm, parity_task):
    from emergence_law.measure.fewshot import evaluate_fewshot

    before = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, parity_task, shots=0)
    weights = {k: v.clone() for k, v in loaded_lm.model.state_dict().items()}
    res = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity_task, 96,
                                subset=0, hparams={"epochs": 8})
    after = res.eval
    assert res.train.final_loss < 0.5 * res.train.first_loss
    # held-out numbers: the rule was learned, not the training items
    assert after.metrics["acc"] > before.metrics["acc"] + 0.1
    assert after.metrics["logprob_norm"] > before.metrics["logprob_norm"] + 0.2
    # the original model is untouched (the model cache of a sweep relies on this)
    for k, v in loaded_lm.model.state_dict().items():
        assert (v == weights[k]).all()
    rows = res.to_rows(model="m", checkpoint="c")
    assert {r["setting"] for r in rows} == {"finetune"}
    assert {(r["n_train"], r["subset"], r["method"], r["shots"]) for r in rows} == {
        (96, 0, "full", 0)}


def test_lora_trains_only_rank_r_adapters(loaded_lm, parity_task):
    res = finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity_task, 32, subset=1,
                                method="lora", lora_rank=2, hparams={"epochs": 4},
                                eval_limit=16)
    cfg = loaded_lm.model.config
    d, inter, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    # rank r adapters on q,k,v,o (d x d), gate/up (d -> inter) and down (inter -> d) per layer
    per_layer = 4 * 2 * d + 2 * (d + inter) + (inter + d)
    assert res.train.trainable_params == 2 * per_layer * L
    assert res.method == "lora-r2" and res.train.final_loss < res.train.first_loss
    assert res.eval.n_eval == 16


def test_default_hparams_scale_with_size():
    small, big = default_hparams(1e5, "full"), default_hparams(7e9, "full")
    assert small.lr > big.lr
    assert default_hparams(7e9, "lora").lr > big.lr
    with pytest.raises(OptionError, match="method"):
        default_hparams(1e9, "adapter")


def test_bad_hparams_are_option_errors(loaded_lm, addition_task_file):
    task = load_task(addition_task_file)
    with pytest.raises(OptionError, match="unknown hyperparameter 'learning_rate'"):
        finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, task, 8,
                              hparams={"learning_rate": 1e-3})


def test_training_targets_end_with_eos_only_when_asked(loaded_lm, addition_task_file):
    from emergence_law.measure.finetune import FinetuneHparams, _training_batches, training_pool

    task = load_task(addition_task_file)
    tok = loaded_lm.tokenizer
    examples = training_pool(task)[:4]
    with_eos = _training_batches(tok, task, examples, 512)
    without = _training_batches(tok, task, examples, 512, append_eos=False)
    for (ids_e, lab_e), (ids_n, lab_n) in zip(with_eos, without, strict=True):
        assert ids_e[-1] == tok.eos_token_id and lab_e[-1] == tok.eos_token_id
        assert ids_e[:-1] == ids_n and lab_e[:-1] == lab_n  # only the EOS differs
    hp = FinetuneHparams.from_dict({"append_eos": "false"})
    assert hp.append_eos is False
    with pytest.raises(OptionError, match="append_eos must be true or false"):
        FinetuneHparams.from_dict({"append_eos": "maybe"})
