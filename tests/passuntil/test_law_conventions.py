"""``TaskScalingLaw`` follows the estimator convention of ``EmergenceLaw`` (issue 14): the
constructor stores, ``fit`` validates (a ``SettingError`` naming the parameter) and returns the
fitted law; ``get_params``/``set_params`` and ``sklearn.base.clone`` work."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from emergence_law.cli import FLAGS, main
from emergence_law.errors import SettingError
from emergence_law.passuntil.law import TaskScalingLaw
from emergence_law.passuntil.simulate import simulate_task


@pytest.fixture(scope="module")
def counts():
    return simulate_task(n_instances=12, seed=3, mean_eta_small=2.2, budget=5_000).counts


def test_init_stores_get_and_set_params_and_repr():
    law = TaskScalingLaw(level="dataset", n_draws=50, seed=3)
    names = [p for p in inspect.signature(TaskScalingLaw).parameters]
    assert list(law.get_params()) == names == list(law.get_params(deep=False))
    assert names == ["level", "confidence", "n_draws", "seed", "scaled", "allow_bend"]
    assert law.set_params(seed=5, level="instance") is law
    assert law.get_params()["seed"] == 5 and law.level == "instance"
    with pytest.raises(SettingError, match=r"^parameter n_draw: not a setting of TaskScalingLaw"):
        law.set_params(n_draw=100)
    again = eval(repr(law), {"TaskScalingLaw": TaskScalingLaw})  # noqa: S307 - our own repr
    assert again.get_params() == law.get_params()
    assert TaskScalingLaw().validate_params().level == "pooled"


@pytest.mark.parametrize(("setting", "param", "reason"), [
    ({"level": "global"}, "level", "unknown level 'global' (choose from pooled, instance, "
                                   "dataset, distribution)"),
    ({"confidence": 95}, "confidence", "must lie in (0, 1), got 95"),
    ({"confidence": True}, "confidence", "must lie in (0, 1), got True"),
    ({"seed": -1}, "seed", "must be a whole number >= 0, got -1"),
    ({"seed": 1.5}, "seed", "must be a whole number >= 0, got 1.5"),
    ({"n_draws": 3}, "n_draws", "need at least 20 draws for an interval, got 3"),
    ({"n_draws": 100.0}, "n_draws", "must be a whole number, got 100.0"),
    ({"scaled": "yes"}, "scaled", "must be True or False, got 'yes'"),
    ({"allow_bend": 1}, "allow_bend", "must be True or False, got 1"),
])
def test_a_bad_setting_is_stored_then_refused_at_fit_naming_the_parameter(counts, setting, param,
                                                                          reason):
    law = TaskScalingLaw(**setting)  # no check at construction
    assert law.get_params()[param] == setting[param]
    for call in (law.validate_params, lambda: law.fit(counts)):
        with pytest.raises(SettingError) as info:
            call()
        assert (info.value.param, info.value.reason) == (param, reason)
        assert str(info.value) == f"parameter {param}: {reason}"
        assert isinstance(info.value, ValueError)
    assert law.grid_ is None  # refused before the counts were read


def test_the_cli_shows_the_flags_of_the_law_s_parameters():
    assert (FLAGS["level"], FLAGS["confidence"], FLAGS["n_draws"], FLAGS["seed"],
            FLAGS["target_params"]) == ("--level", "--confidence", "--draws", "--seed",
                                        "--target-params")


def test_the_cli_line_of_a_setting_refused_by_the_law(counts, tmp_path, capsys):
    path = tmp_path / "counts.csv"
    counts.to_csv(path, index=False)
    rc = main(["passuntil", "fit", str(path), "--target-params", "1e9", "--draws", "3",
               "--out", str(tmp_path / "o")])
    assert rc == 2 and capsys.readouterr().err == (
        "emergence-law: error: option --draws: need at least 20 draws for an interval, got 3\n")
    assert not (tmp_path / "o" / "passuntil_fit.json").exists()


def test_predictions_refuse_bad_sizes_and_levels_naming_the_parameter(counts):
    law = TaskScalingLaw(level="dataset", n_draws=50).fit(counts)
    with pytest.raises(SettingError, match=r"^parameter target_params: must be a positive "
                                           r"number, got -1"):
        law.predict(-1)
    with pytest.raises(SettingError, match="^parameter params: model sizes must be positive"):
        law.curve(np.array([1e9, np.nan]))
    with pytest.raises(SettingError, match="^parameter level: the distribution of pass rates"):
        law.distribution_at(1e9)


def test_sklearn_clone_copies_the_settings_not_the_fit(counts):
    clone = pytest.importorskip("sklearn.base").clone
    law = TaskScalingLaw(level="dataset", n_draws=50, seed=np.int64(7))
    twin = clone(law)  # clone refuses an __init__ that changes what it stores
    assert twin is not law and twin.get_params() == law.get_params()
    assert clone(TaskScalingLaw(level="global")).level == "global"  # no check at construction
    a = law.fit(counts).predict(1e9)
    assert clone(law).grid_ is None  # a clone is unfitted
    b = twin.fit(counts).predict(1e9)
    assert a.predicted_pass_rate == b.predicted_pass_rate and a.interval == b.interval
