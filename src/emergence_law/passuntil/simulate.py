"""Simulated PassUntil data with known truth, for statistical tests and benchmarks.

:func:`simulate_passuntil` draws the exact truncated inverse-sampling outcome of an instance
with pass rate p (the positions of the first r passes are cumulative geometric gaps), so it
costs O(r) per instance whatever the budget. :func:`simulate_task` draws heterogeneous
instances, each with its own line ``log(-log PU_s) = log c_s - alpha_s log N``, and their
PassUntil counts for a ladder of model sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.settings import with_overrides


def simulate_passuntil(p, r: int, budget: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trials K, passes R and censored flags for instances of pass rates ``p`` (array)."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    gaps = rng.geometric(np.clip(p, 1e-300, 1.0)[:, None], size=(len(p), r))
    pos = np.cumsum(gaps.astype(float), axis=1)  # sample index of each pass
    reached = pos[:, -1] <= budget
    trials = np.where(reached, pos[:, -1], budget).astype(np.int64)
    passes = np.where(reached, r, (pos <= budget).sum(axis=1)).astype(np.int64)
    return trials, passes, ~reached


@dataclass
class SimulatedTask:
    """A simulated task: counts table, true per-instance lines, and the truth at any size."""

    counts: pd.DataFrame
    log_c: np.ndarray
    alpha: np.ndarray

    def true_pass_rate(self, params: float) -> float:
        """The task pass rate (mean over these instances) of a model of ``params`` parameters."""
        return float(np.mean(np.exp(-np.exp(self.log_c - self.alpha * np.log(params)))))


#: the model sizes of a simulated ladder (parameters)
SIZES = (1e8, 2e8, 4e8, 8e8)


@dataclass(frozen=True)
class Population:
    """How a task's instances differ: each instance's line ``log(-log PU) = log c - alpha log N``
    has a normal slope ``alpha`` and a normal height ``eta_small`` at the smallest size.

    eta = 2 means PU = exp(-e^2) ~ 6e-4; eta = 2.44 means 1e-5; eta = 1.5 means 1e-2.
    """

    mean_alpha: float = 0.5
    sd_alpha: float = 0.25
    mean_eta_small: float = 2.0
    sd_eta_small: float = 0.5

    def lines(self, rng: np.random.Generator, n_instances: int,
              smallest: float) -> tuple[np.ndarray, np.ndarray]:
        """Each instance's (alpha, log c), with ``eta_small`` the height at ``smallest``."""
        alpha = rng.normal(self.mean_alpha, self.sd_alpha, n_instances)
        eta_small = rng.normal(self.mean_eta_small, self.sd_eta_small, n_instances)
        return alpha, eta_small + alpha * np.log(smallest)


@dataclass(frozen=True)
class Sampling:
    """How each instance is sampled: ``sample-until-r`` (until ``r`` passes, at most ``budget``
    samples; exact truncated inverse sampling) or ``fixed`` (``budget`` samples, binomial)."""

    design: str = "sample-until-r"
    r: int = 2
    budget: int = 20_000

    def counts(self, p: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """Trials, passes and the design columns of instances with pass rates ``p``."""
        if self.design == "fixed":
            extra = [{"design": "fixed"} for _ in range(len(p))]
            return np.full(len(p), self.budget), rng.binomial(self.budget, p), extra
        k, x, c = simulate_passuntil(np.maximum(p, 1e-300), self.r, self.budget, rng)
        return k, x, [{"censored": bool(ci), "r": self.r, "budget": self.budget} for ci in c]


#: the defaults of :func:`simulate_task` and of :func:`simulate_family` (rarer instances)
TASK_POPULATION = Population()
FAMILY_POPULATION = Population(sd_alpha=0.3, mean_eta_small=2.4)
SAMPLING = Sampling()


def simulate_task(
    n_instances: int = 40,
    params: tuple[float, ...] = SIZES,
    *,
    population: Population = TASK_POPULATION,
    sampling: Sampling = SAMPLING,
    seed: int = 0,
    task: str = "sim",
    **overrides: Any,
) -> SimulatedTask:
    """Heterogeneous instances of a :class:`Population` and their counts under a
    :class:`Sampling` design; any of their fields may be given as a keyword
    (``simulate_task(sd_alpha=0.1, budget=5000)``)."""
    population, sampling = with_overrides("simulate_task", overrides, population, sampling)
    rng = np.random.default_rng(seed)
    alpha, log_c = population.lines(rng, n_instances, params[0])
    rows = []
    for n in params:
        p = np.exp(-np.exp(log_c - alpha * np.log(n)))
        rows += _count_rows(n, task, *sampling.counts(p, rng))
    return SimulatedTask(pd.DataFrame(rows), log_c, alpha)


def _count_rows(n: float, task: str, trials: np.ndarray, passes: np.ndarray,
                extra: list[dict]) -> list[dict]:
    """One counts row per instance of the model of size ``n``."""
    return [{"model": f"m{int(n):d}", "params": float(n), "task": task, "instance": f"i{i:03d}",
             "trials": int(trials[i]), "passes": int(passes[i]), **e}
            for i, e in enumerate(extra)]


@dataclass(frozen=True)
class Misspecification:
    """How a family departs from the law: ``shock_sd`` a size-level shift of every instance's
    log(-log p) (training runs differ; the target size gets its own shift), ``curvature`` a
    quadratic term in log N (sub- or super-scaling), ``impossible`` the share of instances that
    never pass at any size."""

    shock_sd: float = 0.0
    curvature: float = 0.0
    impossible: float = 0.0


#: no departure: the default of :func:`simulate_family`
WELL_SPECIFIED = Misspecification()


@dataclass
class SimulatedFamily:
    """Counts of a model family on one task, with the true task pass rate at any size."""

    counts: pd.DataFrame
    log_c: np.ndarray
    alpha: np.ndarray
    possible: np.ndarray
    curvature: float
    shock_sd: float
    rng_state: int
    shocks: dict[float, float]

    def true_pass_rate(self, params: float) -> float:
        """Task pass rate at ``params``, size shock included (drawn once per size)."""
        if params not in self.shocks:
            rng = np.random.default_rng([self.rng_state, int(np.log(params) * 1000)])
            self.shocks[params] = float(rng.normal(0, self.shock_sd)) if self.shock_sd else 0.0
        eta = _family_eta(self, np.log(params)) + self.shocks[params]
        p = np.where(self.possible, np.exp(-np.exp(eta)), 0.0)
        return float(np.mean(p))


def _family_eta(fam: SimulatedFamily, x: float) -> np.ndarray:
    x_ref = np.log(fam.counts["params"].min())
    return fam.log_c - fam.alpha * x + fam.curvature * (x - x_ref) ** 2


def simulate_family(
    n_instances: int = 40,
    params: tuple[float, ...] = SIZES,
    *,
    population: Population = FAMILY_POPULATION,
    sampling: Sampling = SAMPLING,
    misspecification: Misspecification = WELL_SPECIFIED,
    seed: int = 0,
    task: str = "sim",
    **overrides: Any,
) -> SimulatedFamily:
    """Counts from families whose law is off by realistic amounts (for coverage checks).

    Beyond :func:`simulate_task`: a :class:`Misspecification`. As there, any field of the three
    groups may be given as a keyword (``simulate_family(shock_sd=0.25, design="fixed")``).
    """
    population, sampling, off = with_overrides("simulate_family", overrides, population,
                                                sampling, misspecification)
    rng = np.random.default_rng(seed)
    alpha, log_c = population.lines(rng, n_instances, params[0])
    possible = rng.random(n_instances) >= off.impossible
    fam = SimulatedFamily(pd.DataFrame({"params": list(params)}), log_c, alpha, possible,
                          off.curvature, off.shock_sd, seed, {})
    rows = []
    for n in params:
        fam.true_pass_rate(n)  # draws this size's shock
        eta = _family_eta(fam, np.log(n)) + fam.shocks[n]
        p = np.where(possible, np.exp(-np.exp(eta)), 0.0)
        rows += _count_rows(n, task, *sampling.counts(p, rng))
    fam.counts = pd.DataFrame(rows)
    return fam
