"""The distribution of per-instance pass rates at one model size (Schaeffer et al. 2025).

Schaeffer et al. ("How Do Large Language Monkeys Get Their Power (Laws)?", ICML 2025) show that
a task's pass@k is governed by the distribution of its instances' single-sample pass rates, and
fit a *scaled beta* distribution ``p = c u, u ~ Beta(a, b)`` (``c <= 1`` the largest pass rate
any instance reaches) to the instances of one model. Here it is fitted by the beta-binomial
likelihood of the raw counts (Kazdan et al. 2025): every instance contributes
``log integral p^R (1 - p)^(K - R) f(p) dp``, so instances with no pass are kept with their
exact weight, whatever the sampling design (fixed budget or sample-until-r: the stopping rule
changes only a constant).

For ``c = 1`` the integral is ``B(a + R, b + F) / B(a, b)``; for ``c < 1`` a Gauss
hypergeometric function (see :func:`log_marginal`). The same integral with ``R = 0, F = k``
gives ``E[(1 - p)^k]``, hence pass@k at any k, beyond the samples taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from emergence_law.errors import NotIdentifiableError

#: weak priors on (log a, log b, logit c): keep the optimum finite when the data cannot
#: (e.g. a size where almost nothing passed); sd 4 on log scales is nearly flat
_PRIOR_MEAN = np.array([np.log(0.5), np.log(5.0), 3.0])
_PRIOR_SD = np.array([4.0, 4.0, 3.0])


def _log_sigmoid(t: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -t)


def log_marginal(a: float, b: float, c: float, passes, fails) -> np.ndarray:
    """Per instance, ``log E[p^R (1 - p)^F]`` for ``p = c u, u ~ Beta(a, b)`` (vectorised).

    ``c = 1``: the beta-binomial closed form. ``c < 1``: the integral over t = logit u by the
    trapezoid rule on three pieces (a fine one of +-12 widths around the integrand's mode, found
    by Newton, and coarse ones on either side), with the tails below u ~ 1e-6/(F + b) and above
    u = 1 - 4e-18 integrated analytically; checked against adaptive quadrature to 1e-5. (scipy's
    ``hyp2f1`` closed form was tried and is wrong by up to 180 nats at R ~ 800, F ~ 1200
    without returning NaN.)
    """
    r = np.asarray(passes, dtype=float)
    f = np.asarray(fails, dtype=float)
    if c >= 1 - 1e-12:
        return special.betaln(a + r, b + f) - special.betaln(a, b)
    shape = np.broadcast(r, f).shape
    pairs = np.stack([np.broadcast_to(r, shape).ravel(), np.broadcast_to(f, shape).ravel()], 1)
    # instances with the same counts (e.g. every zero-pass one of a fixed budget) share a value
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return _log_integral(a, b, c, uniq[:, 0], uniq[:, 1])[inv.ravel()].reshape(shape)


def _g(t: np.ndarray, A: np.ndarray, b: float, c: float, f: np.ndarray) -> np.ndarray:
    """log of the integrand u^A (1 - u)^b (1 - c u)^F in t = logit u (du = u (1 - u) dt)."""
    return A * _log_sigmoid(t) + b * _log_sigmoid(-t) + f * np.log1p(-c * special.expit(t))


def _mode(A: np.ndarray, b: float, c: float, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.log(A) - np.log(b + f * c)
    for _ in range(60):
        u = special.expit(t)
        d1 = A * (1 - u) - b * u - f * c * u * (1 - u) / (1 - c * u)
        d2 = (-(A + b) * u * (1 - u)
              - f * c * u * (1 - u) * (1 - 2 * u + c * u * u) / (1 - c * u) ** 2)
        step = np.clip(d1 / np.maximum(-d2, 1e-8), -2.0, 2.0)
        t = t + step
        if np.max(np.abs(step)) < 1e-9:
            break
    u = special.expit(t)
    d2 = (-(A + b) * u * (1 - u)
          - f * c * u * (1 - u) * (1 - 2 * u + c * u * u) / (1 - c * u) ** 2)
    return t, 1.0 / np.sqrt(np.maximum(-d2, 1e-8))


def _trapezoid(lo: np.ndarray, hi: np.ndarray, n: int, A, b, c, f) -> np.ndarray:
    """log of the trapezoid-rule integral of exp(_g) on [lo, hi] per instance (-inf if empty)."""
    width = np.maximum(hi - lo, 0.0)
    t = lo[:, None] + np.linspace(0.0, 1.0, n)[None, :] * width[:, None]
    lg = _g(t, A[:, None], b, c, f[:, None])
    lg[:, [0, -1]] += np.log(0.5)
    top = lg.max(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(width > 0, top + np.log(np.exp(lg - top[:, None]).sum(axis=1))
                        + np.log(np.maximum(width, 1e-300) / (n - 1)), -np.inf)


def _log_integral(a: float, b: float, c: float, r: np.ndarray, f: np.ndarray) -> np.ndarray:
    A = a + r
    u_lo = 1e-6 / (abs(b - 1) + f * c + 1)
    t_lo = np.log(u_lo)  # logit u ~ log u there
    t_hi = np.full_like(t_lo, 40.0)
    mode, w = _mode(A, b, c, f)
    m_lo = np.clip(mode - 12 * w, t_lo, t_hi)
    m_hi = np.clip(mode + 12 * w, t_lo, t_hi)
    parts = [_trapezoid(t_lo, m_lo, 300, A, b, c, f), _trapezoid(m_lo, m_hi, 200, A, b, c, f),
             _trapezoid(m_hi, t_hi, 200, A, b, c, f),
             A * np.log(u_lo) - np.log(A),  # below u_lo: integral of u^(A-1) du
             f * np.log1p(-c) - 40.0 * b - np.log(b)]  # above t = 40
    tot = np.logaddexp.reduce(np.stack(parts), axis=0)
    return tot + r * np.log(c) - special.betaln(a, b)


@dataclass
class BetaFit:
    """A scaled beta distribution of pass rates fitted to one model's instances."""

    a: float
    b: float
    c: float
    log_likelihood: float
    n_instances: int
    cov: np.ndarray  # covariance of (log a, log b, logit c)
    scaled: bool

    @property
    def mean(self) -> float:
        """The task pass rate (mean over instances) under the fitted distribution."""
        return self.c * self.a / (self.a + self.b)

    def eta(self) -> float:
        """log(-log mean): the scale on which the task scaling law is a line in log N."""
        return float(np.log(-np.log(self.mean)))

    def eta_se(self) -> float:
        """Delta-method standard error of :meth:`eta` from the fit's covariance."""
        th = self._theta()
        grad = np.zeros(3)
        for i in range(3):
            e = np.eye(3)[i] * 1e-5
            grad[i] = (_eta_of(th + e) - _eta_of(th - e)) / 2e-5
        if not self.scaled:
            grad[2] = 0.0
        return float(np.sqrt(max(grad @ self.cov @ grad, 0.0)))

    def _theta(self) -> np.ndarray:
        return np.array([np.log(self.a), np.log(self.b), special.logit(min(self.c, 1 - 1e-9))])

    def pass_at_k(self, k) -> np.ndarray:
        """pass@k = 1 - E[(1 - p)^k] under the fitted distribution, for any k >= 1."""
        k = np.atleast_1d(np.asarray(k, dtype=float))
        return -np.expm1(log_marginal(self.a, self.b, self.c, np.zeros_like(k), k))

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c, "mean": self.mean,
                "log_likelihood": self.log_likelihood, "n_instances": self.n_instances,
                "scaled": self.scaled}


def _eta_of(theta: np.ndarray) -> float:
    a, b, c = np.exp(theta[0]), np.exp(theta[1]), special.expit(theta[2])
    return float(np.log(-np.log(c * a / (a + b))))


def fit_beta(trials, passes, *, scaled: bool = True) -> BetaFit:
    """Fit the (scaled) beta distribution of pass rates by beta-binomial maximum likelihood.

    ``scaled=False`` fixes ``c = 1`` (the plain beta-binomial, closed form). Raises
    :class:`NotIdentifiableError` when no instance passed or every sample passed.
    """
    k = np.asarray(trials, dtype=float)
    x = np.asarray(passes, dtype=float)
    if not np.any(x > 0):
        raise NotIdentifiableError(
            f"no instance passed in {int(k.sum())} samples: the distribution of pass rates is "
            "not identified (only an upper bound on the mean is)")
    if np.all(x == k):
        raise NotIdentifiableError("every sample passed: the distribution of pass rates is not "
                                   "identified (only a lower bound on the mean is)")
    f = k - x

    def nlp(th: np.ndarray) -> float:
        a, b = np.exp(th[0]), np.exp(th[1])
        c = special.expit(th[2]) if scaled else 1.0
        if not (np.isfinite(a) and np.isfinite(b)) or a < 1e-8 or b < 1e-8:
            return 1e300
        ll = float(np.sum(log_marginal(a, b, c, x, f)))
        prior = ((th - _PRIOR_MEAN) / _PRIOR_SD) ** 2
        pen = 0.5 * float(np.sum(prior if scaled else prior[:2]))
        return -ll + pen if np.isfinite(ll) else 1e300

    # start: method of moments on the raw rates
    rate = x / k
    m = float(np.clip(rate.mean(), 1e-6, 0.9))
    v = float(np.clip(rate.var(), 1e-10, m * (1 - m) * 0.99))
    conc = max(m * (1 - m) / v - 1, 0.05)
    start = np.array([np.log(max(m * conc, 1e-3)), np.log(max((1 - m) * conc, 1e-3)),
                      special.logit(min(max(rate.max() * 1.2, 0.05), 0.99))])
    best = None
    starts = [start, start + np.array([-1.0, -1.0, 1.0]), np.array([np.log(0.3), np.log(3.0), 3])]
    dim = 3 if scaled else 2
    if scaled:  # start from the closed-form c = 1 fit: one numerical search instead of three
        plain = fit_beta(k, x, scaled=False)
        starts = [np.array([np.log(plain.a), np.log(plain.b), 3.0])]

    def obj(t: np.ndarray) -> float:
        return nlp(t if scaled else np.r_[t, 40.0])

    for s0 in starts:
        res = optimize.minimize(obj, s0[:dim], method="Nelder-Mead",
                                options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 3000,
                                         "adaptive": True})
        if best is None or res.fun < best.fun:
            best = res
    th = best.x if scaled else np.r_[best.x, 40.0]
    from emergence_law.passuntil.pooled import _numeric_inverse_hessian

    if scaled:
        cov = _numeric_inverse_hessian(nlp, th)
    else:
        cov = np.zeros((3, 3))
        cov[:2, :2] = _numeric_inverse_hessian(lambda t2: nlp(np.r_[t2, 40.0]), th[:2])
    a, b = float(np.exp(th[0])), float(np.exp(th[1]))
    c = float(special.expit(th[2])) if scaled else 1.0
    ll = float(np.sum(log_marginal(a, b, c, x, f)))
    return BetaFit(a, b, c, ll, len(k), cov, scaled)
