"""The model family and the settings of each lab scale.

A scale fixes everything a run depends on (sizes, steps, checkpoint steps, evaluation sizes,
finetuning grid, PassUntil budget), so a results folder is reproducible from its scale name and
seed alone. ``small`` is sized for 2 CPU cores; ``medium``/``large`` are the same code for a GPU.
``tiny`` exists for the test-suite only (a seconds-long end-to-end run, too small to show
emergence).

A scale also names its task ``family``: ``arithmetic`` (the corpus of :mod:`.corpus`, the
``mul-mc`` task) or ``facts`` (the knowledge-extraction world of :mod:`.facts`, configured by
the scale's ``facts`` :class:`~emergence_law.lab.facts.FactsConfig`, the ``facts-mc`` task;
docs/lab-facts.md). ``facts-tiny`` is the facts family's test scale, ``facts-small`` its
2-core scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from emergence_law.errors import OptionError, SettingError
from emergence_law.lab.facts import FactsConfig

#: the task families a scale can name
FAMILIES = ("arithmetic", "facts")
#: the facts family's x-axes (``facts_lab.loss_job``): ``val``, the held-out pretraining loss
#: (every token of held-out corpus rows), or ``tru``, the stored-fact loss (value tokens)
FACTS_AXES = ("val", "tru")
#: what PassUntil's per-instance budget follows: the exact rate (capped), or one fixed budget
PASSUNTIL_BUDGET_FROM = ("expected", "fixed")


@dataclass(frozen=True)
class ModelSpec:
    """One member of the family: a Llama-style decoder of the given shape."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int = 4


@dataclass(frozen=True)
class EarlyStopping:
    """Early stopping of every finetuning job (``measure.finetune``'s ``early_stopping_*``
    settings): every ``every`` steps the answer loss of ``n`` held-out pool examples is measured,
    the best state is kept, training stops after ``patience`` checks without improvement, and
    with ``keep_start`` the unfinetuned state (0 steps) is a candidate too."""

    every: int
    patience: int
    n: int
    keep_start: bool = False


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
    #: per-instance budgets: "expected" (from each instance's exact pass rate, capped at
    #: passuntil_budget, lab/expected_rate.py) or "fixed" (passuntil_budget for every instance)
    passuntil_budget_from: str = "expected"
    seed: int = 0
    mixture: dict[str, float] = field(
        default_factory=lambda: {"add": 0.51, "sub": 0.34, "mul": 0.15}
    )
    family: str = "arithmetic"
    facts: FactsConfig | None = None  # the facts family's world and corpus (family="facts")
    lr_steps: int | None = None  # length of the cosine schedule (default: ``steps``)
    finetune_pack: int = 6  # solved examples per finetuning sequence
    early_stopping: EarlyStopping | None = None  # finetuning's early stopping (default: off)
    facts_axis: str = "tru"  # the facts family's x-axis (FACTS_AXES; docs/lab-facts.md)

    def __post_init__(self) -> None:
        one_of("family", self.family, FAMILIES, "task family")
        if (self.family == "facts") != (self.facts is not None):
            raise SettingError("facts", "a facts scale needs a FactsConfig, and only a facts "
                               "scale takes one")
        one_of("facts_axis", self.facts_axis, FACTS_AXES, "facts x-axis")
        one_of("passuntil_budget_from", self.passuntil_budget_from, PASSUNTIL_BUDGET_FROM,
               "budget rule")
        if self.lr_steps is not None and self.lr_steps < self.steps:
            raise SettingError("lr_steps", f"the schedule ({self.lr_steps} steps) must cover "
                               f"the {self.steps} trained")

    @property
    def schedule_steps(self) -> int:
        """Steps the learning-rate schedule runs over (training may stop before its end)."""
        return self.lr_steps or self.steps

    def to_dict(self) -> dict:
        return asdict(self)


def one_of(name: str, value: object, choices: tuple[str, ...], what: str,
           error: type[OptionError] = SettingError) -> None:
    """Refuse ``value`` unless it is one of ``choices``: ``error(name, "unknown <what> ...")``
    naming the setting (or, with ``error=OptionError``, the command-line option)."""
    if value not in choices:
        raise error(name, f"unknown {what} {value!r} (use {' or '.join(choices)})")


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
    # PassUntil: the shipped tables' design (a fixed 2,000 per instance, 36-38 of 40 censored),
    # so that `lab run --scale small` reproduces them within its 15 minutes; budgets from the
    # exact rates capped at 100,000 (`--passuntil-budgets expected --passuntil-cap 100000`)
    # leave 20% censored but add about 12 minutes (docs/lab.md "PassUntil at budgets from the
    # exact rates")
    _scale("small", ((24, 2), (32, 2), (48, 2), (64, 2)), 600, _log_steps(600, 25, 12),
           batch_size=32, n_finetune_checkpoints=6, passuntil_budget_from="fixed"),
    _scale("medium", ((32, 2), (64, 2), (96, 3), (128, 4)), 3000, _log_steps(3000, 25, 20),
           batch_size=128, n_eval=600, n_finetune_checkpoints=6, passuntil_instances=100,
           passuntil_budget=20000),
    _scale("large", ((64, 2), (128, 4), (256, 4), (384, 6)), 10000, _log_steps(10000, 25, 30),
           batch_size=256, n_eval=600, n_finetune_checkpoints=8, passuntil_instances=200,
           passuntil_budget=100000),
    # the facts family (docs/lab-facts.md gives every setting's reason)
    _scale("facts-tiny", ((16, 1), (32, 1)), 40, (10, 20, 30, 40), batch_size=8, lr_steps=60,
           warmup=5, n_eval=40, data_amounts=(16, 64), subset_seeds=(0,),
           finetune_steps=40, finetune_batch=4, finetune_pack=8, n_finetune_checkpoints=1,
           finetune_span=None, passuntil_instances=4, passuntil_budget=32, family="facts",
           facts=FactsConfig(n_entities=80, split="head-pool", extraction="coded",
                             question_templates=4, qa_share=0.05, stmts_per_row=8,
                             balanced_eval=True),
           early_stopping=EarlyStopping(every=5, patience=2, n=16, keep_start=True),
           facts_axis="val"),
    _scale("facts-small", ((24, 2), (32, 2), (48, 2)), 1200,
           (25, 50, 100, 200, 300, *range(400, 1201, 50)), batch_size=32, lr=3e-3,
           lr_steps=2000, warmup=50, n_eval=1000,
           data_amounts=(1024, 4096, 16384, 65536), subset_seeds=(0,),
           methods=("full", "lora-r4"), finetune_steps=1200, finetune_batch=16, finetune_pack=8,
           finetune_lr=3e-4, lora_lr=1e-2, n_finetune_checkpoints=6, finetune_span=0.15,
           passuntil_instances=100, passuntil_budget=4000, family="facts",
           facts=FactsConfig(split="head-pool", extraction="coded", question_templates=16,
                             qa_share=0.02, balanced_eval=True),
           early_stopping=EarlyStopping(every=50, patience=8, n=200, keep_start=True),
           facts_axis="val"),
)}


def get_scale(scale: str) -> LabScale:
    """The settings of scale ``scale``; an unknown name is a ``SettingError`` naming it."""
    if scale not in SCALES:
        raise SettingError("scale", f"unknown scale {scale!r} (use {', '.join(SCALES)})")
    return SCALES[scale]
