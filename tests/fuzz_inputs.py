"""Inputs for the command fuzz test (tests/test_fuzz.py): valid tables and files, the ways a
careless user or a broken harness spoils them, and the check every command's outcome must pass.

Each mutation is a plain tuple, so hypothesis shrinks a failure to a short, readable recipe.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "src/emergence_law/data/lab_observations.csv"
COUNTS = ROOT / "src/emergence_law/data/lab_passuntil_counts.csv"

#: cell values that are wrong in some way (or right in an unusual spelling)
JUNK: list[Any] = [None, "", "abc", "nan", "inf", "-inf", -1, 0, 0.5, 2.5, -0.0, 1e308, 1e-320,
                   10**400, True, False, [1], {"a": 1}, " 2.0 ", "1,5", "2024-01-01"]
#: columns whose cells are numbers in the tables fuzzed
NUMERIC = {"params", "tokens", "flops", "loss", "value", "n_eval", "chance", "stderr", "trials",
           "passes", "r", "budget", "shots", "n_train"}
#: numbers that are wrong in some way, as option text
BAD_NUMBERS = ["0", "-1", "nan", "inf", "-inf", "1e300", "1e-300", "abc", ""]


class Hang(BaseException):
    """A command ran past its time limit (BaseException: nothing in the CLI may swallow it)."""


def junk() -> st.SearchStrategy:
    return st.sampled_from(JUNK)


def table_mutations(columns: list[str], n_rows: int, *, mild_only: bool = False
                    ) -> st.SearchStrategy:
    """Ways to spoil a table: bad cells, missing or doubled columns, repeated, dropped or
    constant rows, scaled numbers (``mild_only``: only changes that keep it usable)."""
    col = st.sampled_from(columns)
    row = st.integers(0, max(n_rows - 1, 0))
    mild = st.one_of(  # the table stays usable: the numerics are what is tested
        st.tuples(st.just("cell"), row, col, st.sampled_from([0.5, 0.0, 1.0, 2.5, 0.25])),
        st.tuples(st.just("keep_rows"), st.integers(n_rows // 3, n_rows)),
        st.tuples(st.just("scale"), st.sampled_from([c for c in columns if c in NUMERIC]
                                                    or columns),
                  st.sampled_from([0.5, 0.9, 1.1, 2.0])),
        st.tuples(st.just("shuffle"), st.integers(0, 2**16)),
    )
    one = st.one_of(
        st.tuples(st.just("cell"), row, col, junk()),
        st.tuples(st.just("drop_col"), col),
        st.tuples(st.just("dup_col"), col),
        st.tuples(st.just("dup_rows"), st.sampled_from([0.05, 1.0])),
        st.tuples(st.just("keep_rows"), st.integers(0, n_rows)),
        st.tuples(st.just("const"), col, junk()),
        st.tuples(st.just("scale"), col, st.sampled_from([-1.0, 0.0, 1e-300, 1e300, 1000.0])),
        st.tuples(st.just("datetime"), col),
        st.tuples(st.just("shuffle"), st.integers(0, 2**16)),
    )
    if mild_only:
        return st.lists(mild, max_size=3)
    return st.one_of(st.lists(mild, max_size=3), st.lists(one, min_size=1, max_size=3))


def apply_table(df: pd.DataFrame, mutations: list[tuple]) -> pd.DataFrame:
    df = df.copy().astype(object)
    for m in mutations:
        kind = m[0]
        if kind in ("dup_col", "const", "scale", "datetime") and \
                list(df.columns).count(m[1]) != 1:
            continue  # already doubled (or gone): one column operation at a time
        if kind == "cell" and len(df) and m[2] in df.columns:
            j = list(df.columns).index(m[2])
            df.isetitem(j, df.iloc[:, j].astype(object))  # any value may go into any cell
            df.iat[min(m[1], len(df) - 1), j] = m[3]
        elif kind == "drop_col" and m[1] in df.columns:
            df = df.drop(columns=m[1])
        elif kind == "dup_col":
            df.insert(len(df.columns), m[1], df[m[1]], allow_duplicates=True)
        elif kind == "dup_rows" and len(df):
            df = pd.concat([df, df.iloc[: max(1, int(len(df) * m[1]))]], ignore_index=True)
        elif kind == "keep_rows":
            df = df.iloc[: m[1]]
        elif kind == "const":
            df[m[1]] = pd.Series([m[2]] * len(df), index=df.index, dtype=object)
        elif kind == "scale":
            num = _as_numbers(df[m[1]])
            if num.notna().any():
                df[m[1]] = (num * m[2]).astype(object).where(num.notna(), df[m[1]])
        elif kind == "datetime":
            num = _as_numbers(df[m[1]]).fillna(0)
            df[m[1]] = pd.to_datetime(num.clip(-1e9, 1e9) * 1e9).astype(object)
        elif kind == "shuffle":
            df = df.sample(frac=1.0, random_state=m[1]).reset_index(drop=True)
    return df


def _as_numbers(s: pd.Series) -> pd.Series:
    def one(v: Any) -> float:
        try:
            x = float(v)
        except (TypeError, ValueError, OverflowError):
            return math.nan
        return x if not isinstance(v, bool) else math.nan

    return pd.Series([one(v) for v in s], index=s.index, dtype=float)


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` in the format of ``path``'s suffix, as a user's tool might have: CSV text
    of whatever the cells hold, JSONL with native JSON types, Parquet where pyarrow can type
    the columns (else the same table as CSV)."""
    if path.suffix == ".jsonl":  # written by hand: a doubled column gives a doubled key
        cols = [str(c) for c in df.columns]
        with open(path, "w") as fh:
            for row in df.itertuples(index=False, name=None):
                pairs = (f"{json.dumps(k)}: {json.dumps(_jsonable(v))}"
                         for k, v in zip(cols, row, strict=True))
                fh.write("{" + ", ".join(pairs) + "}\n")
        return path
    if path.suffix == ".parquet":
        try:
            df.to_parquet(path)
            return path
        except Exception:  # mixed types pyarrow cannot store: a CSV file instead
            path = path.with_suffix(".csv")
    df.to_csv(path, index=False)
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if v is pd.NA:
        return None
    return v


def json_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (keys and list indices), the root included."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out += json_paths(v, (*prefix, i))
    return out


def set_path(obj: Any, path: tuple, value: Any) -> Any:
    value = copy.deepcopy(value)  # JUNK's lists and objects are shared between examples
    if not path:
        return value
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return obj


def run_cli(args: list[str], limit_s: int = 120) -> tuple[int, str, str]:
    """Run the CLI in this process (its real entry point), with a time limit."""
    from emergence_law.cli import main

    def on_alarm(signum, frame):  # noqa: ARG001
        raise Hang(f"emergence-law {' '.join(args)} ran past {limit_s} s")

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue(), err.getvalue()


_NONFINITE = re.compile(r"(?<![\w.])[-+]?(nan|inf|infinity)(?![\w])", re.IGNORECASE)


def _finite_json(path: Path) -> Any:
    def refuse(token: str) -> float:
        raise AssertionError(f"{path.name} holds {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _numbers(obj: Any, key: str = "") -> list[tuple[str, float]]:
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in _numbers(v, str(k))]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v, key)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [(key, float(obj))]
    return []


def check_outcome(args: list[str], rc: int, out: str, err: str, out_dir: Path | None) -> None:
    """What every command owes its user, whatever the input: no traceback, no internal error;
    a refusal is a non-zero exit with one 'emergence-law: error:' line; a success writes and
    prints only finite, in-domain numbers."""
    cmd = " ".join(map(str, args))
    assert "Traceback (most recent call last)" not in err + out, f"traceback: {cmd}\n{err}"
    assert "internal error" not in err, f"{cmd}\n{err}"
    assert rc in (0, 1, 2), f"exit {rc}: {cmd}\n{err[-2000:]}"
    if rc != 0:  # 2: bad input; 1: nothing could be computed (e.g. every ablation failed)
        lines = [ln for ln in err.splitlines() if ln.startswith("emergence-law: error:")]
        assert len(lines) == 1, f"{cmd}: expected one error line, got\n{err[-2000:]}"
        return
    words = _NONFINITE.findall(out)
    assert not words, f"{cmd}: printed {words}\n{out[-2000:]}"
    if out_dir is None or not out_dir.is_dir():
        return
    for f in sorted(out_dir.rglob("*.json")):
        data = _finite_json(f)
        if f.name == "fit.json":
            ep = data["emergence_point"]
            assert ep["mle"] > 0, f"{cmd}: E(D0) = {ep['mle']}"
            if ep.get("interval_90"):
                lo, hi = ep["interval_90"]
                assert lo <= hi, f"{cmd}: interval {lo} > {hi}"
        if f.name == "to_params.json":
            for key in ("params", "flops"):
                assert data[key]["mle"] is None or data[key]["mle"] > 0, f"{cmd}: {key}"
        if f.name == "design.json":
            assert data["total_cost"] <= data["budget"] * (1 + 1e-9), f"{cmd}: over budget"
            assert data["expected_width"] >= 0 and data["current_width"] >= 0, cmd
        if f.name == "passuntil_fit.json":
            p = data["predicted_pass_rate"]
            assert 0.0 <= p <= 1.0, f"{cmd}: pass rate {p}"
            assert all(0.0 <= v <= 1.0 for v in data.get("interval") or []), cmd
        for key, v in _numbers(data):
            if key.startswith("p_value") or key in ("p", "confidence"):
                assert 0.0 <= v <= 1.0, f"{cmd}: {f.name} {key} = {v}"
    for f in sorted(out_dir.rglob("*.csv")):
        text = f.read_text()
        bad = [w for w in _NONFINITE.findall(text) if w.lower() != "nan"]
        assert not bad, f"{cmd}: {f.name} holds {bad}"
        _csv_in_domain(cmd, f)


#: per output file, the columns that are probabilities (accuracies, pass rates)
_PROBABILITIES = {
    "passk.csv": ["unbiased", "lower", "upper", "distribution"],
    "ladder_forecast.csv": ["acc_pred", "mean_lower", "mean_upper", "pred_lower", "pred_upper"],
}


def _csv_in_domain(cmd: str, f: Path) -> None:
    """Probabilities in [0, 1] with lower <= upper; a design's widths and costs non-negative
    and within its budget."""
    cols = _PROBABILITIES.get(f.name)
    if cols is None and f.name != "next_runs.csv":
        return
    df = pd.read_csv(f)
    for c in cols or []:
        v = pd.to_numeric(df[c], errors="coerce").dropna()
        assert ((v >= 0) & (v <= 1)).all(), f"{cmd}: {f.name} {c} outside [0, 1]: {v.tolist()}"
    for lo, hi in (("lower", "upper"), ("mean_lower", "mean_upper"),
                   ("pred_lower", "pred_upper")):
        if lo in df.columns and hi in df.columns:
            both = df[[lo, hi]].apply(pd.to_numeric, errors="coerce").dropna()
            assert (both[lo] <= both[hi] + 1e-12).all(), f"{cmd}: {f.name} {lo} > {hi}"
    if f.name == "next_runs.csv":
        for c in ("cost", "cumulative_cost", "expected_width"):
            v = pd.to_numeric(df[c], errors="coerce")
            assert v.notna().all() and (v >= 0).all(), f"{cmd}: {f.name} {c} = {v.tolist()}"


# ---------------------------------------------------------------------------------------------
# synthetic OLMo ladder files (the W&B export format of analysis/olmo_ladder.py), small and
# made here: two runs per size, six evaluated steps each, one task in cloze format

OLMO_LOSS = "eval/c4_en-validation/CrossEntropyLoss"
OLMO_ACC = "eval/downstream/arc_challenge_test_rc_5shot_len_norm"
OLMO_BPB = "eval/downstream_bpb/arc_challenge_test_rc_5shot_bpb"
OLMO_SIZES = {"190M": 190e6, "370M": 370e6, "760M": 760e6, "1B": 1.3e9, "3B": 3.2e9}


def olmo_runs() -> dict[str, pd.DataFrame]:
    """Run name -> its evaluation table: loss falls with size and steps, bpb with loss, and
    accuracy rises in a sigmoid of bpb (the two-step law the ladder command fits)."""
    rng = np.random.default_rng(0)
    runs = {}
    for size, params in OLMO_SIZES.items():
        for mult in ("1", "2"):
            steps = np.arange(1, 7) * 1000
            loss = 1.6 + 80 / params**0.25 * (1 + 3 / np.sqrt(steps / 1000)) * float(mult) ** -0.05
            bpb = 0.2 + 0.5 * loss
            acc = 0.25 + 0.6 / (1 + np.exp(8 * (bpb - 1.35))) + rng.normal(0, 0.005, len(steps))
            runs[f"{size}-{mult}xC"] = pd.DataFrame({
                "_step": steps, OLMO_LOSS: loss, OLMO_ACC: acc, OLMO_BPB: bpb,
                "throughput/total_tokens": steps * 4e6})
    return runs
