"""Typed results of the planning commands: ``design`` and ``design-passuntil``.

``design.json`` is :meth:`DesignResult.to_dict` plus where the candidates came from, with the
chosen runs beside it as ``next_runs.csv``; ``passuntil_plan.json`` is
:meth:`PassUntilPlan.to_dict` plus the counts file, with the per-size plan and the per-instance
allocation as CSV. The plots are drawn from the live planner objects, so they are declared here
(one list of output names) but written by the command.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from emergence_law.results.base import Result, table_field


@dataclasses.dataclass
class DesignRecord(Result):
    """The finetuning runs ``design`` chose and the interval width they are expected to buy."""

    KIND = "design"
    FILES = {"json": "design.json", "runs": "next_runs.csv", "plot": "expected_width.png"}

    task: str
    budget: float
    d0: float
    cold_start: bool
    current_source: str
    current_width: float
    posterior_width: float
    expected_width: float
    total_cost: float
    n_runs: int
    n_candidates: int
    cost_model: str
    grid: dict[str, Any]
    settings: dict[str, Any]
    timings_s: dict[str, float]
    candidates: str
    notes: list[str] = dataclasses.field(default_factory=list)
    runs: Any = table_field("runs", default=None)

    @classmethod
    def from_design(cls, result: Any, candidates: str) -> DesignRecord:
        """From a :class:`~emergence_law.design.planner.DesignResult`."""
        return cls(**result.to_dict(), candidates=candidates, runs=result.runs)


@dataclasses.dataclass
class PassUntilPlanRecord(Result):
    """The sizes and samples per instance ``design-passuntil`` plans for a wanted precision."""

    KIND = "passuntil_plan"
    FILES = {"json": "passuntil_plan.json", "plan": "passuntil_plan.csv",
             "allocation": "passuntil_allocation.csv", "plot": "passuntil_plan.png"}

    task: str
    target_params: float
    precision: float
    confidence: float
    predicted_pass_rate: float
    budget: float | None
    cost_needed: float
    total_cost: float
    reached: bool
    expected_rel_width: float
    cost_shares: dict[str, float]
    cost_unit: str
    counts: str
    notes: list[str] = dataclasses.field(default_factory=list)
    #: the per-size plan as records in the JSON too (readers of 0.x quote it from there)
    plan_records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    plan: Any = table_field("plan", default=None)
    allocation: Any = table_field("allocation", default=None)

    @classmethod
    def from_plan(cls, plan: Any, counts: str) -> PassUntilPlanRecord:
        """From a :class:`~emergence_law.design.passuntil.PassUntilPlan`."""
        record = plan.to_dict()
        return cls(**{k: v for k, v in record.items() if k != "plan"}, counts=counts,
                   plan_records=record["plan"], plan=plan.plan, allocation=plan.allocation)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record, its per-size plan under ``plan`` as the command always wrote it."""
        out = super().to_dict()
        out["plan"] = out.pop("plan_records")
        return out

    @classmethod
    def from_dict(cls, record: Any, **tables: Any) -> PassUntilPlanRecord:
        if isinstance(record, dict) and "plan" in record:
            record = {**record, "plan_records": record["plan"]}
            record.pop("plan")
        return super().from_dict(record, **tables)
