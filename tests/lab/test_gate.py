"""The gate's verdicts: a control at chance passes, a control that learned fails, tested at the
evaluated number of items (a rise of a few points is only significant with enough items)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence_law.lab.gate import gate


def _control(acc_by_model: dict[str, float], n_eval: int = 500, subsets=(0, 1),
             rng: np.random.Generator | None = None) -> pd.DataFrame:
    rows = []
    for model, acc in acc_by_model.items():
        for s in subsets:
            k = int(rng.binomial(n_eval, acc)) if rng is not None else int(round(acc * n_eval))
            rows.append({"model": model, "params": 1000, "task": "t", "method": "full",
                         "n_train": 64, "subset": s, "steps": 60, "n_eval": n_eval,
                         "correct": k, "value": k / n_eval, "chance": 0.25})
    return pd.DataFrame(rows)


def test_controls_at_chance_pass_and_a_learned_control_fails():
    ok = gate(_control({"a": 0.25, "b": 0.26}))
    assert ok["n_invalid"] == 0 and ok["settings"][0]["verdict"] == "valid"
    assert "pass" in ok["answer"]
    bad = gate(_control({"a": 0.25, "b": 0.32}))  # 0.32 of 1,000 items: z = 5
    s = bad["settings"][0]
    assert s["verdict"] == "invalid" and s["per_size"]["b"]["p_value"] < 1e-4
    assert "INVALID" in bad["answer"]


def test_the_gate_is_tested_at_the_evaluated_n():
    # the same 0.28 is noise at 2 x 40 items and a rise at 2 x 2,000
    assert gate(_control({"a": 0.28}, n_eval=40))["n_invalid"] == 0
    assert gate(_control({"a": 0.28}, n_eval=2000))["n_invalid"] == 1


def test_false_alarm_rate_at_chance_is_at_most_alpha_per_size():
    rng = np.random.default_rng(0)
    flags = [gate(_control({"a": 0.25}, rng=rng))["n_invalid"] for _ in range(200)]
    # exact binomial is conservative: at most 5% (+ 3 standard errors of 200 trials)
    assert np.mean(flags) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)
