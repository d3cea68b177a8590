"""A synthetic measuring job: sweeps without GPUs, models or data, from a known emergence law.

Why it exists: trying a recipe, the executors and the store end to end (and testing crash and
resume) should not need hours of GPU time. Plug it in with ``harness: python`` and
``callable: emergence_law.sweep.synthetic:synthetic_job``. It draws what a real sweep would
measure if the truth were:

* pretraining loss ``L = E + A/N^a + B/T^b`` (Chinchilla's fitted constants; N params, T tokens);
* accuracy ``chance + slope * ReLU(E_theta(D) - L)``, binomially sampled over ``n_eval`` items,
  with the emergence law ``E_theta(D) = k (log D)^alpha + C`` and ``D = shots`` (few-shot, the
  low-data limit ``D0 = N``) or ``D = n_train`` (finetuned).

Hyper-parameters (the job's ``hparams``) override the defaults below; ``sleep_s`` makes a job
take time, ``fail_checkpoints`` / ``fail_unless_exists`` make it fail on purpose (to try
failure recording and ``--retry-failed``), and ``exit_checkpoints`` ends the worker process
itself (a crash; use it only with ``--workers 2`` or more, or Ray). Draws are seeded by the job's id: a re-run of the same
job gives the same numbers.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.store import job_id

DEFAULTS: dict[str, float] = {
    "E": 1.69, "A": 406.4, "a": 0.34, "B": 410.7, "b": 0.28,  # pretraining loss
    "k": 0.05, "alpha": 1.0, "C": 2.1,  # emergence law E_theta(D) = k (log D)^alpha + C
    "slope": 1.5, "chance": 0.25, "n_eval": 500,
}


def pretraining_loss(params: float, tokens: float, hp: dict[str, float]) -> float:
    """Chinchilla-form loss of a model with ``params`` parameters after ``tokens`` tokens."""
    return hp["E"] + hp["A"] / params ** hp["a"] + hp["B"] / max(tokens, 1.0) ** hp["b"]


def emergence_point(d: float, hp: dict[str, float]) -> float:
    """The emergence law's elbow (nats) for ``d`` finetuning examples (or shots)."""
    return hp["k"] * math.log(max(d, 1.0)) ** hp["alpha"] + hp["C"]


def synthetic_job(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows a real job of this definition would produce, drawn from the synthetic truth."""
    raw = dict(definition.get("hparams") or {})
    if raw.get("sleep_s"):
        time.sleep(float(raw["sleep_s"]))
    checkpoint = str(definition.get("checkpoint"))
    if checkpoint in {str(c) for c in raw.get("exit_checkpoints", [])}:
        os._exit(3)
    if checkpoint in {str(c) for c in raw.get("fail_checkpoints", [])}:
        raise RuntimeError(f"synthetic failure for checkpoint {definition.get('checkpoint')}")
    if raw.get("fail_unless_exists") and not Path(raw["fail_unless_exists"]).exists():
        raise FileNotFoundError(f"synthetic failure: {raw['fail_unless_exists']} does not exist")
    hp = {k: float(raw.get(k, v)) for k, v in DEFAULTS.items()}
    rng = np.random.default_rng(int(job_id(definition), 16) % 2**63)
    loss = pretraining_loss(float(definition["params"]), float(definition["tokens"]), hp)
    setting = definition.get("setting", definition.get("kind"))
    if setting == "loss":
        noisy = loss + rng.normal(0.0, 0.002)
        return [{"kind": "loss", "loss": noisy, "n_tokens": 100_000}]
    if setting == "finetune":
        d = float(definition["n_train"])
    else:
        d = float(definition.get("shots") or 1)
    p = min(1.0, hp["chance"] + hp["slope"] * max(0.0, emergence_point(d, hp) - loss))
    n_eval = int(hp["n_eval"])
    row: dict[str, Any] = {
        "task": definition.get("task"),
        "metric": "acc",
        "value": rng.binomial(n_eval, p) / n_eval,
        "setting": "finetune" if setting == "finetune" else "fewshot",
        "n_eval": n_eval,
        "chance": hp["chance"],
    }
    return [row]


def probe_job(definition: dict[str, Any], device: str = "cpu") -> list[dict[str, Any]]:
    """A job that reports where and how it ran (process, torch threads, device): checks an
    executor's set-up, e.g. that ``--threads`` reached the workers."""
    import os

    row: dict[str, Any] = {"kind": "probe", "pid": os.getpid(), "device": device,
                           "label": definition.get("checkpoint")}
    try:
        import torch
    except ImportError:  # core install
        row["torch_threads"] = None
    else:
        row["torch_threads"] = torch.get_num_threads()
    return [row]
