"""Adaptive allocation of samples across a task's instances (after Kazdan et al. 2025).

PassUntil with a fixed r spends ``r / p_s`` samples on instance s: almost all of a task's budget
goes to its hardest instances, whose pass rates barely move the task mean. For the task mean
``mean_s p_s`` estimated by ``mean_s R_s / n_s``, the variance is ``sum_s p_s (1 - p_s) / n_s / S^2``
and, for a fixed total, it is smallest when ``n_s`` is proportional to ``sqrt(p_s (1 - p_s))``
(Neyman allocation): more samples where a pass is likelier, never ``1/p``. The pass rates are
unknown, so the allocation is sequential: after a pilot batch per instance, each next batch goes
to the instance whose batch would cut the estimated variance most,
``v_s (1/n_s - 1/(n_s + b))``, with ``v_s`` from a pass rate shrunk towards the pooled rate by a
prior worth one pass (an instance with no pass yet keeps a plausible positive rate, so it is
revisited as the others settle, never starved by an unlucky start).
Sampling stops when the estimated 95% half-width is within ``rel_error`` of the mean (and at
least ``min_passes`` passes were seen, so the estimate of the variance is itself trustworthy), or
when the budget is spent.

Counts from this design are written as fixed-budget (binomial) rows. The number of samples an
instance gets depends on its own outcomes (an unlucky start gets fewer samples and keeps its low
R/K), so the plain mean of R/K is biased low: measured -16% on 40 instances with p log-uniform in
1e-5..1e-2. The likelihood is unaffected by the allocation (it depends on the data only through
the counts), so :func:`task_mean_estimate` uses an empirical-Bayes estimate instead: each
instance's posterior mean under the beta distribution of pass rates fitted to all instances by
beta-binomial likelihood, which shrinks thinly-sampled instances towards the population (measured
bias within a few percent; see ``benchmarks/bench_passuntil_adaptive.py``).

The functions here are pure (no model, no store): :func:`run_adaptive` takes a ``draw(i, n)``
callable that returns the passes among ``n`` new samples of instance ``i``. The sampling engine
(:func:`emergence_law.passuntil.sample.adaptive_sample`), the benchmark and a planning command can
all use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emergence_law.errors import SettingError

Z95 = 1.959963984540054


def shrunk_rates(trials: np.ndarray, passes: np.ndarray, pseudo_passes: float = 1.0
                 ) -> np.ndarray:
    """Pass rates shrunk towards the pooled rate m by a prior worth ``pseudo_passes`` passes
    (``pseudo_passes / m`` pseudo-samples). Why so strong: with a prior of a few pseudo-samples
    an instance that drew no pass in its first thousand samples gets a rate of ~1e-7 and is
    never sampled again (measured: a 1.5e-3 instance starved at 1,853 samples, task mean -24%)."""
    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    pooled = (x.sum() + 0.5) / (k.sum() + 1.0)
    return (x + pseudo_passes) / (k + pseudo_passes / pooled)


def mean_and_se(trials: np.ndarray, passes: np.ndarray) -> tuple[float, float]:
    """Task mean of R/K and its estimated standard error (variances from shrunk rates)."""
    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    if np.any(k <= 0):
        return float("nan"), float("inf")
    p = shrunk_rates(k, x)
    var = float(np.sum(p * (1 - p) / k)) / len(k) ** 2
    return float(np.mean(x / k)), float(np.sqrt(var))


def relative_half_width(trials: np.ndarray, passes: np.ndarray, z: float = Z95) -> float:
    """Estimated half-width of the task mean's interval relative to the mean (inf if 0)."""
    mean, se = mean_and_se(trials, passes)
    return float(z * se / mean) if mean > 0 else float("inf")


def instance_rates(trials: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Each instance's empirical-Bayes posterior mean pass rate under the beta distribution of
    pass rates fitted to all instances by beta-binomial likelihood (raises
    ``NotIdentifiableError`` when none passed or all did). Valid for any stopping rule
    (sample-until-r, adaptive, fixed): the likelihood depends on the counts only. Unlike
    :func:`shrunk_rates` (a prior worth one pass at the pooled rate, for steering), it keeps
    heterogeneous instances apart: under sample-until-r the hardest instances' trials dominate
    the pooled rate, and an easy instance (2 passes in 10) was shrunk to 4e-4."""
    from emergence_law.passuntil.distribution import fit_beta

    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    fb = fit_beta(k, x, scaled=False)
    return (x + fb.a) / (k + fb.a + fb.b)


def task_mean_estimate(trials: np.ndarray, passes: np.ndarray) -> float:
    """The task mean of an adaptive run: mean of empirical-Bayes posterior means (see above)."""
    from emergence_law.errors import NotIdentifiableError

    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    try:
        return float(np.mean(instance_rates(k, x)))
    except NotIdentifiableError:
        return float(np.mean(x / k))


def next_instance(trials: np.ndarray, passes: np.ndarray, batch: int,
                  cap: np.ndarray | int | None = None) -> int:
    """The instance whose next ``batch`` samples cut the task mean's variance most (-1: none)."""
    k = np.asarray(trials, dtype=float)
    p = shrunk_rates(k, passes)
    gain = p * (1 - p) * (1.0 / np.maximum(k, 1.0) - 1.0 / (k + batch))
    if cap is not None:
        gain = np.where(k >= cap, -np.inf, gain)
    i = int(np.argmax(gain))
    return i if np.isfinite(gain[i]) else -1


def neyman_allocation(pass_rates, total: float) -> np.ndarray:
    """The variance-optimal samples per instance for known pass rates (for planning)."""
    p = np.asarray(pass_rates, dtype=float)
    w = np.sqrt(np.clip(p * (1 - p), 0, None))
    if w.sum() == 0:
        return np.full(len(p), total / len(p))
    return total * w / w.sum()


@dataclass
class AdaptiveResult:
    """Counts of an adaptive run and why it stopped."""

    trials: np.ndarray
    passes: np.ndarray
    stopped: str
    rel_half_width: float
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(self.trials.sum())


def run_adaptive(
    draw: Callable[[int, int], int],
    n_instances: int,
    *,
    rel_error: float = 0.1,
    budget: int = 100_000,
    total_budget: int | None = None,
    batch: int = 64,
    pilot: int | None = None,
    min_passes: int = 10,
    z: float = Z95,
    trials: np.ndarray | None = None,
    passes: np.ndarray | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> AdaptiveResult:
    """Sample adaptively until the task mean is known to ``rel_error`` (see ``z``).

    ``draw(i, n)`` returns the passes among ``n`` new samples of instance ``i``. ``budget``
    caps each instance, ``total_budget`` (default ``budget * n_instances``) the run.
    ``trials``/``passes``: counts already taken (resume). ``on_batch(i, trials_i, passes_i)`` is
    called after every batch (e.g. to store the counts).
    """
    if not 0 < rel_error < 1:
        raise SettingError("rel_error", f"must lie in (0, 1), got {rel_error}")
    if batch < 1:
        raise SettingError("batch", f"must be at least 1, got {batch}")
    if budget < 1:
        raise SettingError("budget", f"must be at least 1, got {budget}")
    pilot = batch if pilot is None else pilot
    total_budget = budget * n_instances if total_budget is None else total_budget
    k = np.zeros(n_instances, dtype=np.int64) if trials is None else np.array(trials, np.int64)
    x = np.zeros(n_instances, dtype=np.int64) if passes is None else np.array(passes, np.int64)
    history: list[tuple[int, float]] = []

    def take(i: int, n: int) -> None:
        n = int(min(n, budget - k[i], total_budget - k.sum()))
        if n <= 0:
            return
        got = int(draw(i, n))
        k[i] += n
        x[i] += got
        if on_batch is not None:
            on_batch(i, int(k[i]), int(x[i]))

    for i in range(n_instances):  # pilot
        if k[i] < pilot:
            take(i, pilot - k[i])
    stopped = "budget"
    while k.sum() < total_budget:
        rel = relative_half_width(k, x, z)
        history.append((int(k.sum()), rel))
        if rel <= rel_error and x.sum() >= min_passes:
            stopped = "precision"
            break
        i = next_instance(k, x, batch, cap=budget)
        if i < 0:
            stopped = "every instance at its budget"
            break
        # batches grow with what the instance already has (at most +25%), so that a run of
        # millions of samples takes thousands of decisions, not millions
        take(i, max(batch, int(k[i]) // 4))
    return AdaptiveResult(k, x, stopped, relative_half_width(k, x, z), history)
