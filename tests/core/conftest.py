"""Fixtures of the core area: simulated tables with a known emergence point."""

from __future__ import annotations

import pytest

from emergence_law.simulate import simulate_observations


@pytest.fixture(scope="session")
def sim():
    """(table, truth) of the default paper-like design."""
    return simulate_observations(seed=1)


@pytest.fixture(scope="session")
def sim_csv(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("obs") / "obs.csv"
    sim[0].to_csv(path, index=False)
    return path
