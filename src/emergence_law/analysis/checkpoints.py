"""Checkpoints of one task's rows: identity, capability order, and the pre-emergence cut.

Ablations and backtests both hold out checkpoints "from the most capable down"; they must agree
on what a checkpoint is and which one is most capable, so that logic lives here once.

A checkpoint is identified by its labels ``(series, model, checkpoint)`` (where filled) together
with its loss. Capability is ordered by FLOPs when every checkpoint has them (the
paper's Fig. 7 axis), else by pretraining loss (lower is more capable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emergence_law.errors import DataError


def checkpoint_keys(rows: pd.DataFrame) -> pd.Series:
    """One string key per row naming its checkpoint: its labels (where given) and its loss.

    The loss is part of the key so that two rows with the same labels but different losses
    (e.g. a table without checkpoint names) are never merged into one checkpoint.
    """
    key = pd.Series("", index=rows.index, dtype="string")
    for col in ("series", "model", "checkpoint"):
        if col in rows.columns:
            key = key + rows[col].astype("string").fillna("") + "|"
    return key + rows["loss"].astype(float).round(9).astype(str)


def checkpoint_table(rows: pd.DataFrame, order_by: str = "auto") -> pd.DataFrame:
    """One row per checkpoint (``key, loss, flops``), sorted from least to most capable.

    ``order_by``: ``"flops"``, ``"loss"`` or ``"auto"`` (FLOPs when every checkpoint has them).
    The returned frame has a ``rank`` column: 0 is the least capable checkpoint.
    """
    if rows.empty:
        raise DataError("no rows to order checkpoints by")
    keys = checkpoint_keys(rows)
    flops = rows["flops"].to_numpy(dtype=float) if "flops" in rows.columns else np.full(
        len(rows), np.nan)
    tab = (pd.DataFrame({"key": keys.to_numpy(), "loss": rows["loss"].to_numpy(dtype=float),
                         "flops": flops})
           .groupby("key", sort=False).agg(loss=("loss", "mean"), flops=("flops", "max"))
           .reset_index())
    by = order_by
    if by == "auto":
        by = "flops" if tab["flops"].notna().all() and (tab["flops"] > 0).all() else "loss"
    if by == "flops":
        if tab["flops"].isna().any():
            raise DataError("ordering by FLOPs needs FLOPs on every checkpoint", column="flops")
        tab = tab.sort_values(["flops", "loss"], ascending=[True, False])
    elif by == "loss":
        tab = tab.sort_values("loss", ascending=False)
    else:
        raise ValueError(f"order_by must be flops, loss or auto, got {order_by!r}")
    tab = tab.reset_index(drop=True)
    tab["rank"] = np.arange(len(tab))
    tab.attrs["order_by"] = by
    return tab

