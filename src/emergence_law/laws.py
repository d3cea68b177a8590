"""Emergence-law curves: performance vs pretraining loss, and the emergence point E(D).

Performance of a model with pretraining loss L, finetuned on D examples (Snell et al. 2024)::

    Perf(L, D) = B + A * ReLU(E(D) - L)          (+ Delta for few-shot rows, evaluated at D0)

with E(D) one of the forms

    log_power   E(D) = C + k * (log D)^alpha      (the paper's default)
    power       E(D) = C + k * D^alpha
    no_fewshot  the log power law fitted without few-shot rows and without Delta

Fitting uses an *anchored* parameterisation of E(D) instead of (k, alpha, C): the elbow at the
few-shot limit ``e0 = E(D0)`` (the quantity we predict), the elbow at a reference data level
``e_ref = E(D_ref)`` (the largest level) and ``alpha``.  With the Box-Cox shape
``s_a(x) = (x^a - 1) / a`` (``log x`` at a = 0) and ``x = log D`` (or ``D``)::

    E(D) = e0 + (e_ref - e0) * (s_a(x) - s_a(x0)) / (s_a(x_ref) - s_a(x0))

This is the same family as ``C + k x^alpha`` (k = c/alpha, C = e0 - k x0^alpha) but every
parameter is a point on the loss axis: the grid for the multi-start search is easy to lay out,
the posterior is far less correlated than in (k, alpha, C), and alpha -> 0 is continuous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMS = ("log_power", "power", "no_fewshot")


def relu(x: np.ndarray | float) -> np.ndarray:
    return np.maximum(x, 0.0)


def softplus_relu(x: np.ndarray | float, temperature: float = 0.01) -> np.ndarray:
    """Smoothed ReLU ``t * log(1 + exp(x / t))``; tends to ReLU as ``temperature -> 0``.

    For optimisers or samplers that need gradients; the exact ReLU is the default everywhere.
    """
    x = np.asarray(x, dtype=float)
    if temperature <= 0:
        return relu(x)
    return temperature * np.logaddexp(0.0, x / temperature)


def performance(
    loss: np.ndarray | float, elbow: np.ndarray | float, A: float, B: float, delta: float = 0.0,
    temperature: float = 0.0,
) -> np.ndarray:
    """``B + delta + A * ReLU(elbow - loss)`` (softplus-smoothed when ``temperature > 0``)."""
    return B + delta + A * softplus_relu(np.asarray(elbow) - np.asarray(loss), temperature)


def data_axis(D: np.ndarray | float, form: str) -> np.ndarray:
    """The x of ``x^alpha``: ``log D`` for the log forms, ``D`` for the power form."""
    D = np.asarray(D, dtype=float)
    return D if form == "power" else np.log(D)


def boxcox_shape(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``(x^alpha - 1) / alpha``, continuous through ``alpha = 0`` (where it is ``log x``).

    Broadcasts ``x`` against ``alpha``. Near 0 a second-order series avoids cancellation.
    """
    x = np.asarray(x, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    lx = np.log(x)
    small = np.abs(alpha) < 1e-6
    safe = np.where(small, 1.0, alpha)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.expm1(safe * lx) / safe
    return np.where(small, lx + 0.5 * alpha * lx * lx, out)


@dataclass(frozen=True)
class AnchoredLaw:
    """E(D) in the anchored parameterisation (see the module docstring).

    ``x0`` and ``x_ref`` are the data axis (``log D`` or ``D``) at ``D0`` and ``D_ref``.
    """

    form: str
    d0: float
    d_ref: float

    @property
    def x0(self) -> float:
        return float(data_axis(self.d0, self.form))

    @property
    def x_ref(self) -> float:
        return float(data_axis(self.d_ref, self.form))

    def elbows(self, theta: np.ndarray, D: np.ndarray) -> np.ndarray:
        """E(D) for each row of ``theta = [[e0, e_ref, alpha], ...]`` -> shape (G, len(D))."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        e0, eref, a = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        x = data_axis(np.asarray(D, dtype=float), self.form)[None, :]
        s = boxcox_shape(x, a)
        s0 = boxcox_shape(self.x0, a)
        sr = boxcox_shape(self.x_ref, a)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (s - s0) / (sr - s0)
        return e0 + (eref - e0) * frac

    def paper_params(self, theta: np.ndarray) -> dict[str, float]:
        """The paper's ``(k, alpha, C)`` of ``E(D) = C + k x^alpha`` for one ``theta``."""
        e0, eref, a = (float(v) for v in np.asarray(theta, dtype=float).ravel()[:3])
        s0 = float(boxcox_shape(self.x0, a))
        sr = float(boxcox_shape(self.x_ref, a))
        c = (eref - e0) / (sr - s0)
        if abs(a) < 1e-9:  # E = C' + c log x: not of the form C + k x^alpha
            return {"k": float("nan"), "alpha": a, "C": float("nan")}
        k = c / a
        return {"k": k, "alpha": a, "C": e0 - k * self.x0**a}


def emergence_point_paper(D: np.ndarray | float, k: float, alpha: float, C: float,
                          form: str = "log_power") -> np.ndarray:
    """E(D) = C + k * x^alpha in the paper's parameters (x = log D or D)."""
    return C + k * data_axis(D, form) ** alpha


def anchors_from_paper(k: float, alpha: float, C: float, *, form: str, d0: float,
                       d_ref: float) -> np.ndarray:
    """The anchored ``theta = [E(D0), E(D_ref), alpha]`` of a paper-parameterised law."""
    e = emergence_point_paper(np.array([d0, d_ref]), k, alpha, C, form)
    return np.array([e[0], e[1], alpha], dtype=float)
