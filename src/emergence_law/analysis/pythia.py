"""The real Pythia evaluations as an observation table, on a chosen x-axis.

EleutherAI published lm-eval-harness results for 8 Pythia sizes x 27 checkpoints (zero-shot) but
no pretraining loss. An emergence analysis needs an x-axis on which lower means more capable:

- ``axis="lambada"``: ln(LAMBADA-OpenAI perplexity) of the same checkpoint (nats per token of
  the final word): a real cross-entropy, measured on held-out text. The default.
- ``axis="flops"``: ``ln(1e30 / FLOPs)`` with FLOPs = 6 x params x tokens, tokens = step x
  2,097,152: -ln FLOPs shifted by ln 1e30 = 69.08, so that the axis stays positive like a loss
  (observation tables refuse negative losses); differences between elbows are unchanged.
  Step-0 checkpoints (0 FLOPs) cannot be placed and are dropped.

The reading itself is done by :func:`emergence_law.measure.lmeval.import_lmeval`; this module
only picks the axis, filters models and says which axis a table uses (``loss_source``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import OptionError

AXES = ("lambada", "flops")
#: the FLOPs axis is ln(FLOPS_REF / FLOPs): positive below 1e30 FLOPs (far beyond any model)
FLOPS_REF = 1e30


def pythia_observations(path: str | Path, *, axis: str = "lambada",
                        min_params: float | None = None, tasks: list[str] | None = None,
                        ) -> pd.DataFrame:
    """Few-shot observation rows of the Pythia evals with ``loss`` set to the chosen axis."""
    from emergence_law.measure.lmeval import import_lmeval

    if axis not in AXES:
        raise OptionError("axis", f"use one of {', '.join(AXES)}, not {axis!r}")
    df = import_lmeval(path, loss_from="lambada" if axis == "lambada" else None)
    if axis == "flops":
        flops = df["flops"].to_numpy(dtype=float)
        df = df[np.isfinite(flops) & (flops > 0)].copy()
        df["loss"] = np.log(FLOPS_REF) - np.log(df["flops"].to_numpy(dtype=float))
        df["loss_source"] = "ln(1e30 / FLOPs)"
    df = df[df["loss"].notna()]
    if min_params is not None:
        df = df[df["params"].astype(float) >= min_params]
    if tasks is not None:
        df = df[df["task"].isin(tasks)]
    return df.reset_index(drop=True)
