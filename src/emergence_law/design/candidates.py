"""The runs a design may choose from: a candidate file, checked cell by cell, and its costs.

A candidate is one finetuning run that could be made: ``model, checkpoint, loss, n_train,
method`` (optional ``subset``, ``cost``, ``params``, ``epochs``, ``n_eval``, ``series``,
``revision``). A typo in a file that plans GPU-days must fail before anything is computed, with
the file, row and column at fault, so the table goes through the same validator as observation
tables (:func:`emergence_law.tables.validate_table`).

Cost (why a model at all: a budget is only meaningful in one unit). In order of precedence:

1. a ``cost`` column: used as given (any unit; the budget is in the same unit);
2. a ``params`` column: finetuning plus evaluation FLOPs, in units of "one epoch of 1000
   examples on a 1B-parameter model"::

       cost = params * (6 * n_train * epochs + 2 * n_eval) / (6 * 1e9 * 1000)

   (training is ~6 FLOPs per parameter per token, evaluation a forward pass, ~2; the tokens per
   example are taken equal for training and evaluation, so they cancel in the unit).
   ``epochs`` defaults to 1, ``n_eval`` to the observation table's median ``n_eval`` (0 if
   unknown);
3. otherwise 1 per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.tables import Column, TableSchema, read_table, validate_table

CANDIDATE_SCHEMA = TableSchema(
    "candidates",
    (
        Column("model", "str", required=True, doc="model id (as in the observation table)"),
        Column("checkpoint", "str", required=True, doc="checkpoint label"),
        Column("loss", "float", required=True, minimum=0, doc="pretraining loss, nats"),
        Column("n_train", "int", required=True, minimum=1, doc="finetuning examples D"),
        Column("method", "str", required=True, doc="finetuning method (full, lora-r4, ...)"),
        Column("subset", "int", minimum=0, doc="random subset index"),
        Column("cost", "float", minimum=0, doc="cost of the run (budget unit)"),
        Column("params", "float", minimum=0, doc="parameter count (cost model)"),
        Column("epochs", "float", minimum=0, doc="finetuning epochs (cost model, default 1)"),
        Column("n_eval", "int", minimum=1, doc="evaluated examples (cost model)"),
        Column("series", "str", doc="model series"),
        Column("revision", "str", doc="hub revision (for --write-recipe)"),
    ),
)

CHECKPOINT_SCHEMA = TableSchema(
    "checkpoints",
    tuple(c for c in CANDIDATE_SCHEMA.columns if c.name not in ("n_train", "method", "subset",
                                                                 "cost")),
)

#: unit of the params-based cost model: one epoch of 1000 examples on a 1B-parameter model
COST_UNIT_FLOPS_PER_TOKEN = 6.0 * 1e9 * 1000
KEY = ["model", "checkpoint", "n_train", "method", "subset"]


def finetune_cost(params: np.ndarray, n_train: np.ndarray, epochs: np.ndarray | float = 1.0,
                  n_eval: np.ndarray | float = 0.0) -> np.ndarray:
    """Cost of finetuning runs from their size (see the module docstring for the unit)."""
    params = np.asarray(params, dtype=float)
    return params * (6.0 * np.asarray(n_train, float) * epochs + 2.0 * np.asarray(n_eval, float)
                     ) / COST_UNIT_FLOPS_PER_TOKEN


def _positive(df: pd.DataFrame, column: str, source: str) -> None:
    v = df[column].to_numpy(dtype=float)
    bad = ~np.isnan(v) & (v <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"must be positive, got {v[i]:g}", source=source, row=i + 1,
                        column=column)


def _require_all(df: pd.DataFrame, column: str, source: str, why: str) -> None:
    miss = df[column].isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise DataError(f"value is missing ({why})", source=source, row=i + 1, column=column)


def prepare_candidates(raw: pd.DataFrame, *, source: str = "<candidates>",
                       observations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Validate a candidate table, number the subsets, and add ``cost`` and ``cost_model``.

    ``observations`` (one task's rows) gives the default ``n_eval`` of the cost model, the
    subsets already measured, and the finetuning method the new runs must share.
    Rows already measured (same model, checkpoint, n_train, method and subset) are dropped.
    """
    if raw.empty:
        raise DataError("no candidate runs (the file has no rows)", source=source)
    given = set(str(c).strip() for c in raw.columns)
    df = validate_table(raw, CANDIDATE_SCHEMA, source)
    for col in ("cost", "params", "epochs"):
        _positive(df, col, source)
    methods = df["method"].astype(str)
    if methods.nunique() > 1:
        i = int(np.flatnonzero((methods != methods.iloc[0]).to_numpy())[0])
        raise DataError(f"candidates mix finetuning methods ({methods.iloc[0]!r} and "
                        f"{methods.iloc[i]!r}); design one method at a time",
                        source=source, row=i + 1, column="method")
    obs_ft = None
    if observations is not None:
        obs_ft = observations[observations["setting"] == "finetune"]
        have = obs_ft["method"].dropna().astype(str).unique()
        if len(have) and methods.iloc[0] not in set(have):
            raise DataError(f"method {methods.iloc[0]!r} differs from the finetuned rows of the "
                            f"observations ({', '.join(sorted(have))})", source=source, row=1,
                            column="method")
    # number subsets: a missing subset is the next index not yet used for that run
    used: dict[tuple, set[int]] = {}
    if obs_ft is not None and len(obs_ft):
        for r in obs_ft[["model", "checkpoint", "n_train", "method", "subset"]].itertuples(
                index=False):
            used.setdefault((str(r[0]), str(r[1]), int(r[2]), str(r[3])), set()).add(
                int(r[4]) if pd.notna(r[4]) else 0)
    measured = {k: set(v) for k, v in used.items()}
    subsets = []
    for i, r in enumerate(df[["model", "checkpoint", "n_train", "method", "subset"]].itertuples(
            index=False)):
        key = (str(r[0]), str(r[1]), int(r[2]), str(r[3]))
        taken = used.setdefault(key, set())
        if pd.isna(r[4]):
            s = 0
            while s in taken:
                s += 1
        else:
            s = int(r[4])
            if s in taken and s not in measured.get(key, set()):
                raise DataError(f"run {key[0]}@{key[1]} D={key[2]} subset {s} is listed twice",
                                source=source, row=i + 1, column="subset")
        taken.add(s)
        subsets.append(s)
    df["subset"] = pd.array(subsets, dtype="Int64")
    done = np.array([int(s) in measured.get((str(m), str(c), int(n), str(me)), set())
                     for m, c, n, me, s in df[KEY].itertuples(index=False)], dtype=bool)
    df = df[~done].reset_index(drop=True)
    df.attrs["already_measured"] = int(done.sum())
    if df.empty:
        raise DataError("every candidate run is already in the observations", source=source)
    if "cost" in given:
        _require_all(df, "cost", source, "give every run a cost, or drop the column")
        df["cost"] = df["cost"].astype(float)
        df.attrs["cost_model"] = "cost column"
        df.attrs["cost_unit"] = "the cost column's unit"
    elif "params" in given:
        _require_all(df, "params", source, "the cost model needs every run's params")
        n_eval = df["n_eval"].astype(float)
        if n_eval.isna().any():
            default = 0.0
            if observations is not None and observations["n_eval"].notna().any():
                default = float(np.nanmedian(observations["n_eval"].to_numpy(dtype=float)))
            n_eval = n_eval.fillna(default)
        epochs = df["epochs"].astype(float).fillna(1.0)
        df["cost"] = finetune_cost(df["params"].astype(float), df["n_train"].astype(float),
                                   epochs.to_numpy(), n_eval.to_numpy())
        df.attrs["cost_model"] = ("params * (6 n_train epochs + 2 n_eval) / (6e9 * 1000): "
                                  "1 = one epoch of 1000 examples on a 1B model")
        df.attrs["cost_unit"] = "1B-parameter x 1000-example epochs"
    else:
        df["cost"] = 1.0
        df.attrs["cost_model"] = "1 per run"
        df.attrs["cost_unit"] = "runs"
    return df


def load_candidates(path: str | Path, observations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and check a candidate file (CSV, Parquet, JSONL); see :func:`prepare_candidates`."""
    return prepare_candidates(read_table(path), source=str(path), observations=observations)


def load_checkpoints(path: str | Path) -> pd.DataFrame:
    """Read a checkpoint list (``model, checkpoint, loss``, optional ``params`` ...)."""
    raw = read_table(path)
    if raw.empty:
        raise DataError("no checkpoints (the file has no rows)", source=str(path))
    return validate_table(raw, CHECKPOINT_SCHEMA, str(path))


def candidate_grid(checkpoints: pd.DataFrame, levels: Sequence[int], *, subsets: int = 2,
                   method: str = "full") -> pd.DataFrame:
    """Every checkpoint x data level x subset as a candidate table (unvalidated)."""
    rows = []
    keep = [c for c in checkpoints.columns if c in CANDIDATE_SCHEMA.names
            and c not in ("n_train", "method", "subset", "cost")]
    for rec in checkpoints[keep].to_dict("records"):
        for d in levels:
            for s in range(subsets):
                rows.append({**rec, "n_train": int(d), "method": method, "subset": s})
    return pd.DataFrame.from_records(rows)
