"""The typed result of ``emergence-law lab run``: ``lab_summary.json`` and the lab's tables.

The summary's keys are contracts that tests, the report, the README and docs/lab.md read
(``prediction.methods.<method>``, ``gate.settings[]``, ``answers``, ``plots``, ...), so every
top-level part is a declared field. The answers themselves stay nested dicts, one per question,
as :mod:`emergence_law.lab.results` (and :mod:`.continuous`, :mod:`.gate`) compute them: typing
each would add nothing the round-trip test does not already guard. The measured tables are
saved beside the summary as the CSV files the shipped data and the demo use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from emergence_law.results.base import Result, table_field
from emergence_law.results.optional import OmitsAbsent


@dataclasses.dataclass
class LabSummary(OmitsAbsent, Result):
    """What a lab run measured and concluded: its settings, versions, one answer per question,
    its plots, and (as tables) the observations, PassUntil counts and the gate's controls."""

    KIND = "lab_summary"
    FILES = {"json": "lab_summary.json", "observations": "lab_observations.csv",
             "counts": "lab_passuntil_counts.csv", "control": "lab_control.csv"}
    OPTIONAL = ("gate", "passuntil")

    origin: str
    #: :meth:`LabScale.to_dict`: every setting of the run
    scale: dict[str, Any]
    device: str
    seconds: float | None
    cpu_seconds: float | None
    versions: dict[str, str]
    fewshot_emergence: dict[str, Any]
    #: ground_truth, family_emergence_flops, methods: {method: {mle, error_nats, backtest, ...}}
    prediction: dict[str, Any]
    finetune_shift: dict[str, Any]
    continuous_emergence: dict[str, Any]
    #: one sentence per question, keyed "1_fewshot_emergence" ... "6_gate_finetuning_elicits"
    answers: dict[str, str]
    #: plot files, relative to the results folder
    plots: list[str]
    #: the gate (test, alpha, settings[], n_invalid, answer), when the controls were measured
    gate: dict[str, Any] | None = None
    #: the PassUntil prediction of the largest model, when counts were measured
    passuntil: dict[str, Any] | None = None
    observations: Any = table_field("observations", default=None)
    counts: Any = table_field("counts", default=None)
    control: Any = table_field("control", default=None)

    def __post_init__(self) -> None:
        if self.counts is not None and self.counts.empty:
            self.counts = None  # nothing measured: no file rather than a header-only one

    def summary(self) -> str:
        lines = [f"lab summary ({self.scale.get('name', '?')} scale, {self.device}): "
                 f"{self.origin}"]
        lines += [f"  {k}: {v}" for k, v in self.answers.items()]
        return "\n".join(lines)

    def to_frame(self) -> Any:
        """One row per finetuning method's forecast: MLE, ground truth, error, success, FLOPs
        in advance (empty when nothing emerged)."""
        import pandas as pd

        keys = ("mle", "ground_truth", "error_nats", "success", "flops_in_advance",
                "mle_at_data_edge", "error")
        rows = [{"method": m, **{k: r[k] for k in keys if k in r}}
                for m, r in self.prediction.get("methods", {}).items()]
        return pd.DataFrame(rows)
