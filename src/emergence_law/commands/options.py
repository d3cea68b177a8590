"""Option types shared by the command modules: the choices as Enums (so ``--help`` lists them
and a wrong value is refused by the parser, naming the option) and the check of an output
folder given with ``--out`` (refused before any work, as one line)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

if hasattr(enum, "StrEnum"):
    StrEnum = enum.StrEnum
else:  # Python 3.10 (the package supports it): members compare, print and format as values

    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


class Form(StrEnum):
    """E(D) forms (emergence_law.laws)."""

    log_power = "log_power"
    power = "power"
    no_fewshot = "no_fewshot"


class Posterior(StrEnum):
    mcmc = "mcmc"
    bootstrap = "bootstrap"
    none = "none"


class SampledPosterior(StrEnum):
    """Posteriors that give draws (compare needs them)."""

    mcmc = "mcmc"
    bootstrap = "bootstrap"


class Likelihood(StrEnum):
    gaussian = "gaussian"
    binomial = "binomial"


class BootstrapUnit(StrEnum):
    parametric = "parametric"
    checkpoint = "checkpoint"
    residual = "residual"


class Predictor(StrEnum):
    """Backtest predictors."""

    emergence_law = "emergence_law"
    two_step = "two_step"
    both = "both"


class OrderBy(StrEnum):
    auto = "auto"
    flops = "flops"
    loss = "loss"


class ScalingLaw(StrEnum):
    auto = "auto"
    size = "size"
    chinchilla = "chinchilla"


class Allocation(StrEnum):
    """How ``passuntil run`` spends its samples."""

    until_r = "until-r"
    adaptive = "adaptive"


class Level(StrEnum):
    """PassUntil fit levels."""

    pooled = "pooled"
    instance = "instance"
    dataset = "dataset"
    distribution = "distribution"


def out_dir(value: Path | None) -> Path | None:
    """Typer callback for a folder ``--out``: refuse a path that is, or lies under, a file."""
    if value is None:
        return value
    if value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{value} is a file, not a folder; give a folder to write "
                                 "the outputs into")
    for parent in value.parents:
        if parent.exists():
            if not parent.is_dir():
                raise typer.BadParameter(f"{parent} is a file, so no folder {value} can be "
                                         "made under it")
            break
    return value


class FinetuneMethod(StrEnum):
    full = "full"
    lora = "lora"


class Harness(StrEnum):
    builtin = "builtin"
    lmeval = "lmeval"


class LossFrom(StrEnum):
    lambada = "lambada"
    none = "none"


class Executor(StrEnum):
    local = "local"
    ray = "ray"


class LabScale(StrEnum):
    tiny = "tiny"
    small = "small"
    medium = "medium"
    large = "large"


class LabDevice(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


class ElbowsBy(StrEnum):
    """ground-truth --by: one elbow per model, per series, or one for all rows."""

    model = "model"
    series = "series"
    none = "none"


class RecipeHarness(StrEnum):
    """design --harness: how the written recipe measures."""

    builtin = "builtin"
    lmeval = "lmeval"
    python = "python"
