"""A design replayed on runs that were already measured (the lab experiment of issue 15).

When a full finetuning grid has been measured once, a design can be judged without training
anything again: the grid's runs are the candidates, the design chooses a batch from them, and
"running" the batch means taking the measured rows of the chosen runs. The forecast is then
refitted on those rows only and compared with the full grid's and with random batches of the
same cost. Nothing here is simulated: every value the refit sees was measured.

Used by ``benchmarks/bench_design_lab.py`` on the lab's shipped table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence_law.design.candidates import prepare_candidates
from emergence_law.design.planner import DesignResult, design_runs

#: a run: one finetuning of one checkpoint on one data subset
RUN_KEY = ["model", "checkpoint", "n_train", "method", "subset"]
CANDIDATE_COLS = ["model", "checkpoint", "loss", "n_train", "method", "subset", "params",
                  "n_eval"]


def measured_runs(table: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The finetuned runs of ``table`` as a candidate table, one row per run (of ``metric``'s
    rows when given; ``params`` and ``n_eval`` kept when present, for the cost model)."""
    ft = table[table["setting"] == "finetune"]
    if metric is not None:
        ft = ft[ft["metric"] == metric]
    cols = [c for c in CANDIDATE_COLS if c in ft.columns and ft[c].notna().any()]
    runs = ft[cols].drop_duplicates(RUN_KEY).reset_index(drop=True)
    runs["subset"] = runs["subset"].astype(int)
    runs["n_train"] = runs["n_train"].astype(int)
    return runs


def run_cost(runs: pd.DataFrame) -> pd.Series:
    """Each run's cost by the design's documented cost model (params-based when the runs have
    ``params``, else 1 per run), indexed like ``runs``."""
    c = prepare_candidates(runs.reset_index(drop=True))
    return pd.Series(c["cost"].to_numpy(float), index=runs.index)


def _keys(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"model": df["model"].astype(str),
                         "checkpoint": df["checkpoint"].astype(str),
                         "n_train": df["n_train"].astype(float).astype(int),
                         "method": df["method"].astype(str),
                         "subset": df["subset"].astype(float).fillna(0).astype(int)})


def rows_of(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The measured rows (every metric) of ``runs`` in ``table``: 'running' them."""
    ft = table[table["setting"] == "finetune"]
    hit = _keys(ft).reset_index(drop=True).assign(_i=np.arange(len(ft))).merge(
        _keys(runs).drop_duplicates(), on=RUN_KEY)["_i"]
    return ft.iloc[np.sort(hit.to_numpy())]


@dataclass
class Replay:
    """One designed batch replayed: the design, the chosen runs, and the table after them."""

    design: DesignResult
    runs: pd.DataFrame          # the chosen runs (design.runs)
    table: pd.DataFrame         # start rows + the measured rows of the chosen runs
    cost: float                 # cost of the chosen runs (start rows not counted)


def replay_design(start: pd.DataFrame, full: pd.DataFrame, task: str, budget: float, *,
                  metric: str | None = None, method: str | None = None, seed: int = 0,
                  **design_kw) -> Replay:
    """Design a batch within ``budget`` among the runs of ``full`` not in ``start``, and run it
    by taking its measured rows from ``full``.

    ``start``: the rows known before the batch (few-shot rows, maybe a pilot); ``full``: the
    measured table the candidates and their outcomes come from (``start`` must be part of it).
    ``design_kw`` go to :func:`design_runs` (e.g. ``cut=False``: the whole greedy batch).
    """
    cands = measured_runs(full, metric)
    if method is not None:
        cands = cands[cands["method"] == method].reset_index(drop=True)
    res = design_runs(start, task, cands, budget, metric=metric, method=method, seed=seed,
                      **design_kw)
    new = rows_of(full, res.runs)
    return Replay(design=res, runs=res.runs, table=pd.concat([start, new], ignore_index=True),
                  cost=res.total_cost)


def random_batch(candidates: pd.DataFrame, cost: pd.Series, budget: float,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Runs drawn at random (shuffled order, each taken while it fits) until nothing more fits
    in ``budget``: the baseline at equal cost."""
    order = rng.permutation(len(candidates))
    take, spent = [], 0.0
    for i in order:
        c = float(cost.iloc[i])
        if spent + c <= budget + 1e-12:
            take.append(i)
            spent += c
    return candidates.iloc[sorted(take)]
