"""pass@k from counts: unbiased where the samples reach k, the fitted distribution beyond.

**Unbiased.** pass@k of an instance is ``1 - (1 - p)^k``. With ``n`` samples of which ``c``
passed (a fixed budget, or a PassUntil run stopped at its budget), Chen et al. (2021) give the
unbiased ``1 - C(n - c, k) / C(n, k)`` for ``k <= n``. A PassUntil run that stopped at its r-th
pass after K samples has its own: the r - 1 earlier passes are spread uniformly over the first
K - 1 samples, so ``P(the first k samples all fail | K) = C(K - 1 - k, r - 1) / C(K - 1, r - 1)``
(0 when K <= k), and ``1 - that`` is unbiased for every k (it is the Rao-Blackwellisation of
"the first k samples all failed", which such a run always reveals). Both are exactly unbiased
under the truncated sample-until-r design. The task's pass@k is the mean over instances, with a
BCa bootstrap interval over instances; where some instance has fewer than k samples and did
not stop at a pass, no unbiased estimate exists and the table says so.

**Beyond the samples.** The scaled beta distribution of pass rates fitted to the instances
(:mod:`emergence_law.passuntil.distribution`, Schaeffer et al. 2025) gives
``pass@k = 1 - E[(1 - p)^k]`` at any k.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from emergence_law.errors import NotIdentifiableError, SettingError


def _log_choose(n: np.ndarray, m: np.ndarray) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    m = np.asarray(m, dtype=float)
    ok = (m >= 0) & (n >= m)
    with np.errstate(invalid="ignore"):
        v = special.gammaln(n + 1) - special.gammaln(m + 1) - special.gammaln(n - m + 1)
    return np.where(ok, v, -np.inf)


def passk_unbiased(trials, passes, censored, k: int) -> np.ndarray:
    """Per-instance unbiased pass@k (NaN where no unbiased estimate exists: k > samples of an
    instance that stopped at its budget)."""
    if k < 1:
        raise SettingError("k", f"k must be at least 1, got {k}")
    n = np.asarray(trials, dtype=float)
    c = np.asarray(passes, dtype=float)
    cens = np.broadcast_to(np.asarray(censored, dtype=bool), n.shape)
    with np.errstate(invalid="ignore"):
        # stopped at the budget (or a fixed budget): Chen et al.
        fail_all = np.exp(_log_choose(n - c, k) - _log_choose(n, k))
        out = np.where(k <= n, 1.0 - fail_all, np.nan)
        # stopped at the r-th pass (r = c): the r - 1 earlier passes are uniform over K - 1
        stop = ~cens & (c >= 1)
        fail_stop = np.exp(_log_choose(n - 1 - k, c - 1) - _log_choose(n - 1, c - 1))
    return np.where(stop, 1.0 - fail_stop, np.where(cens, out, np.nan))


def task_passk(trials, passes, censored, k: int, confidence: float = 0.95,
               seed: int = 0) -> tuple[float, float, float]:
    """Task pass@k (mean over instances) with a BCa bootstrap interval; NaNs if not estimable."""
    est = passk_unbiased(trials, passes, censored, k)
    if np.any(np.isnan(est)):
        return float("nan"), float("nan"), float("nan")
    mean = float(np.mean(est))
    if len(est) < 2 or np.all(est == est[0]):
        return mean, mean, mean
    lo = hi = float("nan")
    for method in ("BCa", "percentile"):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((est,), np.mean, confidence_level=confidence, method=method,
                                  n_resamples=2000, random_state=seed, vectorized=True)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            break
    return mean, lo, hi


def passk_table(rows: pd.DataFrame, ks: list[int], *, confidence: float = 0.95,
                scaled: bool = True) -> pd.DataFrame:
    """Per model and k: unbiased pass@k with its interval, and the distributional pass@k."""
    from emergence_law.passuntil.distribution import fit_beta

    if not 0 < confidence < 1:
        raise SettingError("confidence", f"must lie in (0, 1), got {confidence}")
    out = []
    for (model, params), g in rows.groupby(["model", "params"], sort=False):
        k_ = g["trials"].to_numpy(dtype=float)
        x_ = g["passes"].to_numpy(dtype=float)
        c_ = g["censored"].to_numpy(dtype=bool)
        try:
            fit = fit_beta(k_, x_, scaled=scaled)
            dist = fit.pass_at_k(ks)
            dnote = ""
        except NotIdentifiableError as exc:
            fit, dist, dnote = None, np.full(len(ks), np.nan), str(exc)
        for j, k in enumerate(ks):
            mean, lo, hi = task_passk(k_, x_, c_, k, confidence)
            short = int(np.sum(c_ & (k_ < k)))
            note = (f"{short} of {len(k_)} instances have fewer than {k} samples and did not "
                    "stop at a pass" if np.isnan(mean) else "")
            out.append({"model": model, "params": float(params), "k": int(k),
                        "unbiased": mean, "lower": lo, "upper": hi,
                        "distribution": float(dist[j]), "n_instances": len(k_),
                        "beta_a": fit.a if fit else np.nan, "beta_b": fit.b if fit else np.nan,
                        "beta_c": fit.c if fit else np.nan, "note": note or dnote})
    return pd.DataFrame(out).sort_values(["params", "k"], kind="stable").reset_index(drop=True)
