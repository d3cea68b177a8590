"""Draw a realistic observation table from a known emergence law.

Used by tests (parameter recovery, interval calibration), benchmarks and the interim demo. The
design follows the paper: checkpoints of one model series spanning a loss range, finetuned at
several data levels D with two or more random subsets each (each subset run adds its own noise,
as a different random training subset does), few-shot rows at ``D0 = shots`` and binomial
evaluation noise from ``n_eval`` questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.laws import emergence_point_paper, performance
from emergence_law.observations import rows_to_frame, validate_observations
from emergence_law.settings import with_overrides

DEFAULT_LEVELS = (30, 100, 300, 1000, 3000)


@dataclass(frozen=True)
class TrueLaw:
    """The emergence law the simulated data follow (:mod:`emergence_law.laws`): E(D) of
    ``form`` with the paper's ``k, alpha, C``; accuracy ``chance + A * ReLU(E(D) - loss)``,
    plus ``delta`` on few-shot rows."""

    form: str = "log_power"
    k: float = 0.0526
    alpha: float = 1.0
    C: float = 1.765
    A: float = 1.2
    delta: float = 0.0

    def elbow(self, d: float) -> float:
        """The true emergence point E(D) at ``d`` examples."""
        return float(emergence_point_paper(d, self.k, self.alpha, self.C, self.form))


@dataclass(frozen=True)
class RunDesign:
    """Which runs are measured: ``n_checkpoints`` checkpoints spread over ``loss_range``, each
    evaluated few-shot at ``D0 = shots`` and finetuned at every data level with ``n_subsets``
    random subsets."""

    shots: int = 5
    data_levels: Sequence[int] = DEFAULT_LEVELS
    n_subsets: int = 2
    n_checkpoints: int = 25
    loss_range: tuple[float, float] = (1.6, 2.6)

    def losses(self, rng: np.random.Generator) -> np.ndarray:
        """The checkpoints' losses, highest first: even steps over ``loss_range``, jittered."""
        lo, hi = self.loss_range
        n = self.n_checkpoints
        step = (hi - lo) / max(n - 1, 1)
        return np.sort(np.linspace(hi, lo, n) + rng.uniform(-0.3, 0.3, n) * step)[::-1]


@dataclass(frozen=True)
class Evaluation:
    """The simulated task and how every number on it is measured: a binomial proportion over
    ``n_eval`` questions of a task whose chance accuracy is ``chance``; a finetuned run adds
    Gaussian ``subset_sd`` first (a different random training subset)."""

    task: str = "simtask"
    n_eval: int = 3000
    chance: float = 0.25
    subset_sd: float = 0.01

    def measure(self, mean: Any, rng: np.random.Generator) -> Any:
        """Measured accuracy of true accuracy ``mean`` (capped at 0.995): a binomial share."""
        return rng.binomial(self.n_eval, np.clip(mean, 0.0, 0.995)) / self.n_eval


TRUE_LAW, RUN_DESIGN, EVALUATION = TrueLaw(), RunDesign(), Evaluation()


def simulate_observations(
    *,
    law: TrueLaw = TRUE_LAW,
    design: RunDesign = RUN_DESIGN,
    evaluation: Evaluation = EVALUATION,
    series: str = "sim",
    seed: int | np.random.Generator | None = 0,
    **overrides: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate one task's observation table; return ``(table, truth)``.

    Performance is ``chance + A * ReLU(E(D) - loss)`` (+ ``delta`` for few-shot rows at
    ``D0 = shots``), capped below 1; each finetuned (checkpoint, D, subset) run adds Gaussian
    subset noise ``subset_sd``; every number is then a binomial proportion over ``n_eval``
    questions. Checkpoint losses are spread over ``loss_range`` with a little jitter. Any field
    of :class:`TrueLaw`, :class:`RunDesign` or :class:`Evaluation` may be given as a keyword
    (``simulate_observations(C=1.8, n_checkpoints=12)``).

    ``truth`` holds the law's parameters, ``emergence_point`` (the true few-shot elbow
    ``E(D0)``), ``elbows`` per data level, and ``d0``.
    """
    law, design, ev = with_overrides("simulate_observations", overrides, law, design,
                                     evaluation)
    rng = np.random.default_rng(seed)
    losses = design.losses(rng)
    tokens = np.geomspace(1e9, 1e12, design.n_checkpoints)
    params = 3e9
    e_fs = law.elbow(design.shots)
    elbows = {int(d): law.elbow(d) for d in design.data_levels}
    rows = []
    for i, L in enumerate(losses):
        base = {
            "series": series, "model": f"{series}-3b", "checkpoint": f"step{i * 1000}",
            "params": params, "tokens": tokens[i], "loss": float(L), "task": ev.task,
            "metric": "acc", "n_eval": ev.n_eval, "chance": ev.chance, "shots": design.shots,
        }
        mean = float(performance(L, e_fs, law.A, ev.chance, law.delta))
        rows.append({**base, "setting": "fewshot", "value": ev.measure(mean, rng)})
        for d, e in elbows.items():
            for s in range(design.n_subsets):
                mean = float(performance(L, e, law.A, ev.chance)) + rng.normal(0.0, ev.subset_sd)
                rows.append({**base, "setting": "finetune", "n_train": d, "subset": s,
                             "method": "full", "value": ev.measure(mean, rng)})
    df = validate_observations(rows_to_frame(rows), "<simulated>")
    truth = {
        "form": law.form, "k": law.k, "alpha": law.alpha, "C": law.C, "A": law.A,
        "B": ev.chance, "Delta": law.delta, "d0": design.shots, "emergence_point": e_fs,
        "elbows": elbows, "n_eval": ev.n_eval, "subset_sd": ev.subset_sd,
        "losses": losses.tolist(),
    }
    return df, truth


def random_law(rng: np.random.Generator, *, shots: int = 5,
               d_max: int = 10000) -> dict[str, float]:
    """A random but paper-like log-power law: E(D0) in [1.8, 2.0], E(d_max) 0.25-0.5 nats higher.

    Returned as the paper's ``k, alpha, C`` for :func:`simulate_observations`.
    """
    e0 = rng.uniform(1.8, 2.0)
    shift = rng.uniform(0.25, 0.5)
    alpha = rng.uniform(0.6, 1.6)
    x0, xm = np.log(shots), np.log(d_max)
    k = shift / (xm**alpha - x0**alpha)
    C = e0 - k * x0**alpha
    return {"k": float(k), "alpha": float(alpha), "C": float(C),
            "A": float(rng.uniform(0.8, 1.6))}


def simulate_random_table(seed: int, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One table of a simulated benchmark set: a :func:`random_law` drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    law = random_law(rng, shots=kwargs.get("shots", 5))
    return simulate_observations(**{**law, **kwargs}, seed=rng)


#: shapes of :func:`simulate_jump_curve` (``x = ReLU(E - loss)``, ``s`` the slow slope):
#: ``relu``: chance + s x (the paper's curve); ``saturating``: chance + J (1 - exp(-x/tau)) + s x
#: (a sharp jump, then a slow rise: the ground-truth model's own family); ``power``: chance +
#: J (1 - 1/(1 + x/tau)) + s sqrt(x tau) (a jump whose tail rises like a power law: not in the
#: model family); ``step``: chance + J + s x for x > 0 (a discontinuous jump); ``soft``:
#: chance + J x^2/(x^2 + tau^2) + s x (a rise that leaves chance with zero slope: the hardest
#: case for any elbow estimator, since the curve is barely above chance just after E).
JUMP_SHAPES = ("relu", "saturating", "power", "step", "soft")


def jump_curve_mean(loss: np.ndarray, *, shape: str, elbow: float, jump: float, tau: float,
                    slope: float, chance: float) -> np.ndarray:
    """Mean few-shot accuracy of a :func:`simulate_jump_curve` shape (capped at 0.995)."""
    x = np.maximum(elbow - np.asarray(loss, dtype=float), 0.0)
    if shape == "relu":
        rise = slope * x
    elif shape == "saturating":
        rise = jump * -np.expm1(-x / tau) + slope * x
    elif shape == "power":
        rise = jump * (1.0 - 1.0 / (1.0 + x / tau)) + slope * np.sqrt(x * tau)
    elif shape == "step":
        rise = np.where(x > 0, jump, 0.0) + slope * x
    elif shape == "soft":
        rise = jump * x**2 / (x**2 + tau**2) + slope * x
    else:
        raise ValueError(f"unknown shape {shape!r} (use one of {', '.join(JUMP_SHAPES)})")
    return np.minimum(chance + rise, 0.995)


@dataclass(frozen=True)
class JumpCurve:
    """A few-shot accuracy curve that jumps at ``elbow`` (one of :data:`JUMP_SHAPES`; ``jump``
    its height, ``tau`` its width in nats, ``slope`` the slow rise after it)."""

    shape: str = "saturating"
    elbow: float = 2.70
    jump: float = 0.2
    tau: float = 0.01
    slope: float = 1.5

    def mean(self, loss: np.ndarray, chance: float) -> np.ndarray:
        """Mean accuracy at ``loss`` (:func:`jump_curve_mean`)."""
        return jump_curve_mean(loss, shape=self.shape, elbow=self.elbow, jump=self.jump,
                               tau=self.tau, slope=self.slope, chance=chance)


@dataclass(frozen=True)
class JumpCheckpoints:
    """Where the checkpoints lie: ``n_pre`` over ``pre_span`` nats above the elbow, ``n_post``
    over ``post_span`` nats below it (denser near the elbow)."""

    n_pre: int = 10
    n_post: int = 40
    pre_span: float = 0.4
    post_span: float = 0.2

    def losses(self, rng: np.random.Generator, elbow: float) -> np.ndarray:
        """The checkpoints' losses around ``elbow``, the elbow at a random place in the gap."""
        pre_step = self.pre_span / max(self.n_pre, 1)
        pre = elbow + pre_step * (np.arange(self.n_pre)[::-1] + rng.uniform(0.05, 0.95))
        u = np.sort(rng.uniform(0, 1, self.n_post)) ** 1.5
        return np.concatenate([pre, elbow - self.post_span * (0.01 + 0.99 * u)])


JUMP_CURVE, JUMP_CHECKPOINTS = JumpCurve(), JumpCheckpoints()
#: the jump curves' evaluation: 1000 questions, no finetuning runs
JUMP_EVALUATION = Evaluation(task="jumptask", n_eval=1000)


def simulate_jump_curve(
    *,
    curve: JumpCurve = JUMP_CURVE,
    checkpoints: JumpCheckpoints = JUMP_CHECKPOINTS,
    evaluation: Evaluation = JUMP_EVALUATION,
    series: str = "sim",
    model: str = "sim-7b",
    seed: int | np.random.Generator | None = 0,
    **overrides: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Few-shot rows of one model's checkpoints whose accuracy jumps at ``elbow`` (no finetuning).

    Built after the OLMo-2 7B MC-format curves: ``n_pre`` checkpoints spread over ``pre_span``
    nats above the elbow, ``n_post`` over ``post_span`` nats below it (denser near the elbow, as
    training-loss curves flatten), the elbow at a random place inside the gap between the last
    pre- and first post-emergence checkpoint; binomial noise over ``n_eval`` questions. Any field
    of :class:`JumpCurve`, :class:`JumpCheckpoints` or :class:`Evaluation` may be given as a
    keyword (``simulate_jump_curve(elbow=2.6, n_pre=6)``).
    Returns ``(table, truth)`` with ``truth["emergence_point"] = elbow``.
    """
    curve, checkpoints, ev = with_overrides("simulate_jump_curve", overrides, curve,
                                            checkpoints, evaluation)
    rng = np.random.default_rng(seed)
    losses = checkpoints.losses(rng, curve.elbow)
    acc = ev.measure(curve.mean(losses, ev.chance), rng)
    rows = [{"series": series, "model": model, "checkpoint": f"step{i * 1000}",
             "params": 7e9, "tokens": 4e6 * 1000 * (i + 1), "loss": float(L), "task": ev.task,
             "metric": "acc", "value": float(v), "setting": "fewshot", "shots": 5,
             "n_eval": ev.n_eval, "chance": ev.chance}
            for i, (L, v) in enumerate(zip(losses, acc, strict=True))]
    df = validate_observations(rows_to_frame(rows), "<simulated>")
    truth = {"shape": curve.shape, "emergence_point": float(curve.elbow), "jump": curve.jump,
             "tau": curve.tau, "slope": curve.slope, "chance": ev.chance, "n_eval": ev.n_eval}
    return df, truth
