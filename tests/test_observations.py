"""The observation table: validation names file/row/column, I/O round-trips, nothing is dropped."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence_law.errors import DataError
from emergence_law.observations import (
    OBSERVATION_COLUMNS,
    choose_metric,
    load_observations,
    save_observations,
    select_task,
    validate_observations,
)


def good_rows() -> list[dict]:
    rows = []
    for i, loss in enumerate([2.6, 2.4, 2.2]):
        rows.append(dict(model="m", checkpoint=f"step{i}", params=1e8, tokens=1e9 * (i + 1),
                         loss=loss, task="mmlu", value=0.25, setting="fewshot", shots=5,
                         n_eval=500, chance=0.25))
        for d in (100, 1000):
            for s in (0, 1):
                rows.append(dict(model="m", checkpoint=f"step{i}", params=1e8,
                                 tokens=1e9 * (i + 1), loss=loss, task="mmlu", value=0.3,
                                 setting="finetune", n_train=d, subset=s, n_eval=500,
                                 chance=0.25))
    rows.append(dict(loss=2.5, task="other", value=0.5, setting="fewshot", shots=0))
    return rows


def test_valid_table_gets_defaults_and_flops():
    df = validate_observations(pd.DataFrame(good_rows()), "t.csv")
    assert list(df.columns[: len(OBSERVATION_COLUMNS)]) == OBSERVATION_COLUMNS
    assert (df["metric"] == "acc").all()
    ft = df[df["setting"] == "finetune"]
    assert (ft["method"] == "full").all()
    np.testing.assert_allclose(df["flops"].iloc[0], 6 * 1e8 * 1e9)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".tsv"])
def test_round_trip_every_format(tmp_path, suffix):
    df = validate_observations(pd.DataFrame(good_rows()))
    path = save_observations(df, tmp_path / f"obs{suffix}")
    back = load_observations(path)
    assert len(back) == len(df)
    np.testing.assert_allclose(back["loss"].to_numpy(float), df["loss"].to_numpy(float))
    assert back["n_train"].isna().sum() == df["n_train"].isna().sum()


def _error_for(rows, tmp_path, name="obs.csv") -> DataError:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        load_observations(path)
    return info.value


@pytest.mark.parametrize(
    ("row_index", "change", "column", "words"),
    [
        (2, {"setting": "zeroshot"}, "setting", "unknown setting"),
        (4, {"loss": "abc"}, "loss", "expected a number"),
        (3, {"value": None}, "value", "missing"),
        (1, {"n_train": None}, "n_train", "n_train"),
        (0, {"shots": None}, "shots", "shots"),
        (5, {"params": -3}, "params", "negative"),
        (6, {"value": 1.5}, "value", "[0, 1]"),
        (2, {"loss": "inf"}, "loss", "finite"),
        (2, {"n_train": 10.5}, "n_train", "whole number"),
    ],
)
def test_bad_cell_is_named_by_file_row_and_column(tmp_path, row_index, change, column, words):
    rows = good_rows()
    rows[row_index].update(change)
    err = _error_for(rows, tmp_path)
    assert err.source.endswith("obs.csv")
    assert err.row == row_index + 1
    assert err.column == column
    assert words in str(err)


def test_missing_required_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "loss"} for r in good_rows()]
    err = _error_for(rows, tmp_path)
    assert err.column == "loss" and "missing" in str(err)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_observations(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown table format"):
        load_observations(tmp_path / "x.xlsx")


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text(json.dumps(good_rows()[0]) + "\n{not json\n")
    with pytest.raises(DataError) as info:
        load_observations(path)
    assert info.value.row == 2


def test_select_task_counts_what_it_leaves_out():
    df = validate_observations(pd.DataFrame(good_rows()))
    sel = select_task(df, "mmlu")
    assert len(sel.rows) == 15
    assert sel.excluded == {"rows of other tasks": 1}
    assert "excluded: 1 rows of other tasks" in sel.describe()
    with pytest.raises(DataError, match="has no rows"):
        select_task(df, "gsm8k")


def test_select_task_refuses_mixed_methods():
    rows = good_rows()
    rows[1]["method"] = "lora-r4"
    df = validate_observations(pd.DataFrame(rows))
    with pytest.raises(DataError, match="several methods"):
        select_task(df, "mmlu")
    sel = select_task(df, "mmlu", method="full")
    assert sel.excluded["finetuned rows of other methods than 'full'"] == 1


# --- property-based: any corruption of a valid table is either accepted as valid data or
# rejected with a DataError that names a real row and column; never another exception.

_NUMERIC = ["params", "tokens", "flops", "loss", "value", "shots", "n_train", "subset", "n_eval",
            "chance"]
_junk = st.one_of(
    st.none(),
    st.text(alphabet=string.printable, max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**6, max_value=10**6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from(_NUMERIC + ["setting", "task"]), _junk),
        min_size=1, max_size=4,
    )
)
def test_corrupted_tables_fail_cleanly(cells):
    rows = good_rows()
    for r, col, v in cells:
        rows[r][col] = v
    df = pd.DataFrame(rows)
    try:
        out = validate_observations(df, "h.csv")
    except DataError as err:
        assert err.source == "h.csv"
        assert err.row is None or 1 <= err.row <= len(rows)
        assert err.column is None or err.column in OBSERVATION_COLUMNS
        assert "\n" not in str(err)
    else:
        assert len(out) == len(rows)  # accepted: nothing dropped
        assert np.isfinite(out["loss"].to_numpy(float)).all()
        assert np.isfinite(out["value"].to_numpy(float)).all()


# --- no silent defaults, refusals of degenerate tables (issue 13) ------------------------------

LAB = Path(__file__).resolve().parents[1] / "src/emergence_law/data/lab_observations.csv"


def test_metric_precedence_does_not_follow_row_counts():
    """Removing one acc row used to switch the fit to logprob_norm (the most common metric)."""
    lab = load_observations(LAB)
    drop = lab.index[(lab["task"] == "mul-mc") & (lab["metric"] == "acc")][0]
    for table in (lab, lab.drop(index=drop)):
        sel = select_task(table, "mul-mc", method="full")
        assert sel.metric == "acc" and set(sel.rows["metric"]) == {"acc"}
        assert "metric acc (the default for accuracy-type tasks" in sel.describe()
        assert "finetuning method full" in sel.describe()
    assert choose_metric(["acc_norm", "acc_norm"], "t") == ("acc_norm", "the task's only metric")
    assert choose_metric(["acc", "prob_norm"], "t", "prob_norm")[0] == "prob_norm"
    with pytest.raises(DataError, match="several metrics .*logprob_norm, prob_norm.* --metric"):
        select_task(lab[lab["metric"] != "acc"], "mul-mc", method="full")
    with pytest.raises(DataError, match="metric 'bpb' has no rows"):
        select_task(lab, "mul-mc", metric="bpb", method="full")


def test_missing_method_column_does_not_pool_lora_with_full(tmp_path):
    lab = pd.read_csv(LAB)
    assert set(lab["method"].dropna()) == {"full", "lora-r4"}
    lab.drop(columns="method").to_csv(tmp_path / "nomethod.csv", index=False)
    with pytest.raises(DataError, match="without a method are taken as 'full'.*add a 'method'"):
        load_observations(tmp_path / "nomethod.csv")
    rows = good_rows()
    for r in rows:
        r.pop("subset", None)
    with pytest.raises(DataError, match="without a subset .* add a 'subset' column"):
        validate_observations(pd.DataFrame(rows))


def test_a_table_pasted_twice_is_refused(tmp_path):
    df = pd.DataFrame(good_rows())
    with pytest.raises(DataError, match="row 17: repeats the measurement of row 1") as info:
        validate_observations(pd.concat([df, df]), "t.csv")
    assert info.value.row == 17
    twice = pd.concat([df, df.iloc[[0]].assign(value=0.3)])
    with pytest.raises(DataError, match=r"contradicts \(value 0.3 vs 0.25\)"):
        validate_observations(twice)


def _rows_as_jsonl(path, rows, replace=None):
    lines = [json.dumps(r) for r in rows]
    if replace is not None:
        i, old, new = replace
        lines[i] = lines[i].replace(old, new)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cells_that_only_look_like_numbers(tmp_path):
    rows = good_rows()
    # a 401-digit integer (json reads it as a Python int beyond float range)
    f = _rows_as_jsonl(tmp_path / "big.jsonl", rows, (3, '"loss": 2.6', '"loss": 1' + "0" * 400))
    with pytest.raises(DataError, match="row 4, column 'loss': .*401 digits.* too large"):
        load_observations(f)
    # JSON true as a value
    f = _rows_as_jsonl(tmp_path / "bool.jsonl", rows, (2, '"value": 0.3', '"value": true'))
    with pytest.raises(DataError, match="row 3, column 'value': .*truth value True"):
        load_observations(f)
    # a Parquet loss stored as a timestamp (would read as nanoseconds since 1970)
    df = pd.DataFrame(rows)
    df["loss"] = pd.to_datetime(df["loss"] * 1e9)
    df.to_parquet(tmp_path / "dt.parquet")
    with pytest.raises(DataError, match="column 'loss': expected a number, got a date/time"):
        load_observations(tmp_path / "dt.parquet")
    df = pd.DataFrame(rows)
    df["value"] = df["value"] > 0.27
    with pytest.raises(DataError, match="column 'value': .*truth value"):
        validate_observations(df)


def test_negative_loss_and_a_second_value_column(tmp_path):
    rows = good_rows()
    rows[4]["loss"] = -2.2
    with pytest.raises(DataError, match="row 5, column 'loss': value -2.2 is negative"):
        validate_observations(pd.DataFrame(rows))
    df = pd.DataFrame(good_rows())
    text = df.to_csv(index=False).splitlines()
    text = [text[0] + ",value"] + [t + ",0.9" for t in text[1:]]
    (tmp_path / "two.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match="column 'value': duplicate column .*'value.1'"):
        load_observations(tmp_path / "two.csv")


def test_imported_rows_may_lack_loss_but_nothing_else():
    rows = [{k: v for k, v in r.items() if k != "loss"} for r in good_rows()]
    out = validate_observations(pd.DataFrame(rows), require_loss=False)
    assert out["loss"].isna().all()
    rows[2]["value"] = 1.7
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        validate_observations(pd.DataFrame(rows), require_loss=False)
