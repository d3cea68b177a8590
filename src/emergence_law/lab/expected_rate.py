"""Each lab instance's exact PassUntil pass rate, by teacher forcing (:mod:`emergence_law.passuntil.exact_rate`).

Why: PassUntil's budget should follow the rate it has to resolve (``r / p`` samples on
average), and a rate known exactly also checks PassUntil itself. Both lab tasks are exact
match under :class:`~emergence_law.passuntil.generators.HFGenerator` (temperature 1, top-p 1,
the stop string, ``max_new_tokens``; completions decoded with special tokens skipped), so the
completions that pass are exactly those starting with a few token sequences, and the sum of
their teacher-forced probabilities **is** the pass rate, not a bound:

- ``arithmetic`` (``mul``, 4 new tokens, stop ``;``, checker ``out.strip()[:4] == answer``):
  every token is one character or a special token that decodes to nothing, and no character
  is whitespace, so the stripped text has 4 characters only if all 4 tokens are characters:
  a sample passes iff its tokens are the answer's 4 digits. One prefix.
- ``facts`` (``facts``, 2 new tokens, stop ``.``, checker: the first word is the value):
  the value token first (whatever follows), or a special token that decodes to nothing and
  does not stop generation (``<pad>``, ``<unk>``, ``<s>``: not ``</s>``) and then the value.
  Every other first token is a different word, the stop, or ``</s>``. 1 + 3 prefixes.

``tests/lab/test_expected_rate.py`` checks both sets by decoding and checking every possible
completion (all 19^4 of arithmetic, all V^2 of facts-tiny), and the rates against
brute-force sampling of real trained lab models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emergence_law.errors import SettingError

#: PassUntil's censoring probability per instance when its budget follows its exact rate
CENSOR_ALPHA = 0.05
#: the decoding length each family's prefix sets assume (:func:`emergence_law.lab.families.generative_of`)
_MAX_NEW = {"arithmetic": 4, "facts": 2}


def accepted_prefixes(family: str, tokenizer: Any, answer: str,
                      max_new_tokens: int) -> list[list[int]]:
    """Every token sequence whose completions all pass (see the module docstring); exact."""
    if _MAX_NEW.get(family) != max_new_tokens:
        raise SettingError("family", f"the accepted completions of {family!r} are derived for "
                           f"{_MAX_NEW.get(family)} new tokens, not {max_new_tokens}")
    ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    if family == "arithmetic":
        if len(ids) != 4:
            raise SettingError("answer", f"{answer!r} is not 4 one-character tokens")
        return [ids]
    if len(ids) != 1:
        raise SettingError("answer", f"{answer!r} is not one word of the facts vocabulary")
    silent = sorted(set(tokenizer.all_special_ids) - {tokenizer.eos_token_id})
    return [ids, *[[s, ids[0]] for s in silent]]


def expected_rates(gen: Any, family: str, prompts: Sequence[str],
                   answers: Sequence[str]) -> np.ndarray:
    """The exact pass rate of each (prompt, answer) under ``gen``'s sampler."""
    from emergence_law.passuntil.exact_rate import pass_probability

    return np.array([pass_probability(gen, prompt, accepted_prefixes(
        family, gen.tokenizer, answer, gen.max_new_tokens))
        for prompt, answer in zip(prompts, answers, strict=True)])
