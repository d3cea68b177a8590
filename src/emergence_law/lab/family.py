"""The model family and the settings of each lab scale.

A scale fixes everything a run depends on (sizes, steps, checkpoint steps, evaluation sizes,
finetuning grid, PassUntil budget), so a results folder is reproducible from its scale name and
seed alone. ``small`` is sized for 2 CPU cores; ``medium``/``large`` are the same code for a GPU.
``tiny`` exists for the test-suite only (a seconds-long end-to-end run, too small to show
emergence).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from emergence_law.errors import SettingError


@dataclass(frozen=True)
class ModelSpec:
    """One member of the family: a Llama-style decoder of the given shape."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int = 4


@dataclass(frozen=True)
class LabScale:
    """Everything a lab run at one scale depends on."""

    name: str
    sizes: tuple[ModelSpec, ...]
    steps: int
    checkpoints: tuple[int, ...]
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 20
    n_eval: int = 500  # at most the 600 held-out items of the task split (corpus.TaskSplit)
    n_val_rows: int = 256
    shots: int = 3
    data_amounts: tuple[int, ...] = (64, 256, 1024, 4096)
    subset_seeds: tuple[int, ...] = (0, 1)
    methods: tuple[str, ...] = ("full", "lora-r4")
    finetune_steps: int = 60
    finetune_batch: int = 16
    finetune_lr: float = 1e-3
    lora_lr: float = 1e-2
    n_finetune_checkpoints: int = 4
    finetune_span: float | None = 0.3  # nats above the elbow to pick finetuned checkpoints in
    passuntil_instances: int = 40
    passuntil_budget: int = 2000
    passuntil_r: int = 2
    seed: int = 0
    mixture: dict[str, float] = field(
        default_factory=lambda: {"add": 0.51, "sub": 0.34, "mul": 0.15}
    )

    def to_dict(self) -> dict:
        return asdict(self)


def _log_steps(last: int, first: int, n: int) -> tuple[int, ...]:
    """About ``n`` checkpoint steps, log-spaced from ``first`` to ``last`` (both included)."""
    import numpy as np

    steps = np.unique(np.round(np.geomspace(first, last, n)).astype(int))
    return tuple(int(s) for s in steps)


def _scale(name: str, shapes: tuple[tuple[int, int], ...], steps: int,
           checkpoints: tuple[int, ...], **settings: Any) -> LabScale:
    """A scale whose models are ``d<width>`` decoders of the given (width, layers)."""
    sizes = tuple(ModelSpec(f"d{width}", width, layers) for width, layers in shapes)
    return LabScale(name=name, sizes=sizes, steps=steps, checkpoints=checkpoints, **settings)


SCALES: dict[str, LabScale] = {s.name: s for s in (
    _scale("tiny", ((16, 1), (32, 1)), 30, (10, 20, 30), batch_size=16, n_eval=40,
           n_val_rows=32, data_amounts=(8, 16, 32, 64), subset_seeds=(0, 1), finetune_steps=3,
           finetune_batch=8, n_finetune_checkpoints=1, passuntil_instances=4,
           passuntil_budget=32),
    _scale("small", ((24, 2), (32, 2), (48, 2), (64, 2)), 600, _log_steps(600, 25, 12),
           batch_size=32, n_finetune_checkpoints=6),
    _scale("medium", ((32, 2), (64, 2), (96, 3), (128, 4)), 3000, _log_steps(3000, 25, 20),
           batch_size=128, n_eval=600, n_finetune_checkpoints=6, passuntil_instances=100,
           passuntil_budget=20000),
    _scale("large", ((64, 2), (128, 4), (256, 4), (384, 6)), 10000, _log_steps(10000, 25, 30),
           batch_size=256, n_eval=600, n_finetune_checkpoints=8, passuntil_instances=200,
           passuntil_budget=100000),
)}


def get_scale(scale: str) -> LabScale:
    """The settings of scale ``scale``; an unknown name is a ``SettingError`` naming it."""
    if scale not in SCALES:
        raise SettingError("scale", f"unknown scale {scale!r} (use {', '.join(SCALES)})")
    return SCALES[scale]
