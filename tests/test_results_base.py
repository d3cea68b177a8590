"""The result base class: a typed result saves its record and tables and loads back equal."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from emergence_law.errors import DataError
from emergence_law.results import RESULT_TYPES, Result, output_file_names, table_field


@dataclasses.dataclass
class _Example(Result):
    KIND = "example_for_tests"
    FILES = {"json": "example.json", "rows": "example_rows.csv"}
    task: str
    elbow: float
    interval: list[float]
    rows: pd.DataFrame | None = table_field("rows", default=None)
    note: str = ""


def test_a_result_round_trips_through_its_files(tmp_path):
    r = _Example("t", 1.5, [1.2, 1.8], pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]}))
    written = r.save(tmp_path)
    assert set(written) == {"json", "rows"}
    back = _Example.load(tmp_path)
    assert (back.task, back.elbow, back.interval, back.note) == ("t", 1.5, [1.2, 1.8], "")
    pd.testing.assert_frame_equal(back.rows, r.rows)
    assert "rows" not in r.to_dict()
    assert RESULT_TYPES["example_for_tests"] is _Example
    assert {"example.json", "example_rows.csv"} <= output_file_names()
    assert "elbow: 1.5" in r.summary()
    assert list(r.to_frame().columns) == ["task", "elbow", "note"]


def test_a_record_missing_a_field_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "example.json").write_text('{"task": "t"}\n')
    with pytest.raises(DataError, match=r"example\.json: not a example_for_tests result "
                                        r"\(missing field 'elbow', 'interval'\)"):
        _Example.load(tmp_path)
