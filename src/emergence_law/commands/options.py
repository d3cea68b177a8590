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
Likelihood = choices("Likelihood", "gaussian binomial quasi-binomial")
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
LabScale = choices("LabScale", "tiny small medium large facts-tiny facts-small")
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
                 exclude: Iterable[str] = (),
                 annotations: Mapping[str, Any] | None = None) -> Callable[[Callable], Callable]:
    """Give a command the options of a dataclass ``group``, handed to it as one ``group`` in its
    parameter ``into``: one block of shared options instead of a copy per command. The options
    stand where ``into`` stands in the command's signature (so ``--help`` lists them there).
    ``options`` holds each field's ``typer.Option``; ``annotations`` the type a command offers
    instead of a field's own (a narrower set of choices); fields in ``exclude`` are not offered
    and keep their defaults."""
    hints = {**typing.get_type_hints(group), **(annotations or {})}
    names = [f.name for f in dataclasses.fields(group) if f.name not in set(exclude)]

    def decorate(func: Callable) -> Callable:
        own_hints = typing.get_type_hints(func)
        params = [p.replace(annotation=own_hints.get(n, p.annotation))
                  for n, p in inspect.signature(func).parameters.items()]
        at = next((i for i, p in enumerate(params) if p.name == into), len(params))
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=options[n],
                                   annotation=hints[n]) for n in names]
        merged = params[:at] + added + params[at + 1:]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return func(**kwargs, **{into: group(**values)})

        command.__signature__ = inspect.Signature(merged)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in merged}
        return command

    return decorate


@dataclasses.dataclass(frozen=True)
class LawOptions:
    """The emergence-law settings the analysis commands share (``--posterior``, ``--samples``,
    ``--form``, ``--d0``, ``--likelihood``, ``--per-level``; see :func:`law_options`)."""

    posterior: Posterior = Posterior.mcmc
    samples: int | None = None
    form: Form = Form.log_power
    d0: float | None = None
    likelihood: Likelihood = Likelihood.gaussian
    per_level: bool = False

    def settings(self, seed: int) -> dict[str, Any]:
        """EmergenceLaw settings (validated by EmergenceLaw itself, so a SettingError names
        the bad option's flag); ``--samples`` defaults to 2000 MCMC, 1000 bootstrap draws."""
        from emergence_law.fitting import EmergenceLaw

        posterior = str(self.posterior)
        n = self.samples if self.samples is not None else (2000 if posterior == "mcmc" else 1000)
        law = {"form": str(self.form), "d0": self.d0, "likelihood": str(self.likelihood),
               "shared_ab": not self.per_level, "posterior": posterior, "n_samples": n,
               "seed": seed}
        EmergenceLaw(**law).validate_params()
        return law


def law_options(posterior_help: str, samples_help: str, *, base: str = "",
                posteriors: type[StrEnum] = Posterior) -> Callable[[Callable], Callable]:
    """Add the :class:`LawOptions` to a command, passed to it as ``law_opts``; the help of
    ``--posterior`` and ``--samples`` says what one fit is in that command, ``base`` prefixes
    the ``--form``/``--d0`` help, ``posteriors`` narrows the ``--posterior`` choices."""
    return option_group(LawOptions, into="law_opts", annotations={"posterior": posteriors}, options={
        "posterior": typer.Option(posteriors("mcmc"), "--posterior", help=posterior_help),
        "samples": typer.Option(None, "--samples", help=samples_help),
        "form": typer.Option(Form.log_power, "--form", help=f"{base}E(D) form."),
        "d0": typer.Option(None, "--d0", help=f"{base}D0 (default: the shots)."),
        "likelihood": typer.Option(Likelihood.gaussian, "--likelihood",
                                   help="Noise model: gaussian, binomial, or "
                                   "quasi-binomial (binomial x fitted dispersion)."),
        "per_level": typer.Option(False, "--per-level", help="A and B per data level."),
    })
