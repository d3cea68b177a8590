"""Fit the task scaling law and write its files: what ``passuntil fit`` and the demo share.

A library function (not the CLI's) so that the demo need not import the command layer; the
files are those of :class:`~emergence_law.results.passuntil.PassUntilFit`
(``passuntil_fit.json``, written atomically, and ``passuntil_fit.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from emergence_law.results.passuntil import PassUntilFit


def fit_and_write(rows: pd.DataFrame, task_name: str, target_params: float, out: str | Path, *,
                  level: str | None = None, confidence: float = 0.9, draws: int = 400,
                  seed: int = 0, source: str = "counts",
                  measured: tuple[float, float, float] | None = None
                  ) -> tuple[Any, Any, PassUntilFit]:
    """Fit the task scaling law on ``rows``, predict ``target_params``, and save the
    :class:`PassUntilFit` and its plot into ``out``; return (law, prediction, result).

    ``measured``: (mean, lower, upper) of the target's measured pass rate, drawn on the plot.
    """
    from emergence_law.passuntil.counts import sampling_design
    from emergence_law.passuntil.law import DEFAULT_LEVEL, TaskScalingLaw
    from emergence_law.passuntil.plots import plot_task_law

    level = level or DEFAULT_LEVEL
    law = TaskScalingLaw(level=level, confidence=confidence, n_draws=draws, seed=seed)
    law.fit(rows, source=source)
    pred = law.predict(target_params)
    result = PassUntilFit.from_law(law, pred, task_name, sampling_design(rows))
    out = Path(out)
    result.save(out)
    plot_task_law(law, pred, out / PassUntilFit.FILES["plot"], title=f"{task_name}: {level} fit",
                  measured=measured)
    return law, pred, result
