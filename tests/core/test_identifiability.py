"""Tables that cannot pin down the emergence point give an error, never a confident number."""

from __future__ import annotations

import pytest

from emergence_law import EmergenceLaw, simulate_observations
from emergence_law.errors import NotIdentifiableError


def _fit(df, **kw):
    return EmergenceLaw(posterior="none").fit(df, "simtask", **kw)


def test_fewer_than_two_levels():
    df, _ = simulate_observations(seed=0, data_levels=(1000,))
    with pytest.raises(NotIdentifiableError, match="at least 2 levels"):
        _fit(df)


def test_no_level_rises_above_chance():
    df, _ = simulate_observations(seed=0, loss_range=(2.6, 3.2))
    with pytest.raises(NotIdentifiableError, match="ever rises above chance"):
        _fit(df)


def test_no_level_rises_without_chance_column():
    df, _ = simulate_observations(seed=0, loss_range=(2.6, 3.2))
    df["chance"] = None  # falls back on the likelihood-ratio check against a flat line
    with pytest.raises(NotIdentifiableError, match="no better than a flat line"):
        _fit(df)


def test_everything_above_chance():
    df, _ = simulate_observations(seed=0, loss_range=(1.3, 1.75))
    with pytest.raises(NotIdentifiableError, match="above chance"):
        _fit(df)


def test_elbow_beyond_the_data_warns():
    df, truth = simulate_observations(seed=2, loss_range=(1.6, 2.15))
    with pytest.warns(UserWarning, match="beyond the weakest checkpoint"):
        fit = _fit(df, min_loss=truth["emergence_point"])
    assert any("beyond" in w for w in fit.warnings)


def test_an_elbow_mle_on_its_search_bound_is_flagged_not_reported_as_an_estimate():
    # the shipped lab data, full finetuning: the pre-emergence rows only say that the few-shot
    # elbow lies beyond them, and the MLE lands on the edge of the search range
    from emergence_law.analysis.ground_truth import ground_truth_emergence
    from emergence_law.fitting.estimator import IdentifiabilityWarning
    from emergence_law.lab.shipped import load_lab_observations

    obs = load_lab_observations()
    gt = ground_truth_emergence(obs, "mul-mc")
    with pytest.warns(IdentifiabilityWarning, match="edge of its search range"):
        fit = EmergenceLaw(posterior="none").fit(obs, "mul-mc", min_loss=gt.elbow,
                                                 method="full")
    assert any("not an estimate" in w for w in fit.warnings)
    assert "not an estimate" in fit.summary()
