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
def parity_task(tmp_path_factory, make_parity_task):
    """'437=' -> '1' (odd) or '0': the last digit decides; held-out numbers in the eval split."""
    return make_parity_task(tmp_path_factory.mktemp("parity"), seed=0, n_train=96)


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


def test_packed_rows_join_examples_in_the_fewshot_format(loaded_lm, addition_task_file):
    """pack=k: k solved examples per sequence, joined by the task's few-shot delimiter (the
    k-shot prompt format), with the loss on every answer and on nothing else."""
    from emergence_law.measure.finetune import (
        FinetuneHparams,
        _Rows,
        _training_batches,
        training_pool,
    )

    task = load_task(addition_task_file)
    tok = loaded_lm.tokenizer
    examples = training_pool(task)[:5]
    hp = FinetuneHparams.from_dict({"pack": 3, "append_eos": False})
    ids, labels = _Rows(tok, task, examples, 512, hp)([0, 3, 4])
    text = "".join(ex.prompt + task.target_delimiter + ex.answer_text + task.fewshot_delimiter
                   for ex in (examples[0], examples[3], examples[4]))
    assert tok.decode(ids, skip_special_tokens=True) == text.removesuffix(task.fewshot_delimiter)
    answers = [tok.decode([t for t, y in zip(ids, labels, strict=True) if y != -100])]
    assert answers == ["".join(examples[i].answer_text for i in (0, 3, 4))]
    # pack=1 is the unpacked format, unchanged
    one = _Rows(tok, task, examples, 512, FinetuneHparams.from_dict({"pack": 1}))
    assert one([2]) == _training_batches(tok, task, examples, 512)[2]
    with pytest.raises(OptionError, match="schedule must be one of linear, constant"):
        FinetuneHparams.from_dict({"schedule": "cosine"})


def test_packed_constant_rate_finetuning_trains_every_answer(loaded_lm, parity_task):
    res = finetune_and_evaluate(
        loaded_lm.model, loaded_lm.tokenizer, parity_task, 32, 0,
        hparams={"pack": 4, "schedule": "constant", "warmup_ratio": 0.0, "max_steps": 6,
                 "min_steps": 6, "batch_size": 4, "append_eos": False, "max_grad_norm": None})
    assert res.train.steps == 6 and res.hparams.pack == 4
    assert res.train.final_loss < res.train.first_loss
    with pytest.raises(OptionError, match="pack must be at least 1"):
        finetune_and_evaluate(loaded_lm.model, loaded_lm.tokenizer, parity_task, 8,
                              hparams={"pack": 0})


def test_lora_finetuning_is_reproducible_whatever_the_global_rng_state(loaded_lm, parity_task):
    """LoRA's adapter init draws from torch's global generator: finetuning must seed it, or the
    same job gives different numbers in different processes (found in the lab's shipped run)."""
    import torch

    from emergence_law.measure.finetune import finetune_model, training_pool

    examples = training_pool(parity_task)[:16]
    hp = default_hparams(1e5, "lora")
    hp.max_steps = hp.min_steps = 3
    weights = []
    for state in (1, 2):
        torch.manual_seed(state)
        torch.rand(100)
        tuned, _ = finetune_model(loaded_lm.model, loaded_lm.tokenizer, parity_task, examples,
                                  method="lora", hparams=hp, seed=5)
        weights.append({k: v.clone() for k, v in tuned.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    trained = [k for k in weights[0] if "lora_B" in k]
    assert trained and any(weights[0][k].abs().sum() > 0 for k in trained)  # it did train
