"""PassUntil counterpart of the design: which model sizes to sample, and how many samples per
instance, for a given relative precision on the target size's predicted task pass rate.

Model: the task scaling law at the dataset level (``passuntil.law``): a weighted straight line
``y = log(-log PU) = a + b log N`` through the task means of the sampled sizes, extrapolated to
the target. From pilot counts (any sampling design, a few sizes):

1. **Rates.** Per size, the task mean by the design-aware estimator of the counts table
   (``passuntil.estimate.point_estimate``: unbiased (R - 1)/(K - 1) under sample-until-r,
   R/K for fixed budgets), and per instance the empirical-Bayes pass rate
   (``allocation.instance_rates``, as ``passuntil run --allocation adaptive`` reports), scaled
   to that mean. The line through the task means gives the target's pass rate PU* the plan
   aims at.
2. **Per size: Neyman allocation.** T samples at a size, spread over its instances by
   ``allocation.neyman_allocation`` (proportional to sqrt(p (1 - p))), give the task mean the
   variance ``(sum_s sqrt(p_s (1 - p_s)))^2 / (S^2 T)``, the least any split of T can give;
   on the log(-log) scale ``var y = var PU / (PU log PU)^2`` (delta method).
3. **Across sizes: c-optimal design.** The variance of the line at the target,
   ``g' (sum_j T_j x_j x_j' / var_j)^-1 g`` with ``g = (1, log N*)``, for cost shares w_j of a
   total cost C (a sample of a model of N parameters costs N / N_min: a forward pass is
   proportional to the parameters) is ``v1 / C`` with v1 minimised over the shares (softmax
   parameters, Nelder-Mead from equal shares). So the cost a precision needs is
   ``C = v1 / var_target`` in closed form, and the curve width(cost) is exact under the model.
4. **Precision.** The 90% interval of the target's pass rate is ``PU* exp(+-h)`` with
   ``h = z |log PU*| sd(y*)``; its relative half-width (upper side) is ``exp(h) - 1``. The plan
   spends the least cost that reaches ``--precision``, or the whole ``--budget`` when that is
   not enough (then says so).

What the plan does not cover (docs/design.md, Limits): size-level scatter around the law and
bends (``passuntil.law``'s tau and ``allow_bend``) are not reduced by sampling; the dataset-level
line is the model; the pilot's rates are taken as the truth when allocating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from emergence_law.errors import DataError, NotIdentifiableError, SettingError
from emergence_law.passuntil.allocation import instance_rates, neyman_allocation, shrunk_rates
from emergence_law.passuntil.estimate import point_estimate

#: passes each sampled size is expected to give at least, as ``run_adaptive``'s ``min_passes``:
#: below it the task mean's log(-log) is far from normal and the delta method's width is
#: optimistic (measured: identical instances, 20 %, about 2 passes at the smallest size,
#: 82 of 100 simulated plans within their precision; see docs/design.md)
MIN_PASSES = 10

PLAN_COLUMNS = ["model", "params", "instances", "samples", "samples_per_instance",
                "min_per_instance", "max_per_instance", "cost", "cumulative_cost",
                "expected_rel_width"]


@dataclass
class SizeRates:
    """Per model size: its name, N, and the shrunk pass rates of its instances."""

    model: str
    params: float
    instances: list[str]
    rates: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.rates.mean())

    def unit_variance(self) -> float:
        """Variance of log(-log task mean) per sample at this size (Neyman-allocated)."""
        p = self.rates
        m = self.mean
        return float(np.sum(np.sqrt(p * (1 - p))) ** 2 / len(p) ** 2
                     / (m * np.log(m)) ** 2)


@dataclass
class PassUntilPlan:
    """The plan (``plan``: one row per sampled size; ``allocation``: samples per instance)."""

    task: str
    target_params: float
    precision: float
    confidence: float
    predicted_pass_rate: float
    budget: float | None
    cost_needed: float
    reached: bool
    plan: pd.DataFrame
    allocation: pd.DataFrame
    shares: dict[str, float]
    v1: float
    z: float
    notes: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return float(self.plan["cost"].sum())

    @property
    def expected_rel_width(self) -> float:
        return float(self.plan["expected_rel_width"].iloc[0]) if len(self.plan) else \
            float("inf")

    def summary(self) -> str:
        lines = [f"PassUntil plan for task {self.task}: target N = {self.target_params:.3g}, "
                 f"predicted pass rate {self.predicted_pass_rate:.3g} (pilot's line)",
                 f"  precision {self.precision:.0%} (relative half-width of the "
                 f"{self.confidence:.0%} interval) needs cost {self.cost_needed:.4g} "
                 "(samples of the smallest model)"
                 + ("" if self.budget is None else f"; budget {self.budget:.4g}"),
                 f"  plan: cost {self.total_cost:.4g}, expected relative half-width "
                 f"{self.expected_rel_width:.1%}" + ("" if self.reached else
                                                     " (budget too small for the precision)")]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "target_params": self.target_params,
                "precision": self.precision, "confidence": self.confidence,
                "predicted_pass_rate": self.predicted_pass_rate, "budget": self.budget,
                "cost_needed": self.cost_needed, "total_cost": self.total_cost,
                "reached": self.reached, "expected_rel_width": self.expected_rel_width,
                "cost_shares": self.shares, "cost_unit": "one sample of the smallest model",
                "plan": self.plan.to_dict("records"), "notes": self.notes}


def rel_width(v1: float, cost: float, pu: float, z: float) -> float:
    """Relative half-width ``exp(z |log PU| sqrt(v1 / cost)) - 1`` (inf at zero cost)."""
    if cost <= 0:
        return float("inf")
    return float(np.expm1(z * abs(np.log(pu)) * np.sqrt(v1 / cost)))


def size_rates(rows: pd.DataFrame, source: str) -> list[SizeRates]:
    """Shrunk rates per size; a size with no pass at all cannot be placed on the law's scale."""
    out = []
    for (model, params), g in rows.groupby(["model", "params"], sort=False):
        k = g["trials"].to_numpy(float)
        x = g["passes"].to_numpy(float)
        if x.sum() == 0:
            raise DataError(f"model {model!r} (params {params:g}) has no pass in any instance: "
                            "its pass rate cannot be placed on the law's log(-log) scale; "
                            "sample it more or leave it out", source=source,
                            row=int(g.index[0]) + 1, column="passes")
        try:
            rates = instance_rates(k, x)
        except NotIdentifiableError:               # every sample passed: caught below
            rates = shrunk_rates(k, x)
        # the task mean: the design-aware estimate (a Bayes mean ignores the stopping rule, and
        # under sample-until-r with r = 2 it reads ~2/K for an instance whose unbiased rate is
        # 1/(K - 1): measured, pilot predictions of the target's rate too high, plans too
        # cheap); the instance rates keep their shape for the allocation
        c = g["censored"].to_numpy(bool)
        est = "unbiased" if np.all(c | (x >= 2)) else "mle"
        m = float(np.mean(point_estimate(k, x, c, est)))
        if m > 0:
            rates = np.clip(rates * m / rates.mean(), 1e-12, 1 - 1e-9)
        out.append(SizeRates(str(model), float(params), g["instance"].astype(str).tolist(),
                             rates))
    out.sort(key=lambda s: s.params)
    if len({s.params for s in out}) < 2:
        raise DataError("the plan needs pilot counts at two model sizes at least (the law is a "
                        "line in log N)", source=source, column="params")
    return out


def _line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    X = np.stack([np.ones_like(x), x], axis=1)
    beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    return float(beta[0]), float(beta[1])


def target_variance(shares: np.ndarray, x: np.ndarray, unit_var: np.ndarray, cost: np.ndarray,
                    x_star: float) -> float:
    """Variance of the line at ``x_star`` per unit of total cost, for cost ``shares``."""
    info = shares / cost / unit_var               # samples per unit cost / variance per sample
    X = np.stack([np.ones_like(x), x], axis=1)
    M = (X * info[:, None]).T @ X
    g = np.array([1.0, x_star])
    try:
        return float(g @ np.linalg.solve(M, g))
    except np.linalg.LinAlgError:
        return float("inf")


def optimal_shares(x: np.ndarray, unit_var: np.ndarray, cost: np.ndarray, x_star: float
                   ) -> tuple[np.ndarray, float]:
    """Cost shares over sizes minimising the target's variance (c-optimal design)."""
    def f(u: np.ndarray) -> float:
        w = np.exp(u - u.max())
        w /= w.sum()
        v = target_variance(np.maximum(w, 1e-12), x, unit_var, cost, x_star)
        return np.log(v) if np.isfinite(v) and v > 0 else 1e6

    best = None
    for start in (np.zeros(len(x)), np.where(np.arange(len(x)) % (len(x) - 1) == 0, 2.0, 0.0)):
        r = optimize.minimize(f, start, method="Nelder-Mead",
                              options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
        if best is None or r.fun < best.fun:
            best = r
    w = np.exp(best.x - best.x.max())
    w /= w.sum()
    w[w < 1e-3] = 0.0                              # a size that buys nothing is not sampled
    w /= w.sum()
    return w, target_variance(np.maximum(w, 1e-12), x, unit_var, cost, x_star)


def plan_passuntil(counts: pd.DataFrame | str | Path, target_params: float, precision: float,
                   *, budget: float | None = None, confidence: float = 0.9,
                   task: str | None = None) -> PassUntilPlan:
    """Plan the sizes and samples per instance for ``precision`` at ``target_params``.

    ``counts``: pilot PassUntil counts (file or table, ``passuntil.counts`` schema).
    ``precision``: wanted relative half-width of the ``confidence`` interval of the target's
    predicted task pass rate. ``budget``: most cost, in samples of the smallest model.
    """
    from emergence_law.passuntil.counts import load_counts, select_counts

    if not target_params > 0:
        raise SettingError("target_params", f"must be a positive parameter count, got "
                           f"{target_params:g}")
    if not 0 < precision < 10:
        raise SettingError("precision", f"must be a relative half-width in (0, 10), got "
                           f"{precision:g}")
    if not 0.5 <= confidence < 1:
        raise SettingError("confidence", f"must lie in [0.5, 1), got {confidence:g}")
    if budget is not None and not budget > 0:
        raise SettingError("budget", f"must be positive, got {budget:g}")
    source = str(counts) if isinstance(counts, (str, Path)) else "<counts>"
    table = load_counts(counts, source=source)
    task_name, rows = select_counts(table, task)
    sizes = size_rates(rows, source)
    notes: list[str] = []
    x = np.log([s.params for s in sizes])
    means = np.array([s.mean for s in sizes])
    if np.any(means >= 1 - 1e-9):
        raise DataError("a model size passes every sample: its pass rate is 1, off the law's "
                        "scale", source=source, column="passes")
    y = np.log(-np.log(means))
    unit_var = np.array([s.unit_variance() for s in sizes])
    cost = np.array([s.params for s in sizes]) / min(s.params for s in sizes)
    x_star = float(np.log(target_params))
    a, b = _line(x, y, 1.0 / unit_var)
    pu = float(np.exp(-np.exp(a + b * x_star)))
    if b > 0:
        notes.append("the pilot's pass rates fall with size: the line (and the plan) is "
                     "unreliable")
    if target_params < np.exp(x).max():
        notes.append("the target is no larger than the largest pilot size: no extrapolation")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    shares, v1 = optimal_shares(x, unit_var, cost, x_star)
    h = np.log1p(precision)
    var_target = (h / (z * abs(np.log(pu)))) ** 2
    needed = v1 / var_target
    spend = needed if budget is None else min(needed, budget)
    reached = budget is None or needed <= budget
    if not reached:
        notes.append(f"the budget {budget:.4g} reaches a relative half-width of "
                     f"{rel_width(v1, budget, pu, z):.1%}, not {precision:.0%}: "
                     f"{needed:.4g} is needed")
    plan_rows, alloc = [], []
    for s, w, c in zip(sizes, shares, cost, strict=True):
        if w <= 0:
            continue
        total = w * spend / c
        floor = MIN_PASSES / s.mean
        if total < floor:
            if budget is None or spend + (floor - total) * c <= budget:
                spend += (floor - total) * c
                total = floor
            else:
                notes.append(f"{s.model}: the budget buys fewer than {MIN_PASSES} expected "
                             "passes there; the expected width is then optimistic")
        n = np.ceil(neyman_allocation(s.rates, total)).astype(int)
        n = np.maximum(n, 1)
        alloc += [{"model": s.model, "params": s.params, "instance": i, "samples": int(k),
                   "pilot_rate": float(p)} for i, k, p in zip(s.instances, n, s.rates,
                                                              strict=True)]
        plan_rows.append({"model": s.model, "params": s.params, "instances": len(n),
                          "samples": int(n.sum()), "samples_per_instance": float(n.mean()),
                          "min_per_instance": int(n.min()), "max_per_instance": int(n.max()),
                          "cost": float(n.sum() * c)})
    plan = pd.DataFrame(plan_rows)
    if budget is not None and plan["cost"].sum() > budget:   # rounding up to whole samples
        scale = budget / plan["cost"].sum()
        notes.append("samples were rounded to whole numbers and scaled back into the budget")
        alloc_df = pd.DataFrame(alloc)
        alloc_df["samples"] = np.maximum(np.floor(alloc_df["samples"] * scale), 1).astype(int)
        unit = dict(zip([s.params for s in sizes], cost, strict=True))
        if float((alloc_df["samples"] * alloc_df["params"].map(unit)).sum()) > budget:
            raise SettingError("budget", f"{budget:g} buys less than one sample per instance "
                               "at the sizes the plan needs")
        return _finish(task_name, target_params, precision, confidence, pu, budget, needed,
                       reached, alloc_df, sizes, cost, shares, v1, z, notes)
    return _finish(task_name, target_params, precision, confidence, pu, budget, needed, reached,
                   pd.DataFrame(alloc), sizes, cost, shares, v1, z, notes)


def _finish(task: str, target: float, precision: float, confidence: float, pu: float,
            budget: float | None, needed: float, reached: bool, alloc: pd.DataFrame,
            sizes: list[SizeRates], cost: np.ndarray, shares: np.ndarray, v1: float, z: float,
            notes: list[str]) -> PassUntilPlan:
    """The plan table from the per-instance allocation (sizes in increasing N)."""
    unit = dict(zip([s.params for s in sizes], cost, strict=True))
    g = alloc.groupby(["model", "params"], sort=False)["samples"]
    plan = pd.DataFrame({"samples": g.sum(), "instances": g.size(),
                         "samples_per_instance": g.mean(), "min_per_instance": g.min(),
                         "max_per_instance": g.max()}).reset_index()
    plan["cost"] = plan["samples"] * plan["params"].map(unit)
    plan = plan.sort_values("params").reset_index(drop=True)
    plan["cumulative_cost"] = plan["cost"].cumsum()
    width = allocation_width(alloc, pu, float(np.log(target)), z)
    plan["expected_rel_width"] = width
    shares_d = {s.model: float(w) for s, w in zip(sizes, shares, strict=True)}
    return PassUntilPlan(task, float(target), float(precision), float(confidence), pu,
                         None if budget is None else float(budget), float(needed),
                         bool(reached and width <= precision + 1e-9),
                         plan[PLAN_COLUMNS], alloc, shares_d, float(v1), z, notes)


def allocation_width(alloc: pd.DataFrame, pu: float, x_star: float, z: float) -> float:
    """Expected relative half-width of the target's interval for the samples as allocated
    (whole numbers, floors included): the line's variance at ``x_star`` from each size's
    task-mean variance ``sum_s p_s (1 - p_s) / n_s / S^2`` on the log(-log) scale."""
    xs, info = [], []
    for params, g in alloc.groupby("params"):
        p = g["pilot_rate"].to_numpy(float)
        n = g["samples"].to_numpy(float)
        m = p.mean()
        var_y = float(np.sum(p * (1 - p) / n)) / len(p) ** 2 / (m * np.log(m)) ** 2
        xs.append(np.log(params))
        info.append(1.0 / var_y)
    if len(xs) < 2:
        return float("inf")
    X = np.stack([np.ones(len(xs)), np.array(xs)], axis=1)
    M = (X * np.array(info)[:, None]).T @ X
    g = np.array([1.0, x_star])
    return float(np.expm1(z * abs(np.log(pu)) * np.sqrt(g @ np.linalg.solve(M, g))))


def plot_plan(plan: PassUntilPlan, path: str | Path) -> None:
    """Expected relative half-width against cost, with the precision, the plan and budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(plan.cost_needed, plan.total_cost, plan.budget or 0) * 3
    c = np.geomspace(top / 1e3, top, 200)
    w = [rel_width(plan.v1, ci, plan.predicted_pass_rate, plan.z) for ci in c]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(c, np.array(w) * 100, color="C0", lw=2,
            label="expected relative half-width (optimal sizes, Neyman per size)")
    ax.axhline(plan.precision * 100, color="C2", ls="--",
               label=f"requested precision {plan.precision:.0%}")
    if plan.budget is not None:
        ax.axvline(plan.budget, color="C3", ls=":", label=f"budget {plan.budget:.3g}")
    ax.plot([plan.total_cost], [plan.expected_rel_width * 100], "o", color="C1", ms=8,
            label=f"plan: cost {plan.total_cost:.3g}, {plan.expected_rel_width:.1%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cost (samples of the smallest model)")
    ax.set_ylabel(f"relative half-width of the {plan.confidence:.0%} interval (%)")
    shares = ", ".join(f"{m} {s:.0%}" for m, s in plan.shares.items() if s > 0)
    ax.set_title(f"{plan.task}: pass rate at N = {plan.target_params:.2g} "
                 f"(predicted {plan.predicted_pass_rate:.2g})\ncost shares: {shares}",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
