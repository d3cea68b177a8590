"""A fit built from its parts, shared by the result-type tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence_law.fitting.result import EmergenceFit


def make_fit(n_samples: int = 400) -> EmergenceFit:
    """A fit built from its parts (what the fitter returns), with draws and the rows used."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"model": ["m"] * 4, "checkpoint": ["1", "2", "3", "4"],
                         "loss": [2.5, 2.3, 2.1, 1.9], "value": [0.25, 0.25, 0.4, 0.6],
                         "setting": ["fewshot", "finetune", "fewshot", "finetune"],
                         "n_train": [None, 100.0, None, 100.0]})
    return EmergenceFit(
        task="arith", form="log_power", d0=5.0, d_ref=100.0, likelihood="gaussian",
        shared_ab=True, theta=np.array([1.9, 2.1, 0.5]),
        params={"E_D0": 1.9, "A": 1.2, "B": 0.25, "sigma": 0.02}, loglik=12.5, n_obs=4,
        levels=[100.0], emergence_samples=rng.normal(1.9, 0.04, n_samples),
        posterior={"method": "mcmc", "n_walkers": 32}, diagnostics={"rhat_max": 1.002},
        warnings=["few checkpoints"], data=data, metric="acc", method="full")
