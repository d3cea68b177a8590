"""Fixtures of the design area: a simulated paper-like table split into 'measured so far' and
'could be run', with the truth known."""

from __future__ import annotations

import pandas as pd
import pytest

from emergence_law.simulate import simulate_random_table

CAND_COLS = ["model", "checkpoint", "loss", "n_train", "method", "subset"]


def split_table(seed: int, levels_now=(100, 1000, 3000), n_ckpt_now: int = 5, **kw):
    """Pre-emergence rows of a simulated table: (few-shot rows, measured rows, candidate
    table with its simulated values, truth). Measured = subset 0 of ``levels_now`` on the
    ``n_ckpt_now`` most capable pre-emergence checkpoints."""
    obs, truth = simulate_random_table(seed, **kw)
    pre = obs[obs["loss"] >= truth["emergence_point"]]
    fs = pre[pre["setting"] == "fewshot"]
    ft = pre[pre["setting"] == "finetune"]
    best = ft.drop_duplicates("checkpoint").nsmallest(n_ckpt_now, "loss")["checkpoint"]
    now = ft[(ft["subset"] == 0) & ft["n_train"].isin(levels_now) & ft["checkpoint"].isin(best)]
    rest = ft.drop(now.index)
    return fs, now, rest, truth


@pytest.fixture(scope="session")
def warm():
    fs, now, rest, truth = split_table(11)
    return pd.concat([fs, now], ignore_index=True), rest, truth


@pytest.fixture(scope="session")
def files(warm, tmp_path_factory):
    table, rest, _ = warm
    d = tmp_path_factory.mktemp("design")
    table.to_csv(d / "obs.csv", index=False)
    rest[CAND_COLS].to_csv(d / "cands.csv", index=False)
    fs = table[table["setting"] == "fewshot"]
    fs.to_csv(d / "fewshot.csv", index=False)
    fs[["model", "checkpoint", "loss", "params"]].to_csv(d / "ckpts.csv", index=False)
    return d
