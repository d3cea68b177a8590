"""The typed result of ``emergence-law demo``: its headline numbers, ``demo.json``.

The report opens with these numbers (the ground truth, the forecasts, how far in advance, the
PassUntil prediction) and the README quotes them, so the keys are a contract. The fits, the
backtest table and the PassUntil fit are saved beside it by their own result types; here each
is the short record the demo prints.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from emergence_law.results.base import Result
from emergence_law.results.optional import OmitsAbsent


@dataclasses.dataclass
class DemoResult(OmitsAbsent, Result):
    """What ``emergence-law demo`` measured: the data's origin, the ground truth, one record
    per posterior (MLE, median, percentiles, error, success, warnings), and when run, the
    backtest's headline, the PassUntil prediction and (simulated data) the true elbow."""

    KIND = "demo"
    FILES = {"json": "demo.json"}
    OPTIONAL = ("true_emergence_point", "backtest", "passuntil")

    source: str
    simulated: bool
    task: str
    method: str | None
    #: :meth:`GroundTruth.to_dict` of the few-shot rows of every checkpoint
    ground_truth: dict[str, Any]
    min_loss: float
    mcmc: dict[str, Any]
    bootstrap: dict[str, Any]
    true_emergence_point: float | None = None
    #: flops_ratio, definition, command, summary; or skipped (why)
    backtest: dict[str, Any] | None = None
    #: target_params, predicted, interval, measured, measured_interval, ...; or skipped
    passuntil: dict[str, Any] | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        gt = self.ground_truth.get("elbow")
        lines = [f"demo on {self.source}", f"  task: {self.task}"
                 + (f" (finetuning method {self.method})" if self.method else ""),
                 f"  ground truth: {gt:.4g} nats" if gt is not None else "  ground truth: n/a"]
        for post in ("mcmc", "bootstrap"):
            r = getattr(self, post)
            lines.append(f"  {post}: MLE {r['mle']:.4g} nats, error {r['error']:+.3f} "
                         f"({'success' if r['success'] else 'FAILURE'})")
        ratio = (self.backtest or {}).get("flops_ratio")
        if ratio is not None:
            lines.append(f"  how far in advance: {ratio:.3g}x the FLOPs")
        pu = self.passuntil or {}
        if "predicted" in pu:
            lines.append(f"  PassUntil at N = {pu['target_params']:.3g}: predicted "
                         f"{pu['predicted']:.3g}, measured {pu['measured']:.3g}")
        return "\n".join(lines)

    def to_frame(self) -> Any:
        """One row per posterior: MLE, median, error and success against the reference."""
        import pandas as pd

        return pd.DataFrame([{"posterior": post, "task": self.task,
                              **{k: getattr(self, post).get(k)
                                 for k in ("mle", "median", "error", "success")}}
                             for post in ("mcmc", "bootstrap")])
