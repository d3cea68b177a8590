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
