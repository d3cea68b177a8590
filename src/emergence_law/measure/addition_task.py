"""A small generated task, addition (``a+b=`` -> the sum), written in the task format.

Handy for tests, demos and the toy lab (whose tiny models are trained on addition facts): the
problems are drawn from a seed, so the same call writes the same files. Loaded like any task
file with :func:`emergence_law.measure.tasks.load_task`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from emergence_law.errors import DataError


def make_addition_task(
    out_dir: str | Path, n_train: int = 64, n_eval: int = 64, *, seed: int = 0,
    max_operand: int = 20, n_choices: int = 4, shots: int = 3, kind: str = "multiple_choice",
) -> Path:
    """Write a small addition task (``a+b=`` → the sum) as YAML + JSONL; return the YAML path.

    Train and eval problems are disjoint; distractors are nearby wrong sums. Handy for tests,
    demos and the toy lab, whose tiny models are trained on addition facts.
    """
    import yaml

    rng = random.Random(seed)
    all_pairs = [(a, b) for a in range(max_operand + 1) for b in range(max_operand + 1)]
    rng.shuffle(all_pairs)
    if n_train + n_eval > len(all_pairs):
        raise DataError(f"only {len(all_pairs)} distinct problems with max_operand={max_operand}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def record(a: int, b: int) -> dict:
        s = a + b
        if kind == "generate":
            return {"a": a, "b": b, "answer": str(s)}
        wrong = set()
        while len(wrong) < n_choices - 1:
            w = s + rng.choice([-3, -2, -1, 1, 2, 3, 10, -10])
            if w >= 0 and w != s:
                wrong.add(w)
        choices = [str(x) for x in [s, *sorted(wrong)]]
        rng.shuffle(choices)
        return {"a": a, "b": b, "choices": choices, "answer": choices.index(str(s))}

    for split, pairs in (("train", all_pairs[:n_train]),
                         ("eval", all_pairs[n_train:n_train + n_eval])):
        with open(out / f"{split}.jsonl", "w") as fh:
            for a, b in pairs:
                fh.write(json.dumps(record(a, b)) + "\n")
    spec = {"name": f"addition-{'mc' if kind != 'generate' else 'gen'}", "kind": kind,
            "template": "{a}+{b}=", "target_delimiter": "",
            "fewshot": {"shots": shots, "split": "train", "sampler": "first_n",
                        "delimiter": "\n"},
            "splits": {"train": "train.jsonl", "eval": "eval.jsonl"}, "until": ["\n"],
            "max_new_tokens": 4}
    path = out / "task.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
