"""Fixtures of the analysis area: small simulated tables with a known emergence point."""

from __future__ import annotations

import pytest

from emergence_law.simulate import simulate_observations


@pytest.fixture(scope="session")
def small_sim():
    """(table, truth): 14 checkpoints, 5 data levels, 2 subset samples, 5-shot rows."""
    return simulate_observations(seed=3, n_checkpoints=14)


@pytest.fixture(scope="session")
def small_csv(small_sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("obs") / "obs.csv"
    small_sim[0].to_csv(path, index=False)
    return path


def add_task_nll(obs, *, c: float = 0.55, gamma: float = 1.3, noise: float = 0.01, seed: int = 0):
    """Add few-shot ``logprob`` rows (log-probability of the correct answer) to a simulated table.

    The task NLL follows ``c * L^gamma`` with multiplicative noise: the smooth loss -> task-loss
    relation the two-step baseline assumes (its step 1).
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    fs = obs[obs["setting"] == "fewshot"].copy()
    nll = c * fs["loss"].to_numpy(dtype=float) ** gamma * np.exp(rng.normal(0, noise, len(fs)))
    fs["metric"] = "logprob"
    fs["value"] = -nll
    fs["chance"] = np.nan
    return pd.concat([obs, fs], ignore_index=True)
