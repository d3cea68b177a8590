"""Draw a realistic observation table from a known emergence law.

Used by tests (parameter recovery, interval calibration), benchmarks and the interim demo. The
design follows the paper: checkpoints of one model series spanning a loss range, finetuned at
several data levels D with two or more random subsets each (each subset run adds its own noise,
as a different random training subset does), few-shot rows at ``D0 = shots`` and binomial
evaluation noise from ``n_eval`` questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.laws import emergence_point_paper, performance
from emergence_law.observations import rows_to_frame, validate_observations

DEFAULT_LEVELS = (30, 100, 300, 1000, 3000)


def simulate_observations(
    *,
    form: str = "log_power",
    k: float = 0.0526,
    alpha: float = 1.0,
    C: float = 1.765,
    A: float = 1.2,
    chance: float = 0.25,
    delta: float = 0.0,
    shots: int = 5,
    data_levels: Sequence[int] = DEFAULT_LEVELS,
    n_subsets: int = 2,
    n_checkpoints: int = 25,
    loss_range: tuple[float, float] = (1.6, 2.6),
    n_eval: int = 3000,
    subset_sd: float = 0.01,
    task: str = "simtask",
    series: str = "sim",
    seed: int | np.random.Generator | None = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate one task's observation table; return ``(table, truth)``.

    Performance is ``chance + A * ReLU(E(D) - loss)`` (+ ``delta`` for few-shot rows at
    ``D0 = shots``), capped below 1; each finetuned (checkpoint, D, subset) run adds Gaussian
    subset noise ``subset_sd``; every number is then a binomial proportion over ``n_eval``
    questions. Checkpoint losses are spread over ``loss_range`` with a little jitter.

    ``truth`` holds the law's parameters, ``emergence_point`` (the true few-shot elbow
    ``E(D0)``), ``elbows`` per data level, and ``d0``.
    """
    rng = np.random.default_rng(seed)
    lo, hi = loss_range
    step = (hi - lo) / max(n_checkpoints - 1, 1)
    losses = np.linspace(hi, lo, n_checkpoints) + rng.uniform(-0.3, 0.3, n_checkpoints) * step
    losses = np.sort(losses)[::-1]
    tokens = np.geomspace(1e9, 1e12, n_checkpoints)
    params = 3e9
    e_fs = float(emergence_point_paper(shots, k, alpha, C, form))
    elbows = {int(d): float(emergence_point_paper(d, k, alpha, C, form)) for d in data_levels}

    def measured(mean: float) -> float:
        p = float(np.clip(mean, 0.0, 0.995))
        return rng.binomial(n_eval, p) / n_eval

    rows = []
    for i, L in enumerate(losses):
        base = {
            "series": series, "model": f"{series}-3b", "checkpoint": f"step{i * 1000}",
            "params": params, "tokens": tokens[i], "loss": float(L), "task": task,
            "metric": "acc", "n_eval": n_eval, "chance": chance, "shots": shots,
        }
        mean = float(performance(L, e_fs, A, chance, delta))
        rows.append({**base, "setting": "fewshot", "value": measured(mean)})
        for d, e in elbows.items():
            for s in range(n_subsets):
                mean = float(performance(L, e, A, chance)) + rng.normal(0.0, subset_sd)
                rows.append({**base, "setting": "finetune", "n_train": d, "subset": s,
                             "method": "full", "value": measured(mean)})
    df = validate_observations(rows_to_frame(rows), "<simulated>")
    truth = {
        "form": form, "k": k, "alpha": alpha, "C": C, "A": A, "B": chance, "Delta": delta,
        "d0": shots, "emergence_point": e_fs, "elbows": elbows,
        "n_eval": n_eval, "subset_sd": subset_sd, "losses": losses.tolist(),
    }
    return df, truth


def random_law(rng: np.random.Generator, *, shots: int = 5,
               d_max: int = 10000) -> dict[str, float]:
    """A random but paper-like log-power law: E(D0) in [1.8, 2.0], E(d_max) 0.25-0.5 nats higher.

    Returned as the paper's ``k, alpha, C`` for :func:`simulate_observations`.
    """
    e0 = rng.uniform(1.8, 2.0)
    shift = rng.uniform(0.25, 0.5)
    alpha = rng.uniform(0.6, 1.6)
    x0, xm = np.log(shots), np.log(d_max)
    k = shift / (xm**alpha - x0**alpha)
    C = e0 - k * x0**alpha
    return {"k": float(k), "alpha": float(alpha), "C": float(C),
            "A": float(rng.uniform(0.8, 1.6))}


def simulate_random_table(seed: int, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One table of a simulated benchmark set: a :func:`random_law` drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    law = random_law(rng, shots=kwargs.get("shots", 5))
    return simulate_observations(**{**law, **kwargs}, seed=rng)
