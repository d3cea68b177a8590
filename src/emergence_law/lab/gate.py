"""The gate: finetuning must elicit, not teach. Every finetuning setting also runs on
never-pretrained models.

Why: if finetuning alone can teach the task (LAB-NOTES: with steps growing in D, a
randomly initialised model finetuned on the arithmetic lab's pool reached 0.88), then "finetuning
moves emergence earlier" says nothing about what pretraining stored, and the emergence law has
nothing to extrapolate. So each setting (method, data amount D, optimiser steps) is also run on
the step-0 checkpoint of every size, the same architecture and initialisation, never pretrained.
A setting whose control accuracy is above chance by a one-sided exact binomial test at the
evaluated number of items (pooled over the subset seeds) is **invalid**. The test is run per
size with no correction for the number of sizes, so the gate errs on the side of "invalid".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: one-sided significance level of the gate's binomial test
ALPHA = 0.05
CONTROL_FILE = "lab_control.csv"
CONTROL_COLUMNS = ("model", "params", "task", "method", "n_train", "subset", "steps",
                   "n_eval", "correct", "value", "chance")


def control_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The control measurements as a table (one row per size, method, D and subset seed).

    ``rows`` are the sweep's exported rows of the control recipe (accuracy only); ``correct``
    is the number of evaluated items answered right (accuracy x n_eval, rounded).
    """
    out = []
    for r in rows:
        if r.get("metric") != "acc":
            continue
        n = int(r["n_eval"])
        out.append({"model": r["model"], "params": int(r["params"]), "task": r["task"],
                    "method": r["method"], "n_train": int(r["n_train"]),
                    "subset": int(r["subset"]), "steps": int(r["train_steps"]),
                    "n_eval": n, "correct": int(round(float(r["value"]) * n)),
                    "value": float(r["value"]), "chance": float(r["chance"])})
    df = pd.DataFrame(out, columns=list(CONTROL_COLUMNS))
    return df.sort_values(["method", "n_train", "model", "subset"]).reset_index(drop=True)


def gate(control: pd.DataFrame, alpha: float = ALPHA) -> dict[str, Any]:
    """Each setting's control accuracy and verdict (``valid`` / ``invalid``).

    Per setting (method, n_train, steps) and size, the subset seeds are pooled: ``k`` correct of
    ``n`` evaluated, tested against chance with a one-sided exact binomial test. The setting is
    invalid if any size's p-value is below ``alpha``.
    """
    from scipy.stats import binomtest

    settings = []
    for (method, n_train, steps), g in control.groupby(["method", "n_train", "steps"],
                                                       sort=True):
        per_size = {}
        for model, s in g.groupby("model", sort=True):
            k, n = int(s["correct"].sum()), int(s["n_eval"].sum())
            chance = float(s["chance"].iloc[0])
            p = float(binomtest(k, n, chance, alternative="greater").pvalue)
            per_size[str(model)] = {"acc": k / n, "correct": k, "n": n, "p_value": p}
        k_all = sum(v["correct"] for v in per_size.values())
        n_all = sum(v["n"] for v in per_size.values())
        p_min = min(v["p_value"] for v in per_size.values())
        settings.append({"method": str(method), "n_train": int(n_train), "steps": int(steps),
                         "chance": float(g["chance"].iloc[0]), "control_acc": k_all / n_all,
                         "n": n_all, "per_size": per_size, "p_value_min": p_min,
                         "verdict": "invalid" if p_min < alpha else "valid"})
    invalid = [s for s in settings if s["verdict"] == "invalid"]
    if not settings:
        answer = "no control measurements: the gate was not run"
    elif invalid:
        names = ", ".join(f"{s['method']} D={s['n_train']} ({s['steps']} steps, control "
                          f"{s['control_acc']:.3f})" for s in invalid)
        answer = (f"{len(invalid)} of {len(settings)} finetuning settings are INVALID: a "
                  f"never-pretrained model rises above chance (one-sided binomial p < {alpha}) "
                  f"under {names}; their finetuned accuracy may be taught, not elicited")
    else:
        lo = min(s["control_acc"] for s in settings)
        hi = max(s["control_acc"] for s in settings)
        answer = (f"all {len(settings)} finetuning settings pass: never-pretrained controls "
                  f"stay at chance ({lo:.3f}-{hi:.3f}; no size above chance at p < {alpha})")
    return {"test": "one-sided exact binomial per size, subset seeds pooled", "alpha": alpha,
            "settings": settings, "n_invalid": len(invalid), "answer": answer}
