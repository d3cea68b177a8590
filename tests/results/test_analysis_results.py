"""The analysis commands' files as typed results: each round-trips; a bad file is one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from results_helpers import make_fit

from emergence_law.errors import DataError
from emergence_law.results import output_file_names
from emergence_law.results.analysis import (
    AblationTable,
    BacktestTable,
    ComparisonResult,
    GroundTruthTable,
    LadderForecastResult,
    ToParamsResult,
)
from emergence_law.results.core import FitResult


def _fit_record(task: str = "arith", mle: float = 1.95) -> dict:
    rec = FitResult.from_fit(make_fit(), include_samples=False, include_data=False).to_dict()
    rec["task"] = task
    rec["emergence_point"]["mle"] = mle
    return rec


def _comparison() -> ComparisonResult:
    return ComparisonResult(
        task="arith", metric="acc", ft_method="full",
        series={"v1": _fit_record(mle=1.9), "v2": _fit_record(mle=1.97)},
        p_a_higher=0.07, p_a_higher_mc_error=0.01,
        question="P(v1 emerges at a higher loss than v2)", a="v1", b="v2",
        ess={"v1": 900.0, "v2": 850.0},
        difference_a_minus_b={"mle": -0.07, "percentiles": {"5": -0.12, "50": -0.07,
                                                           "95": -0.02}},
        verdict="v2 emerges first")


def _to_params() -> ToParamsResult:
    return ToParamsResult(
        task="arith", emergence_loss={"mle": 1.62, "percentiles": {"5": 1.58, "95": 1.66},
                                      "n_draws": 2000},
        scaling_law={"law": "size", "E": 1.7}, tokens_per_param=20.0,
        params={"mle": 3.1e11, "percentiles": {"5": 2.5e11, "50": 3.2e11, "95": None},
                "fraction_unreachable": 0.06},
        flops={"mle": 1.2e25, "percentiles": {"5": 7.5e24, "95": None},
               "formula": "6 * tokens_per_param * params^2"},
        n_draws=2000, message="emergence at about 3.1e11 parameters",
        notes=["extrapolated"])


def _ladder() -> LadderForecastResult:
    table = pd.DataFrame({"run": ["big"], "target": ["big"], "loss": [2.5], "acc": [0.41],
                          "acc_pred": [0.4], "pred_lower": [0.35], "pred_upper": [0.45],
                          "error": [-0.01], "covered": [True]})
    return LadderForecastResult(
        task="hellaswag", target="big", train_groups=["s", "m"], level=0.9, n_boot=200,
        params={"a": 1.5, "k": 3.0}, info={"nll_metric": "bpb"}, mean_abs_error=0.01,
        covered=1, n_targets=1, forecasts=table.to_dict(orient="records"), table=table)


JSON_TYPES = [(ComparisonResult, _comparison, "compare.json", "verdict"),
              (ToParamsResult, _to_params, "to_params.json", "flops"),
              (LadderForecastResult, _ladder, "ladder_forecast.json", "n_boot")]


@pytest.mark.parametrize(("cls", "make", "name", "field"), JSON_TYPES)
def test_json_results_round_trip(tmp_path, cls, make, name, field) -> None:
    res = make()
    res.save(tmp_path)
    assert (tmp_path / name).is_file()
    back = cls.load(tmp_path)
    assert back.equals(res)
    assert name in output_file_names()
    assert back.summary()


@pytest.mark.parametrize(("cls", "make", "name", "field"), JSON_TYPES)
def test_json_result_missing_a_field_names_the_file(tmp_path, cls, make, name, field) -> None:
    make().save(tmp_path)
    rec = json.loads((tmp_path / name).read_text())
    del rec[field]
    (tmp_path / name).write_text(json.dumps(rec))
    with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: not a \w+ result "
                                        rf"\(missing field '{field}'\)$"):
        cls.load(tmp_path)


def test_comparison_reads_each_series_fit_typed(tmp_path) -> None:
    fits = _comparison().fits()
    assert fits["v2"].mle == pytest.approx(1.97)
    rec = _comparison().to_dict()
    del rec["series"]["v1"]["theta"]
    (tmp_path / "compare.json").write_text(json.dumps(rec))
    with pytest.raises(DataError, match=r"compare\.json: series 'v1': not a fit result "
                                        r"\(missing field 'theta'\)"):
        ComparisonResult.load(tmp_path)


def test_to_params_percentiles_keep_unreachable_draws_as_none() -> None:
    res = _to_params()
    assert res.percentiles("params") == {5.0: 2.5e11, 50.0: 3.2e11, 95.0: None}
    assert res.params_interval() == (5.0, 2.5e11, 50.0, 3.2e11)


def _backtest() -> BacktestTable:
    return BacktestTable(pd.DataFrame({
        "method": ["emergence_law"] * 3 + ["two_step"],
        "cutoff_loss": [2.05, 2.1, 2.2, 2.05], "prediction": [1.91, 1.95, 2.1, 1.99],
        "error": [0.01, 0.05, 0.2, 0.09], "success": [True, True, False, True],
        "flops_ratio": [1.5, 2.25, 6.0, 1.5], "gt": [1.9] * 4,
        "status": ["ok", "ok", "ok", "failed"]}))


def _ablations() -> AblationTable:
    return AblationTable(pd.DataFrame({
        "ablation": ["full data", "last 3 checkpoints"], "group": ["full", "checkpoints"],
        "error": [0.02, np.nan], "success": [True, None], "status": ["ok", "skipped"],
        "reason": [None, "too few"]}), markdown="# Ablations\n\n| a |\n")


def _ground_truth() -> GroundTruthTable:
    return GroundTruthTable(pd.DataFrame({
        "task": ["arith", "arith"], "group": ["m1", "m2"], "elbow": [1.9, np.nan],
        "lower": [1.85, np.nan], "upper": [1.95, np.nan], "n_checkpoints": [12, 3],
        "n_pre": [5, None], "model_kind": ["relu", "none"], "metric": ["acc", "acc"]}))


TABLE_TYPES = [(BacktestTable, _backtest, "backtest.csv", "error"),
               (AblationTable, _ablations, "ablations.csv", "ablation"),
               (GroundTruthTable, _ground_truth, "ground_truth.csv", "model_kind")]


@pytest.mark.parametrize(("cls", "make", "name", "column"), TABLE_TYPES)
def test_table_results_round_trip(tmp_path, cls, make, name, column) -> None:
    res = make()
    assert set(res.save(tmp_path)) >= {"table"}
    back = cls.load(tmp_path)
    assert back.equals(res)
    assert name in output_file_names()


@pytest.mark.parametrize(("cls", "make", "name", "column"), TABLE_TYPES)
def test_table_missing_a_column_names_file_and_column(tmp_path, cls, make, name, column) -> None:
    make().save(tmp_path)
    frame = pd.read_csv(tmp_path / name).drop(columns=[column])
    frame.to_csv(tmp_path / name, index=False)
    with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}, column '{column}': "
                                        r"required column is missing"):
        cls.load(tmp_path)


def test_ground_truth_writes_its_documented_columns_only(tmp_path) -> None:
    res = _ground_truth()
    res.table["reason"] = ["", "too few checkpoints"]
    res.save(tmp_path)
    assert list(pd.read_csv(tmp_path / "ground_truth.csv").columns) == list(res.REQUIRED)
    assert list(GroundTruthTable.load(tmp_path).fitted()["group"]) == ["m1"]


def test_backtest_answers_from_the_table() -> None:
    bt = _backtest()
    assert bt.largest_successful_ratio() == 2.25            # the 6x cut-off failed
    assert bt.largest_successful_ratio("two_step") is None  # its only row failed to fit
    assert bt.ground_truth() == 1.9
    assert [m for m, _ in bt.by_method()] == ["emergence_law", "two_step"]
    assert len(bt.fitted()) == 3
    assert list(_ablations().fitted()["ablation"]) == ["full data"]
