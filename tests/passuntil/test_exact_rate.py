"""Exact pass rates by teacher forcing (passuntil/exact_rate.py) against brute-force sampling
of HFGenerator, with a temperature and a nucleus other than 1, on the tiny a+b=c models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("torch")
pytest.importorskip("transformers")

from emergence_law.errors import SettingError  # noqa: E402
from emergence_law.passuntil.exact_rate import pass_probability, prefix_log_probs  # noqa: E402
from emergence_law.passuntil.generators import HFGenerator  # noqa: E402

PROBLEMS = [("3+4=", "7"), ("12+5=", "17"), ("9+9=", "18"), ("15+2=", "17"), ("6+11=", "17")]


def _gen(path, answer_len: int, seed: int) -> HFGenerator:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return HFGenerator(AutoModelForCausalLM.from_pretrained(path),
                       AutoTokenizer.from_pretrained(path), temperature=1.5, top_p=0.9,
                       max_new_tokens=answer_len, stop=(), seed=seed)


@pytest.mark.parametrize("size", [16, 32])
def test_exact_rate_agrees_with_sampling(tiny_lms, size):
    """Checker: the completion equals the answer; with max_new_tokens = len(answer) and one
    character per token, the answer's tokens are the only accepted prefix (a special token
    decodes to nothing, leaving the text too short). Power, measured on d16: the same rates
    without the temperature / top-p warp are rejected by the pooled test (z = 6.4)."""
    n = 6000
    pvals, rates, total = [], [], 0
    for i, (prompt, answer) in enumerate(PROBLEMS):
        gen = _gen(tiny_lms[size], len(answer), seed=i)
        ids = gen.tokenizer(answer, add_special_tokens=False)["input_ids"]
        p = pass_probability(gen, prompt, [ids])
        passes = sum(out == answer for out in gen.sample(prompt, n))
        pvals.append(stats.binomtest(passes, n, p).pvalue)
        rates.append(p)
        total += passes
    rates = np.array(rates)
    assert max(rates) > 2e-3  # rates the samples resolve
    assert min(pvals) > 0.01 / len(pvals)
    z = (total - n * rates.sum()) / np.sqrt(n * np.sum(rates * (1 - rates)))
    assert abs(z) < 3  # pooled over the problems


def test_a_subset_of_the_accepted_prefixes_is_a_lower_bound(tiny_lms):
    gen = _gen(tiny_lms[16], 2, seed=0)
    one, two = gen.tokenizer("1", add_special_tokens=False)["input_ids"], \
        gen.tokenizer("2", add_special_tokens=False)["input_ids"]
    both = pass_probability(gen, "9+9=", [one, two])
    assert pass_probability(gen, "9+9=", [one]) < both
    lp = prefix_log_probs(gen, "9+9=", [one, two])
    assert both == pytest.approx(np.exp(lp).sum())


def test_prefixes_must_be_generable_and_exclusive(tiny_lms):
    gen = _gen(tiny_lms[16], 2, seed=0)
    a = gen.tokenizer("1", add_special_tokens=False)["input_ids"]
    with pytest.raises(SettingError, match="extends"):
        pass_probability(gen, "9+9=", [a, a + a])
    with pytest.raises(SettingError, match="1..2 tokens"):
        pass_probability(gen, "9+9=", [a * 3])
    with pytest.raises(SettingError, match="stops the generator"):
        pass_probability(gen, "9+9=", [[gen.eos_id, a[0]]])
    with pytest.raises(SettingError, match="no accepted"):
        pass_probability(gen, "9+9=", [])
