"""The built-in few-shot evaluator on a real tiny model: prefix sharing is exact, metrics agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emergence_law.measure.fewshot import PrefixScorer, evaluate_fewshot
from emergence_law.measure.tasks import load_task


def test_prefix_cache_scores_equal_full_sequence_scores(loaded_lm, addition_task_file):
    task = load_task(addition_task_file)
    prefix = task.fewshot_prefix()
    reqs = [(prefix + ex.prompt, c) for ex in task.examples()[:6] for c in ex.choices]
    # requests that do not start with the prefix (as after a BPE merge) take the plain path
    reqs += [("7+7=", "14"), ("", "1+1=2")]
    shared = PrefixScorer(loaded_lm.model, loaded_lm.tokenizer, prefix, batch_size=7)
    got = shared.score(reqs)
    plain = PrefixScorer(loaded_lm.model, loaded_lm.tokenizer, prefix, batch_size=7)
    plain.cache = None  # forces every request down the no-cache path
    want = plain.score(reqs)
    np.testing.assert_allclose([g[0] for g in got], [w[0] for w in want], atol=1e-4)
    assert [g[1] for g in got] == [w[1] for w in want]
    # prefix once + ceil(24 / 7) shared batches + one plain batch
    assert shared.n_forward == 1 + math.ceil(24 / 7) + 1


def test_multiple_choice_metrics_are_consistent(loaded_lm, addition_task_file):
    task = load_task(addition_task_file)
    res = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, task, batch_size=16)
    df = res.per_example
    assert res.n_eval == 48 and res.shots == 3 and res.chance == pytest.approx(0.25)
    # probabilities normalised over choices sum to one, and acc is argmax of the log-likelihoods
    for lls in df["choice_logprobs"]:
        p = np.exp(np.array(lls) - np.logaddexp.reduce(lls))
        assert p.sum() == pytest.approx(1.0)
    assert (df["logprob_norm"] <= 0).all()
    assert res.metrics["acc"] == pytest.approx(
        np.mean([np.argmax(lls) == g for lls, g in zip(df["choice_logprobs"], df["gold"],
                                                       strict=True)]))
    rows = res.to_rows(model="m", checkpoint="c", loss=1.0)
    by = {r["metric"]: r for r in rows}
    assert set(by) == {"acc", "acc_norm", "logprob", "logprob_norm", "prob_norm"}
    assert by["logprob_norm"]["log_chance"] == pytest.approx(math.log(0.25))
    assert by["prob_norm"]["chance"] == pytest.approx(0.25) and by["logprob"]["chance"] is None
    assert 0 < by["prob_norm"]["value"] < 1
    assert all(r["setting"] == "fewshot" and r["shots"] == 3 for r in rows)
    assert "acc" in res.summary()


def test_trained_model_beats_untrained_on_continuous_metric(tiny_lm, addition_task_file):
    """A weak model is near chance in accuracy, but the continuous metric already separates."""
    from emergence_law.measure.models import load_model
    from emergence_law.tinylm import build_tiny_model

    task = load_task(addition_task_file)
    trained = load_model(tiny_lm)
    fresh = build_tiny_model(len(trained.tokenizer), max_len=256, seed=5)
    good = evaluate_fewshot(trained.model, trained.tokenizer, task)
    bad = evaluate_fewshot(fresh, trained.tokenizer, task)
    assert good.metrics["logprob"] > bad.metrics["logprob"] + 1.0


def test_generative_exact_match_equals_hf_greedy_generate(loaded_lm, addition_gen_file):
    import torch

    task = load_task(addition_gen_file)
    res = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, task)
    tok, model = loaded_lm.tokenizer, loaded_lm.model
    prefix = task.fewshot_prefix()
    for ex, row in zip(task.examples()[:4], res.per_example.itertuples(), strict=False):
        ids = torch.tensor([tok(prefix + ex.prompt).input_ids])
        out = model.generate(ids, max_new_tokens=task.max_new_tokens, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).split("\n")[0].strip()
        assert row.output == text
    assert res.metrics["exact_match"] == pytest.approx(res.per_example["exact_match"].mean())
    assert res.chance == 0.0


def test_shots_override_and_zero_shot(loaded_lm, addition_task_file):
    task = load_task(addition_task_file, shots=0)
    assert task.fewshot_prefix() == ""
    res = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, task, limit=8)
    assert res.shots == 0 and res.n_eval == 8


def test_fewshot_examples_from_the_eval_split_are_not_scored(loaded_lm, tmp_path):
    import json

    rows = [{"prompt": f"{i}+1=", "choices": [str(i + 1), str(i + 2)], "answer": 0}
            for i in range(10)]
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_task(f)
    task.fewshot_split = task.eval_split = "eval"
    res = evaluate_fewshot(loaded_lm.model, loaded_lm.tokenizer, task, shots=3)
    assert res.n_eval == 7 and set(res.per_example["index"]) == set(range(3, 10))
