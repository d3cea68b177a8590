"""The exact pass rate of an instance under a sampler, by teacher forcing instead of sampling.

Why: when a checker accepts exactly the completions that begin with one of a few token
sequences ("accepted prefixes": every completion that starts with one passes, every other one
fails), the probability that one sample passes is a sum of products of next-token
probabilities, all computable from one forward pass of prompt + prefix. For a sampler with
temperature ``T`` and nucleus ``top_p`` the next-token distribution is
``softmax(warp(logits))`` (the warpers :class:`~emergence_law.passuntil.generators.HFGenerator`
samples with), so the teacher-forced product is the sampled distribution's probability, not an
approximation; the only difference from sampling is float rounding between the generator's
cached decoding and one full forward pass.

The prefixes must be mutually exclusive (none a prefix of another) and each must be
generable: no end-of-sequence or stop token before its last position (the generator stops
there), at most ``max_new_tokens`` long. Given a subset of the accepted prefixes the sum is a
lower bound on the pass rate; the caller says which it is (the lab's tasks:
:mod:`emergence_law.lab.expected_rate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emergence_law.errors import SettingError


def _check_prefixes(gen: Any, prefixes: Sequence[Sequence[int]]) -> list[list[int]]:
    out = [list(map(int, p)) for p in prefixes]
    if not out:
        raise SettingError("prefixes", "no accepted prefix given")
    ends = set(getattr(gen, "_stop_ids", None) or ())
    if gen.eos_id is not None:
        ends.add(int(gen.eos_id))
    for p in out:
        if not p or len(p) > gen.max_new_tokens:
            raise SettingError("prefixes", f"prefix {p} must hold 1..{gen.max_new_tokens} tokens "
                               "(the generator's max_new_tokens)")
        if any(t in ends for t in p[:-1]):
            raise SettingError("prefixes", f"prefix {p} stops the generator before its end")
    seen = {tuple(p) for p in out}
    if len(seen) != len(out):
        raise SettingError("prefixes", "a prefix is given twice")
    for p in out:
        if any(tuple(p[:k]) in seen for k in range(1, len(p))):
            raise SettingError("prefixes", f"prefix {p} extends another accepted prefix "
                               "(they must be mutually exclusive)")
    return out


def prefix_log_probs(gen: Any, prompt: str, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
    """log P(a sample of ``gen`` after ``prompt`` starts with each prefix), one per prefix.

    ``gen``: an :class:`~emergence_law.passuntil.generators.HFGenerator` (its model, its
    prompt encoding with BOS, its temperature / top-p warp). One right-padded batch: causal
    attention leaves every scored position untouched by the padding.
    """
    import torch

    prefixes = _check_prefixes(gen, prefixes)
    ids = gen.encode(prompt)
    n0 = len(ids)
    width = n0 + max(len(p) for p in prefixes) - 1
    pad = 0 if gen.tokenizer.pad_token_id is None else int(gen.tokenizer.pad_token_id)
    batch = torch.full((len(prefixes), width), pad, dtype=torch.long, device=gen.device)
    for i, p in enumerate(prefixes):
        row = (ids + p)[:width]  # the last prefix token is scored, never fed
        batch[i, : len(row)] = torch.tensor(row, device=gen.device)
    with torch.inference_mode():
        logits = gen.model(input_ids=batch).logits.float()
    out = np.zeros(len(prefixes))
    for i, p in enumerate(prefixes):
        rows = logits[i, n0 - 1 : n0 - 1 + len(p)]
        logp = torch.log_softmax(gen._warp(rows).double(), dim=-1)
        out[i] = float(logp[torch.arange(len(p)), torch.tensor(p, device=gen.device)].sum())
    return out


def pass_probability(gen: Any, prompt: str, prefixes: Sequence[Sequence[int]]) -> float:
    """P(one sample passes) = the sum of the accepted prefixes' probabilities (exact when the
    prefixes are every accepted one, a lower bound when they are some)."""
    return float(np.exp(prefix_log_probs(gen, prompt, prefixes)).sum())


def answer_then_eos_probability(gen: Any, prompt: str, answer: str) -> float:
    """P(one sample is exactly ``answer`` then EOS): the exact-match pass rate of a generator
    that stops at EOS, by teacher forcing under its warp (``pass_probability`` of one prefix)."""
    ans = gen.tokenizer(answer, add_special_tokens=False)["input_ids"]
    return pass_probability(gen, prompt, [[*ans, int(gen.eos_id)]])
