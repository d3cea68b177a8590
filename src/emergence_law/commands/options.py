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


def choices(name: str, values: str, doc: str = "") -> type[StrEnum]:
    """An Enum of one option's choices (space-separated ``values``), each member named by its
    value with ``-`` as ``_`` (``Allocation.until_r`` is ``"until-r"``)."""
    members = [(v.replace("-", "_"), v) for v in values.split()]
    kind = StrEnum(name, members, module=__name__)  # type: ignore[call-overload]
    kind.__doc__ = doc or f"Choices of one option: {', '.join(values.split())}."
    return kind


#: fit and analysis settings (emergence_law.laws, fitting, analysis)
Form = choices("Form", "log_power power no_fewshot", "E(D) forms (emergence_law.laws).")
Posterior = choices("Posterior", "mcmc bootstrap none")
SampledPosterior = choices("SampledPosterior", "mcmc bootstrap",
                           "Posteriors that give draws (compare needs them).")
Likelihood = choices("Likelihood", "gaussian binomial")
BootstrapUnit = choices("BootstrapUnit", "parametric checkpoint residual")
Predictor = choices("Predictor", "emergence_law two_step both", "Backtest predictors.")
OrderBy = choices("OrderBy", "auto flops loss")
ScalingLaw = choices("ScalingLaw", "auto size chinchilla")
ElbowsBy = choices("ElbowsBy", "model series none",
                   "ground-truth --by: one elbow per model, per series, or one for all rows.")
#: PassUntil
Allocation = choices("Allocation", "until-r adaptive", "How ``passuntil run`` spends its samples.")
Level = choices("Level", "pooled instance dataset distribution", "PassUntil fit levels.")
#: measuring, sweeps, the lab and design
FinetuneMethod = choices("FinetuneMethod", "full lora")
Harness = choices("Harness", "builtin lmeval")
LossFrom = choices("LossFrom", "lambada none")
Executor = choices("Executor", "local ray")
LabScale = choices("LabScale", "tiny small medium large")
LabDevice = choices("LabDevice", "cpu cuda")
RecipeHarness = choices("RecipeHarness", "builtin lmeval python",
                        "design --harness: how the written recipe measures.")


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
