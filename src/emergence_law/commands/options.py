"""Option types shared by the command modules: the choices as Enums (so ``--help`` lists them
and a wrong value is refused by the parser, naming the option), the check of an output
folder given with ``--out`` (refused before any work, as one line), and groups of options
several commands share (:func:`option_group`)."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

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


def option_group(group: type, options: Mapping[str, Any], *, into: str,
                 exclude: Iterable[str] = ()) -> Callable[[Callable], Callable]:
    """Give a command the options of a dataclass ``group`` (after its own), handed to it as one
    ``group`` in its parameter ``into``: one block of shared options instead of a copy per
    command. ``options`` holds each field's ``typer.Option``; fields in ``exclude`` are not
    offered and keep their defaults."""
    hints = typing.get_type_hints(group)
    names = [f.name for f in dataclasses.fields(group) if f.name not in set(exclude)]

    def decorate(func: Callable) -> Callable:
        own_hints = typing.get_type_hints(func)
        own = [p.replace(annotation=own_hints.get(n, p.annotation))
               for n, p in inspect.signature(func).parameters.items() if n != into]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=options[n],
                                   annotation=hints[n]) for n in names]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return func(**kwargs, **{into: group(**values)})

        command.__signature__ = inspect.Signature(own + added)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in own + added}
        return command

    return decorate
