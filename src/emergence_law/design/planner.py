"""``design_runs``: from the current table and a list of possible runs to the next batch.

1. What we believe now: particles of the law (:mod:`emergence_law.design.particles`): the
   bootstrap of the current fit, or the paper-range prior conditioned on the rows (cold start).
2. Which runs: greedy, batch-aware, on the linearised expected width
   (:mod:`emergence_law.design.greedy`), within the budget.
3. What they buy: the expected 90% width of E(D0) after the first k chosen runs, by simulating
   their outcomes from the posterior predictive and refitting with the batched bootstrap
   (:mod:`emergence_law.design.evaluate`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.design.candidates import load_candidates, prepare_candidates
from emergence_law.design.evaluate import candidate_rows, design_width, simulate_outcomes
from emergence_law.design.greedy import greedy_select
from emergence_law.design.particles import current_fit_bar, current_particles
from emergence_law.errors import DataError, SettingError
from emergence_law.observations import load_observations, select_task

CANDIDATE_OUT = ["model", "checkpoint", "loss", "n_train", "method", "subset"]
LEVEL = 0.9


@dataclass
class DesignResult:
    """The chosen runs (``runs``: the ``next_runs.csv`` table) and what they are expected to buy.

    ``runs`` has the candidate columns plus ``cost``, ``cumulative_cost``, ``expected_width``
    (expected 90% width of E(D0) after the runs up to this row), ``identifiable`` (fraction of
    simulated outcomes the estimator accepts) and ``evaluated`` (False: the width was
    interpolated in cumulative cost between evaluated rows, see ``max_evals``).
    """

    task: str
    budget: float
    d0: float
    cold_start: bool
    current_source: str              # "fit" (bootstrap of the current fit) or "posterior"
    current_width: float
    posterior_width: float
    runs: pd.DataFrame
    cost_model: str
    cost_unit: str
    n_candidates: int
    settings: dict[str, Any]
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    #: per evaluated prefix length: (raw bootstrap widths, identifiable, refit at an edge)
    tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        return float(self.runs["cost"].sum()) if len(self.runs) else 0.0

    @property
    def final_width(self) -> float:
        return float(self.runs["expected_width"].iloc[-1]) if len(self.runs) else \
            self.current_width

    def grid(self) -> dict[str, Any]:
        """The batch as a grid: checkpoints, data levels, and subsets per (checkpoint, D)."""
        r = self.runs
        if r.empty:
            return {"checkpoints": [], "n_train": [], "max_subsets": 0, "runs": 0}
        ck = (r["model"].astype(str) + "@" + r["checkpoint"].astype(str))
        per = r.groupby([ck, r["n_train"]]).size()
        order = r.assign(_ck=ck).sort_values("loss", ascending=False)["_ck"]
        return {"checkpoints": list(dict.fromkeys(order)),
                "n_train": sorted(int(d) for d in r["n_train"].unique()),
                "max_subsets": int(per.max()), "runs": int(len(r))}

    def summary(self) -> str:
        g = self.grid()
        lines = [
            f"design for task {self.task}: {len(self.runs)} of {self.n_candidates} candidate runs, "
            f"cost {self.total_cost:g} of budget {self.budget:g} ({self.cost_model})",
            f"  now: 90% width of E(D0) {self.current_width:.3f} nats "
            f"({'what fit reports: parametric bootstrap' if self.current_source == 'fit' else 'no fit possible yet: posterior under the paper-range prior'}"
            f"{'; cold start' if self.cold_start else ''})",
            f"  after the batch: expected width {self.final_width:.3f} nats",
        ]
        if g["runs"]:
            lines.append(f"  grid: {len(g['checkpoints'])} checkpoints, D = "
                         f"{', '.join(map(str, g['n_train']))}, up to {g['max_subsets']} "
                         "subset(s) per (checkpoint, D)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "budget": self.budget, "d0": self.d0,
                "cold_start": self.cold_start, "current_source": self.current_source,
                "current_width": self.current_width, "posterior_width": self.posterior_width, "expected_width": self.final_width,
                "total_cost": self.total_cost, "n_runs": int(len(self.runs)),
                "n_candidates": self.n_candidates, "cost_model": self.cost_model,
                "grid": self.grid(), "settings": self.settings, "timings_s": self.timings,
                "notes": self.notes}

    def plot(self, path: str | Path | None = None) -> Any:
        from emergence_law.design.plots import plot_width_vs_cost

        return plot_width_vs_cost(self, path)


def _d0(rows: pd.DataFrame) -> float:
    shots = rows.loc[rows["setting"] == "fewshot", "shots"].dropna()
    if shots.empty:
        raise DataError("the design needs few-shot rows (their shots give D0)", column="shots")
    return max(float(shots.astype(int).value_counts().idxmax()), 2.0)


def _eval_prefixes(cum: np.ndarray, max_evals: int) -> list[int]:
    """Prefix lengths (1-based) whose width is computed by refits: all, or ``max_evals`` of
    them evenly spaced in cumulative cost (always the first and the last)."""
    k = len(cum)
    if k <= max_evals:
        return list(range(1, k + 1))
    targets = np.linspace(cum[0], cum[-1], max_evals)
    idx = np.searchsorted(cum, targets - 1e-9) + 1
    return sorted(set(int(i) for i in np.clip(idx, 1, k)) | {1, k})


def score_tables(width: np.ndarray, ok: np.ndarray, edge: np.ndarray, current: float
                 ) -> np.ndarray:
    """Per simulated table, the width a batch is credited with: the refit's 90% width when it
    gives a forecast, else the current width (no better than now).

    No forecast: the estimator refuses the table, or its MLE of E(D0) sits at the search
    range's edge or at the few-shot rows' least loss (``edge``): a bound, not an estimate
    (the fit itself says so), whose bootstrap piles up at the edge, so its width is not a
    forecast's width. Issue 15: credited with that width, the lab's full-finetuning pilot at
    20 % and 35 % of the grid's cost was cut to one run, whose simulated refits were all bounds
    of width 0.45 against 0.53 for the whole batch (whose refits were bounds too, save a few).
    """
    return np.where(ok & ~edge, width, current)


def _significantly_below(a: np.ndarray, b: np.ndarray | float) -> bool:
    """Is mean(a) below mean(b) by more than 2 standard errors of the paired difference?"""
    d = np.asarray(b, dtype=float) - a
    if d.size < 2 or np.allclose(d, d.mean()):
        return bool(d.mean() > 0)
    return bool(d.mean() > 2.0 * d.std(ddof=1) / np.sqrt(d.size))


def _cut(per_table: dict[int, np.ndarray], current: float | None,
         forecast: dict[int, float] | None = None) -> int:
    """Rows to keep, judged first by the share of simulated outcomes that give a forecast
    (``forecast``: identifiable and not a bound), then by expected width.

    A prefix whose outcomes give a forecast less often than the whole batch's is never
    preferred (its missing forecasts count with the current width, which is no forecast;
    issue 15: on the lab's pilots one run, all of whose outcomes were bounds, beat every
    fuller batch). Among the others: all rows, unless an earlier prefix is significantly
    narrower than the whole batch (then that prefix). Never worse in expectation than now:
    with a fair bar (``current``: the width the current fit reports), a batch not below it is
    cut to the best prefix that is, else to none. Without one (cold start, or a current fit
    that is itself a bound), the reference ``ref`` of the scores is the posterior's width
    under the prior, which the refits do not use: a prefix below it is taken when the whole
    batch is not, and otherwise the batch stands, as it raises the chance of any forecast
    (a first version also cut cold starts against it: no run at all on a noisy table)."""
    last = max(per_table)
    pool = list(per_table)
    if forecast:
        pool = [j for j in pool if forecast[j] >= forecast[last] - 1e-9]
    best = min(pool, key=lambda j: per_table[j].mean())
    keep = best if best != last and _significantly_below(per_table[best],
                                                         per_table[last]) else last
    if current is not None and per_table[keep].mean() >= current:
        keep = best if per_table[best].mean() < current else 0
    return keep


def _cut_reference(per_table: dict[int, np.ndarray], keep: int, ref: float,
                   forecast: dict[int, float]) -> int:
    """Without a fair bar: the best prefix below ``ref`` when ``keep`` is not (see ``_cut``)."""
    if keep and per_table[keep].mean() >= ref:
        below = [j for j in per_table if per_table[j].mean() < ref
                 and forecast[j] >= forecast[keep] - 1e-9]
        if below:
            return min(below, key=lambda j: per_table[j].mean())
    return keep


def design_runs(
    observations: pd.DataFrame | str | Path, task: str, candidates: pd.DataFrame | str | Path,
    budget: float, *, n_particles: int = 2000, n_tables: int = 12, n_boot: int = 40,
    max_evals: int = 10, seed: int = 0, metric: str | None = None, series: str | None = None,
    method: str | None = None, source: str | None = None, cut: bool = True,
) -> DesignResult:
    """Choose the runs within ``budget`` that narrow the 90% interval of E(D0) the most.

    ``candidates``: a file or a raw table (see :mod:`emergence_law.design.candidates`).
    ``n_tables`` simulated outcome tables and ``n_boot`` bootstrap replicates each give every
    evaluated row's expected width; at most ``max_evals`` rows are evaluated (the rest are
    interpolated in cumulative cost). ``cut=False`` keeps the whole greedy batch (no stop
    where the expected width stops falling; for benchmarks that judge the order alone).
    """
    t0 = time.perf_counter()
    if not budget > 0:
        raise SettingError("budget", f"must be positive, got {budget:g}")
    for name, v, lo in (("n_tables", n_tables, 2), ("n_boot", n_boot, 10),
                        ("max_evals", max_evals, 2)):
        if v < lo:
            raise SettingError(name, f"must be at least {lo}, got {v}")
    obs = load_observations(observations, source=source)
    sel = select_task(obs, task, metric=metric, series=series, method=method,
                      source=source or "observations")
    rows = sel.rows
    d0 = _d0(rows)
    if isinstance(candidates, (str, Path)):
        cands = load_candidates(candidates, observations=rows)
    else:
        cands = prepare_candidates(candidates, observations=rows)
    notes: list[str] = []
    if cands.attrs.get("already_measured"):
        notes.append(f"{cands.attrs['already_measured']} candidate run(s) already in the table "
                     "were left out")
    cost = cands["cost"].to_numpy(float)
    if cost.min() > budget:
        raise SettingError("budget", f"{budget:g} buys no run (the cheapest costs "
                           f"{cost.min():g}, {cands.attrs['cost_model']})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = current_particles(rows, task, cands["loss"].to_numpy(float), d0, n=n_particles,
                              seed=seed)
    cold = not bool((rows["setting"] == "finetune").any())
    fit_width, why = (None, None) if cold else current_fit_bar(rows, task, d0, seed=seed,
                                                                level=LEVEL)
    if why is not None:  # a wrong, confident fit must not veto every batch (issue 15)
        notes.append(f"the current fit's width is no fair bar for the batch ({why}): the "
                     "batch is judged as from a cold start, against the posterior under the "
                     "paper-range prior")
    current = p.width(LEVEL) if fit_width is None else fit_width
    t1 = time.perf_counter()
    g = greedy_select(p, cands["loss"].to_numpy(float), cands["n_train"].to_numpy(float), cost,
                      budget, seed=seed)
    t2 = time.perf_counter()
    chosen = cands.iloc[g.order].reset_index(drop=True)
    cols = [c for c in cands.columns if c in CANDIDATE_OUT or cands[c].notna().any()]
    runs = chosen[[c for c in cols if c not in ("cost",)]].copy()
    runs["cost"] = chosen["cost"].to_numpy(float)
    runs["cumulative_cost"] = np.cumsum(runs["cost"].to_numpy())
    k = len(runs)
    widths = np.full(k, np.nan)
    ident = np.full(k, np.nan)
    fcast = np.full(k, np.nan)
    evaluated = np.zeros(k, bool)
    per_table: dict[int, np.ndarray] = {}
    raw: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if k:
        rng = np.random.default_rng(seed + 1)
        out = simulate_outcomes(p, chosen, n_tables, rng)
        truths = p.subset(out.truth)
        new = candidate_rows(chosen, task, rows)
        for j in _eval_prefixes(runs["cumulative_cost"].to_numpy(), max_evals):
            w, ok, edge = design_width(rows, new.iloc[:j], out.values[:, :j], truths, task,
                                       d0, current, n_boot=n_boot, level=LEVEL,
                                       rng=np.random.default_rng([seed, j]))
            raw[j] = (w.copy(), ok, edge)
            w = score_tables(w, ok, edge, current)
            widths[j - 1], ident[j - 1], evaluated[j - 1] = float(w.mean()), float(ok.mean()), True
            fcast[j - 1] = float((ok & ~edge).mean())
            per_table[j] = w
        cum = runs["cumulative_cost"].to_numpy()
        e = evaluated
        widths[~e] = np.interp(cum[~e], cum[e], widths[e])
        ident[~e] = np.interp(cum[~e], cum[e], ident[e])
        fcast[~e] = np.interp(cum[~e], cum[e], fcast[e])
        if not e.all():
            notes.append(f"expected width computed by refits at {int(e.sum())} of {k} rows "
                         "(evaluated = True), interpolated in cumulative cost between them")
    runs["expected_width"] = widths
    runs["identifiable"] = ident
    runs["forecast"] = fcast
    runs["evaluated"] = evaluated
    if k and cut:  # cut the batch where it stops helping (differences beyond Monte Carlo noise only)
        share = {j: float(fcast[j - 1]) for j in per_table}
        best = _cut(per_table, None if fit_width is None else current, share)
        if fit_width is None:
            best = _cut_reference(per_table, best, current, share)
        if best < k:
            notes.append(
                f"the greedy order continued to {k} runs (cost {runs['cumulative_cost'].iloc[-1]:g},"
                f" expected width {widths[-1]:.3f}); "
                + (f"runs after row {best} did not narrow the expected interval further and "
                   "were dropped" if best else
                   "no prefix of it is expected to narrow the interval: a larger budget is "
                   "needed (or the capability is beyond what these checkpoints can show)"))
            runs = runs.iloc[:best].reset_index(drop=True)
            ident, fcast, k = ident[:best], fcast[:best], best
    if k == 0 and not len(g.order):
        notes.append("no affordable run narrows the interval: nothing to do within the budget")
    elif k and ident[-1] < 0.5:
        notes.append(f"only {ident[-1]:.0%} of the simulated outcomes of the whole batch give "
                     "a fit the estimator accepts: the budget may be too small to locate the "
                     "elbows (or the capability is far beyond these checkpoints)")
    elif k and fcast[-1] < 0.5:
        notes.append(f"only {fcast[-1]:.0%} of the simulated outcomes of the whole batch give "
                     "a forecast; in the others the refit's E(D0) sits at the data's edge or "
                     "its search bound (a bound, not an estimate), counted with the current "
                     "width: runs on more capable checkpoints than these are what would help")
    t3 = time.perf_counter()
    return DesignResult(
        task=task, budget=float(budget), d0=d0, cold_start=cold,
        current_source="posterior" if fit_width is None else "fit", current_width=current,
        posterior_width=p.width(LEVEL), runs=runs, cost_model=str(cands.attrs["cost_model"]),
        cost_unit=str(cands.attrs["cost_unit"]),
        n_candidates=int(len(cands)),
        settings={"n_particles": n_particles, "n_tables": n_tables, "n_boot": n_boot,
                  "max_evals": max_evals, "seed": seed, "level": LEVEL,
                  "surrogate_width": [g.start] + g.surrogate},
        timings={"particles": t1 - t0, "select": t2 - t1, "evaluate": t3 - t2,
                 "total": t3 - t0},
        notes=notes, tables=raw)
