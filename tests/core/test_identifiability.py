"""Tables that cannot pin down the emergence point give an error, never a confident number."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergence_law import EmergenceLaw, simulate_observations
from emergence_law.errors import NotIdentifiableError


def _fit(df, **kw):
    return EmergenceLaw(posterior="none").fit(df, "simtask", **kw)


def test_fewer_than_two_levels():
    df, _ = simulate_observations(seed=0, data_levels=(1000,))
    with pytest.raises(NotIdentifiableError, match="at least 2 levels"):
        _fit(df)


def test_few_shot_only_table_names_the_commands_for_it():
    """A table without finetuned rows said "0 finetuning data level(s) (none)": no way on."""
    df, _ = simulate_observations(seed=0)
    fs = df[df["setting"] == "fewshot"]
    with pytest.raises(NotIdentifiableError, match=r"no finetuned rows \(few-shot only\).*"
                       r"use ground-truth .*, ladder .* or backtest --method two_step") as e:
        _fit(fs)
    assert "\n" not in str(e.value)


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


V1_TABLE = Path(__file__).parent / "data" / "lab_small_v1_observations.csv"


def test_an_elbow_mle_on_its_search_bound_is_flagged_not_reported_as_an_estimate():
    # real data: the lab's small-scale table as measured with its first finetuning loop (kept
    # here as test data); with full finetuning the pre-emergence rows only say that the
    # few-shot elbow lies beyond them, and the MLE lands on the edge of the search range
    from emergence_law.analysis.ground_truth import ground_truth_emergence
    from emergence_law.fitting.estimator import IdentifiabilityWarning
    from emergence_law.observations import load_observations

    obs = load_observations(V1_TABLE)
    gt = ground_truth_emergence(obs, "mul-mc")
    with pytest.warns(IdentifiabilityWarning, match="edge of its search range"):
        fit = EmergenceLaw(posterior="none").fit(obs, "mul-mc", min_loss=gt.elbow,
                                                 method="full")
    assert any("not an estimate" in w for w in fit.warnings)
    assert "not an estimate" in fit.summary()


def test_an_elbow_mle_at_the_few_shot_data_edge_is_flagged():
    """The shipped lab table: few-shot rows at chance down to the least loss used, finetuned
    E(D) nearly flat in D; the MLE of E(D0) lands on the least few-shot loss, which says only
    'no earlier than the data'. A table whose elbow lies well beyond the data is not flagged."""
    import warnings

    from emergence_law.analysis.ground_truth import ground_truth_emergence
    from emergence_law.fitting.estimator import EDGE_NATS, IdentifiabilityWarning
    from emergence_law.lab.shipped import load_lab_observations

    obs = load_lab_observations()
    gt = ground_truth_emergence(obs, "mul-mc", metric="acc")
    with pytest.warns(IdentifiabilityWarning, match="least loss of the few-shot rows"):
        fit = EmergenceLaw(posterior="none").fit(obs, "mul-mc", min_loss=gt.elbow,
                                                 method="full", metric="acc")
    fs_min = fit.data.loc[fit.data["setting"] == "fewshot", "loss"].min()
    assert abs(fit.emergence_point_mle - fs_min) <= EDGE_NATS
    df, truth = simulate_observations(seed=0)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fit = _fit(df, min_loss=truth["emergence_point"] + 0.15)
    assert fit.emergence_point_mle < fit.data["loss"].min() - EDGE_NATS
    assert not [w for w in seen if "least loss of the few-shot" in str(w.message)]
