"""Round trips of the PassUntil, lab and demo result types: save -> load -> equal, and a
record missing a field is one line naming its file.

The records are real: a task scaling law fitted to simulated counts, a growth-model
comparison, the shipped lab summary with its measured tables, a demo record of the keys the
report and README read.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from results_helpers import missing_field_is_one_line

from emergence_law.errors import DataError
from emergence_law.results import RESULT_TYPES, output_file_names
from emergence_law.results.demo import DemoResult
from emergence_law.results.lab import LabSummary
from emergence_law.results.passuntil import PassUntilCurvature, PassUntilFit


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    from emergence_law.passuntil.simulate import simulate_family

    return simulate_family(n_instances=30, params=(1e8, 2e8, 4e8, 8e8, 1.6e9), seed=3).counts


def test_passuntil_fit_round_trips_and_is_what_the_command_writes(counts, tmp_path):
    from emergence_law.passuntil.report import fit_and_write

    sizes = sorted(counts["params"].unique())
    rows = counts[counts["params"] < sizes[-1]]
    law, pred, res = fit_and_write(rows, "sim", float(sizes[-1]), tmp_path, level="dataset",
                                   draws=100)
    assert (tmp_path / "passuntil_fit.png").stat().st_size > 10_000
    back = PassUntilFit.load(tmp_path)
    assert back == res
    # the contract readers use: the prediction's fields at the top level, the law under "fit"
    record = json.loads((tmp_path / "passuntil_fit.json").read_text())
    assert record["predicted_pass_rate"] == pred.predicted_pass_rate
    assert record["interval"] == pred.interval and record["fit"]["c"] == law.c_
    assert back.prediction().summary() == pred.summary()
    assert back.converged is None  # not a pooled fit
    frame = back.to_frame()
    assert frame.loc[0, "lower"] <= frame.loc[0, "predicted_pass_rate"] <= frame.loc[0, "upper"]
    assert "predicted pass rate at N" in back.summary()
    missing_field_is_one_line(PassUntilFit, tmp_path, "fit")


def test_passuntil_curvature_round_trips(counts, tmp_path):
    from emergence_law.passuntil.curvature import compare_growth_models
    from emergence_law.passuntil.law import task_points
    from emergence_law.passuntil.likelihood import CountsGrid

    pts = task_points(CountsGrid.from_counts(counts, "sim"))
    cmp = compare_growth_models(pts.params, pts.pass_rate, pts.se)
    res = PassUntilCurvature.from_comparison("sim", cmp)
    res.save(tmp_path)
    back = PassUntilCurvature.load(tmp_path)
    assert back == res
    assert back.comparison().summary() == cmp.summary()
    assert list(back.to_frame()["name"])[0] == cmp.best
    # without the curvature test the key is absent, not null, and loads back as None
    PassUntilCurvature("sim", cmp.best, cmp.x_centre, res.models).save(tmp_path / "nc")
    assert "curvature" not in json.loads((tmp_path / "nc" / "passuntil_curvature.json")
                                         .read_text())
    assert PassUntilCurvature.load(tmp_path / "nc").curvature is None
    missing_field_is_one_line(PassUntilCurvature, tmp_path, "models")


def test_lab_summary_round_trips_with_its_tables(tmp_path):
    from emergence_law.lab.shipped import data_path

    shipped = LabSummary.load(data_path("lab_summary.json").parent)
    assert shipped.observations is not None and shipped.counts is not None
    assert shipped.prediction["methods"] and shipped.gate["settings"]
    written = shipped.save(tmp_path)
    assert set(written) == {"json", "observations", "counts", "control"}
    back = LabSummary.load(tmp_path)
    for name in ("observations", "counts", "control"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(shipped, name))
    assert back.to_dict() == shipped.to_dict()
    # the contract keys, exactly as the shipped file has them
    assert json.loads((tmp_path / "lab_summary.json").read_text()) == \
        json.loads(data_path("lab_summary.json").read_text())
    assert set(back.to_frame()["method"]) == set(shipped.prediction["methods"])
    assert "1_fewshot_emergence" in back.summary()
    # a run without the gate or PassUntil leaves those keys out (readers test `"gate" in`)
    bare = LabSummary(**{**{k: v for k, v in back.to_dict().items()}, "gate": None,
                         "passuntil": None})
    bare.save(tmp_path / "bare")
    record = json.loads((tmp_path / "bare" / "lab_summary.json").read_text())
    assert "gate" not in record and "passuntil" not in record
    assert not (tmp_path / "bare" / "lab_observations.csv").exists()
    missing_field_is_one_line(LabSummary, tmp_path, "prediction")


def test_demo_result_round_trips(tmp_path):
    rec = {"source": "SIMULATED data", "simulated": True, "task": "t", "method": None,
           "ground_truth": {"elbow": 1.9, "interval": [1.85, 1.95]}, "min_loss": 1.9,
           "mcmc": {"mle": 1.91, "median": 1.9, "percentiles": {"5": 1.8, "95": 2.0},
                    "error": 0.01, "success": True, "warnings": []},
           "bootstrap": {"mle": 1.91, "median": 1.9, "percentiles": {"5": 1.8, "95": 2.0},
                         "error": 0.01, "success": True, "warnings": []},
           "true_emergence_point": 1.9, "backtest": {"skipped": "too few checkpoints"},
           "seconds": 3.5}
    res = DemoResult.from_dict(rec)
    res.save(tmp_path)
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved == rec  # keys kept: passuntil was not run, so it is absent
    assert DemoResult.load(tmp_path) == res
    assert list(res.to_frame()["posterior"]) == ["mcmc", "bootstrap"]
    assert "mcmc: MLE 1.91" in res.summary()
    missing_field_is_one_line(DemoResult, tmp_path, "mcmc")


def test_types_register_their_files():
    for kind in ("passuntil_fit", "passuntil_curvature", "lab_summary", "demo"):
        assert kind in RESULT_TYPES
    assert {"passuntil_fit.json", "passuntil_fit.png", "passuntil_curvature.json",
            "lab_summary.json", "lab_observations.csv", "demo.json"} <= output_file_names()


def test_passk_table_round_trips(counts, tmp_path):
    from emergence_law.passuntil.passk import passk_table
    from emergence_law.results.passuntil import PassKTable

    rows = counts.assign(censored=counts["passes"] < 2)
    table = PassKTable(passk_table(rows, [1, 10]))
    table.save(tmp_path)
    back = PassKTable.load(tmp_path)
    assert back.equals(table) and len(back.table) == 2 * counts["model"].nunique()
    (tmp_path / "passk.csv").write_text(table.table.drop(columns="unbiased").to_csv(index=False))
    with pytest.raises(DataError, match=r"passk\.csv.*'unbiased'"):
        PassKTable.load(tmp_path)
