"""fit.json as a typed result: the live fit's file round-trips, keys unchanged, bad files named."""

from __future__ import annotations

import json

import pytest
from results_helpers import make_fit

from emergence_law.errors import DataError
from emergence_law.fitting.result import EmergenceFit
from emergence_law.results import output_file_names
from emergence_law.results.core import FitResult


def test_fit_result_round_trips_and_keeps_fit_json_keys(tmp_path) -> None:
    fit = make_fit()
    res = FitResult.from_fit(fit)
    written = res.save(tmp_path)
    assert set(written) == {"json", "data"}
    # the record is byte-for-byte what EmergenceFit.save writes (the documented keys, in order)
    fit.save(tmp_path / "direct.json")
    assert (tmp_path / "fit.json").read_text() == (tmp_path / "direct.json").read_text()
    back = FitResult.load(tmp_path)
    assert back.equals(res)
    assert back.mle == pytest.approx(1.9)
    assert set(back.percentiles) == {5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0}
    assert back.interval()[0::2] == (5.0, 95.0)
    assert len(back.samples) == 400 and back.posterior_method == "mcmc"
    # and the live fit comes back from the typed record
    again = back.to_fit()
    assert again.to_dict() == fit.to_dict()
    assert EmergenceFit.load(tmp_path / "fit.json").to_dict() == fit.to_dict()
    assert {"fit.json", "fit_curves.png", "emergence_cdf.png", "data_used.csv"} <= \
        output_file_names()
    assert "E(D0) MLE 1.900 nats" in back.summary()


def test_fit_without_samples_or_data_has_no_data_key(tmp_path) -> None:
    res = FitResult.from_fit(make_fit(), include_samples=False, include_data=False)
    assert "data" not in res.to_dict() and "samples" not in res.emergence_point
    res.save(tmp_path)
    assert FitResult.load(tmp_path).equals(res)


@pytest.mark.parametrize(("drop", "message"), [
    ("theta", r"fit\.json: not a fit result \(missing field 'theta'\)$"),
    ("emergence_point", r"fit\.json: not a fit result \(missing field 'emergence_point'\)$"),
])
def test_a_fit_json_missing_a_field_is_one_line_naming_it(tmp_path, drop, message) -> None:
    FitResult.from_fit(make_fit()).save(tmp_path)
    rec = json.loads((tmp_path / "fit.json").read_text())
    del rec[drop]
    (tmp_path / "fit.json").write_text(json.dumps(rec))
    with pytest.raises(DataError, match=message):
        FitResult.load(tmp_path)


def test_percentile_keys_are_the_documented_ones(tmp_path) -> None:
    rec = FitResult.from_fit(make_fit()).to_dict()
    rec["emergence_point"]["percentiles"] = {"p5": 1.8}
    (tmp_path / "fit.json").write_text(json.dumps(rec))
    with pytest.raises(DataError, match=r"fit\.json: percentile key 'p5' is not a percent"):
        FitResult.load(tmp_path)
