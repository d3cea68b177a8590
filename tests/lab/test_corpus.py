"""The lab's corpus and task: formats, the real tokenizer, held-out items, and true chance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from emergence_law.lab.corpus import (
    ANSWER_LEN,
    ANSWER_OFFSET,
    BOS_ID,
    EQ_LEN,
    VOCAB,
    VOCAB_SIZE,
    CorpusConfig,
    TaskSplit,
    encode,
    equation,
    sample_rows,
)


def test_equations_are_fixed_width_and_correct():
    assert equation("mul", 37, 6) == "037*006=0222;"
    assert equation("add", 999, 999) == "999+999=1998;"
    assert equation("sub", 12, 500) == "500-012=0488;"  # operands ordered so a >= b
    for op in ("add", "sub", "mul"):
        assert len(equation(op, 123, 7)) == EQ_LEN


def test_rows_match_the_real_char_tokenizer():
    pytest.importorskip("transformers")
    from emergence_law.tinylm import build_char_tokenizer

    tok = build_char_tokenizer(VOCAB)
    assert len(tok) == VOCAB_SIZE
    ids, mask = sample_rows(CorpusConfig(), TaskSplit.make(), 8, np.random.default_rng(0))
    for row, m in zip(ids, mask, strict=True):
        text = tok.decode(row, skip_special_tokens=True)
        assert list(tok(text).input_ids) == list(row)  # BOS + characters, as the evaluator sees
        assert row[0] == BOS_ID
        # the loss mask covers exactly the answer digits of every equation
        eqs = text.split(";")[:-1]
        for j, eq in enumerate(eqs):
            a, op, b, c = int(eq[:3]), eq[3], int(eq[4:7]), int(eq[8:12])
            assert c == {"+": a + b, "-": a - b, "*": a * b}[op]
            start = 1 + j * EQ_LEN + ANSWER_OFFSET
            assert m[start:start + ANSWER_LEN].all()
        assert m.sum() == len(eqs) * ANSWER_LEN
    assert encode("0;") == [tok.convert_tokens_to_ids(c) for c in "0;"]


def test_evaluated_items_never_appear_in_training_data():
    split = TaskSplit.make(n_eval=600)
    held = {tuple(x) for x in split.eval_items}
    assert len(held) == 600 and not held & {tuple(x) for x in split.pool_items}
    cfg = CorpusConfig(mixture={"add": 0.0, "sub": 0.0, "mul": 1.0}, eqs_per_row=4)
    ids, _ = sample_rows(cfg, split, 500, np.random.default_rng(1))
    digits = ids[:, 1:].reshape(-1, EQ_LEN) - encode("0")[0]
    a = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    b = digits[:, 6]
    assert not held & set(zip(a.tolist(), b.tolist(), strict=True))


def test_multiple_choice_chance_is_one_in_four_for_any_b_blind_scorer():
    """Distractors are products a*b' with b' uniform: a scorer that ignores b (here: 'pick the
    largest product', which uses a and the choices) must be right 1/4 of the time."""
    pytest.importorskip("transformers")
    from emergence_law.lab.task import multiple_choice_task

    task = multiple_choice_task(TaskSplit.make(n_eval=2000), n_eval=2000, shots=3)
    exs = task.examples()
    for rule in (np.argmax, np.argmin):
        hits = sum(int(rule([int(c) for c in ex.choices]) == ex.answer) for ex in exs)
        assert binomtest(hits, len(exs), 0.25).pvalue > 0.001, (rule, hits / len(exs))
    assert task.chance_level() == 0.25
    assert {ex.prompt for ex in exs}.isdisjoint({ex.prompt for ex in task.examples("train")})
