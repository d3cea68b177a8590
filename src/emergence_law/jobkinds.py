"""Job kinds: one registry of what each kind of sweep job is, which settings it takes, who runs it.

Why typed settings: a job's ``hparams`` are part of its identity (the store hashes the whole
definition), so a typo such as ``batch_sise`` used to plan without error and then either fail
after the model had loaded (finetuning) or be ignored silently while still giving the job a new
id (few-shot). Each built-in kind here has a pydantic model with ``extra="forbid"``: the recipe
checker (:mod:`emergence_law.sweep.recipe`) refuses a bad key at plan time with its key path and
a did-you-mean, and the runner (:mod:`emergence_law.measure.jobs`) validates the definition with
the same models before it loads anything. The models only *check* and *type* settings: a job's
definition stays the dict as written, so valid recipes keep their job ids.

This module is torch-free (sweeps plan on machines without the ``measure`` extra). ``python``
jobs call a user's function, which owns its settings: their ``hparams`` are not checked here.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from emergence_law.errors import OptionError

METHODS = ("full", "lora")
SCHEDULES = ("linear", "constant")
DTYPES = ("auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16")


# ---------------------------------------------------------------------------------------------
# value types: what a YAML recipe gives (PyYAML reads 1e-5 and 3e9 as text; accept them)


def _number(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("must be a number")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(v, (int, float)) and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


def _whole(v: Any) -> Any:
    try:
        v = _number(v)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if isinstance(v, float):
        if v != int(v):
            raise ValueError("must be a whole number")
        return int(v)
    return v


def _mapping(v: Any) -> Any:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ValueError("must be a mapping of settings")
    return v


Number = Annotated[float, BeforeValidator(_number)]
Whole = Annotated[int, BeforeValidator(_whole)]
Text = Annotated[str, Field(min_length=1)]


class Settings(BaseModel):
    """Base of every kind's settings: unknown keys are errors, never ignored."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# settings of the built-in kinds


class LoadSettings(Settings):
    """How the checkpoint is loaded (every built-in kind)."""

    dtype: Literal[DTYPES] | None = Field(None, description="weights' dtype (default: the model's)")
    gguf_file: Text | None = Field(None, description="file inside a folder of .gguf weights")


class LossSettings(LoadSettings):
    """The pretraining-loss job (``kind: loss``)."""

    seq_len: Annotated[Whole, Field(ge=2)] | None = Field(
        None, description="window length (default: the model's context)")
    batch_size: Annotated[Whole, Field(ge=1)] = Field(8, description="windows per forward pass")
    max_tokens: Annotated[Whole, Field(ge=1)] | None = Field(None, description="stop after")
    max_documents: Annotated[Whole, Field(ge=1)] | None = Field(None, description="read at most")
    text_field: Text = Field("text", description="the text field of a .jsonl corpus")


class FewshotSettings(LoadSettings):
    """Few-shot evaluation with the built-in evaluator (``kind: fewshot``)."""

    limit: Annotated[Whole, Field(ge=1)] | None = Field(None, description="eval items (default: all)")
    eval_batch_size: Annotated[Whole, Field(ge=1)] | None = Field(
        None, description="prompts per forward pass (default 32)")
    batch_size: Annotated[Whole, Field(ge=1)] | None = Field(
        None, description="same as eval_batch_size (older name)")

    @property
    def eval_batch(self) -> int:
        """The evaluation batch: ``eval_batch_size``, else ``batch_size``, else 32."""
        return self.eval_batch_size or self.batch_size or 32


class LmevalSettings(LoadSettings):
    """Few-shot evaluation through lm-evaluation-harness (``kind: lmeval``)."""

    include_path: Text | None = Field(None, description="folder of extra lm-eval task YAMLs")
    output_path: Text | None = Field(None, description="where lm-eval writes results and samples")
    batch_size: Annotated[Whole, Field(ge=1)] = Field(16, description="lm-eval batch size")
    limit: Annotated[Number, Field(gt=0)] | None = Field(
        None, description="eval items, or a fraction below 1")


class FinetuneHparams(Settings):
    """Training settings; :func:`emergence_law.measure.finetune.default_hparams` picks ``lr`` by
    model size and method."""

    lr: Annotated[Number, Field(gt=0)] = Field(1e-5, description="peak learning rate "
                                               "(default by model size and method)")
    epochs: Annotated[Number, Field(ge=0)] = Field(3.0, description="passes over the D examples")
    batch_size: Annotated[Whole, Field(ge=1)] = Field(8, description="sequences per step")
    min_steps: Annotated[Whole, Field(ge=0)] = Field(10, description="at least this many steps")
    max_steps: Annotated[Whole, Field(ge=1)] | None = Field(None, description="at most")
    warmup_ratio: Annotated[Number, Field(ge=0, le=1)] = Field(0.1, description="warm-up share")
    weight_decay: Annotated[Number, Field(ge=0)] = Field(0.0, description="AdamW weight decay")
    lora_rank: Annotated[Whole, Field(ge=1)] = Field(8, description="LoRA rank (or the block's "
                                                     "lora_rank)")
    lora_alpha: Annotated[Number, Field(gt=0)] | None = Field(None, description="default 2 x rank")
    lora_dropout: Annotated[Number, Field(ge=0, lt=1)] = Field(0.0, description="LoRA dropout")
    max_grad_norm: Annotated[Number, Field(ge=0)] | None = Field(
        1.0, description="gradient clipping (null or 0: none)")
    # end each training target with EOS (instruction-style); False for models that never saw an
    # EOS token after an answer (e.g. models pretrained on packed text with a task delimiter)
    append_eos: bool = Field(True, description="end each target with EOS")
    # training examples per sequence, joined by the task's few-shot delimiter with the loss on
    # every answer: the model is trained in the in-context format it is evaluated in (k-shot
    # prompts); 1 = one example per sequence (instruction-style)
    pack: Annotated[Whole, Field(ge=1)] = Field(1, description="solved examples per sequence")
    # learning-rate schedule: "linear" (warm-up, then linear decay to zero) or "constant"
    schedule: Literal[SCHEDULES] = Field("linear", description="linear (warm-up, decay) or "
                                         "constant")
    # early stopping (off unless early_stopping_every is set): every that many steps the answer
    # loss of early_stopping_n held-out pool examples is measured, the best state is the one
    # evaluated, training stops after early_stopping_patience checks without improvement;
    # keep_start makes the unfinetuned state (0 steps) a candidate too
    early_stopping_every: Annotated[Whole, Field(ge=1)] | None = Field(
        None, description="check the held-out loss every this many steps (default: off)")
    early_stopping_patience: Annotated[Whole, Field(ge=1)] = Field(
        5, description="stop after this many checks without improvement")
    early_stopping_n: Annotated[Whole, Field(ge=1)] = Field(
        200, description="held-out examples the loss is measured on")
    early_stopping_keep_start: bool = Field(False, description="the unfinetuned state is a "
                                            "candidate too")
    early_stopping_split: str | None = Field(
        None, description="a task split to hold out (default: examples of the train split, "
        "held out before subsets are drawn)")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, base: FinetuneHparams | None = None
                  ) -> FinetuneHparams:
        """``base`` (default: the class defaults) with the settings of ``d``; a bad key or value
        is an ``OptionError("hparams", ...)`` naming it."""
        start = (base or cls()).model_dump()
        try:
            return cls.model_validate({**start, **dict(d or {})})
        except ValidationError as exc:
            loc, message, kind = first_problem(exc, cls)
            key = ".".join(str(p) for p in loc)
            if kind == "extra_forbidden":
                raise OptionError("hparams", f"unknown hyperparameter {key!r}"
                                  f"{suggest(key, cls, known=True)}") from None
            raise OptionError("hparams", f"{key} {message}") from None


TRAIN_KEYS = tuple(FinetuneHparams.model_fields)


class FinetuneSettings(FinetuneHparams, LoadSettings):
    """Finetuning on D examples, then evaluating (``kind: finetune``): training settings, plus
    evaluation and loading ones."""

    limit: Annotated[Whole, Field(ge=1)] | None = Field(None, description="eval items "
                                                        "(as eval_limit)")
    eval_limit: Annotated[Whole, Field(ge=1)] | None = Field(None, description="eval items "
                                                             "(default: all)")
    eval_batch_size: Annotated[Whole, Field(ge=1)] = Field(32, description="eval prompts per "
                                                           "forward pass")
    drop_overlap: bool = Field(False, description="drop training prompts that are also eval "
                               "prompts (default: refuse them)")

    def training(self) -> dict[str, Any]:
        """The training settings given explicitly (the rest come from ``default_hparams``)."""
        return self.model_dump(include=set(TRAIN_KEYS), exclude_unset=True)


#: common misnamings -> the setting meant (for did-you-mean)
_SYNONYMS = {"learning_rate": "lr", "num_epochs": "epochs", "n_epochs": "epochs",
             "train_batch_size": "batch_size", "per_device_train_batch_size": "batch_size",
             "warmup": "warmup_ratio", "grad_clip": "max_grad_norm", "clip_grad": "max_grad_norm",
             "rank": "lora_rank", "r": "lora_rank", "alpha": "lora_alpha",
             "steps": "max_steps", "eos": "append_eos", "n_eval": "limit",
             "max_length": "seq_len", "context_length": "seq_len"}


def suggest(key: str, model: type[BaseModel], *, known: bool = False) -> str:
    """`` (did you mean 'x'?)`` for a misspelt setting of ``model``, else the settings allowed
    (with ``known``: ``(known: ...)``, else ``(allowed: ...)``)."""
    fields = list(model.model_fields)
    names = fields + [s for s, f in _SYNONYMS.items() if f in fields]
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f" (did you mean '{_SYNONYMS.get(close[0], close[0])}'?)"
    return f" ({'known' if known else 'allowed'}: {', '.join(sorted(fields))})"


# ---------------------------------------------------------------------------------------------
# turning a pydantic error into one line


def first_problem(exc: ValidationError, model: type[BaseModel] | None = None
                  ) -> tuple[tuple[str | int, ...], str, str]:
    """The first problem of a validation error as (key path, message, pydantic error type).

    Unknown keys come first (a misspelt key usually means the intended setting is missing); the
    message reads ``must be at least 1, got 0`` / ``must be one of linear, constant, got 'x'``.
    """
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    return loc, _message(err), err["type"]


def _message(err: Mapping[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        text = str(ctx.get("error") or err["msg"]).removeprefix("Value error, ")
    elif kind == "literal_error":
        text = "must be one of " + ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected"))))
    elif kind in ("bool_parsing", "bool_type"):
        text = "must be true or false"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        text = "must be a whole number"
    elif kind in ("float_parsing", "float_type"):
        text = "must be a number"
    elif kind in ("string_type", "string_too_short"):
        text = "must be a non-empty string"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        text = "must be a mapping of settings"
    else:
        bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("above", "gt"),
                  "less_than_equal": ("at most", "le"), "less_than": ("below", "lt")}
        if kind in bounds:
            word, name = bounds[kind]
            text = f"must be {word} {ctx.get(name)}"
        else:
            msg = str(err["msg"])
            text = msg[:1].lower() + msg[1:]
    return f"{text}, got {describe_value(err.get('input'))}"


def describe_value(value: Any) -> str:
    """A value as an error message names it: a YAML mapping or list by its kind, not its repr."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return repr(value)


# ---------------------------------------------------------------------------------------------
# job definitions (what the store hashes), typed per kind


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Text
    revision: Text | None = None
    checkpoint: Text | None = None
    series: Text | None = None
    params: Annotated[Number, Field(ge=0)] | None = None
    tokens: Annotated[Number, Field(ge=0)] | None = None


class LossJob(_Definition):
    kind: Literal["loss"]
    corpus: Text
    hparams: Annotated[LossSettings, BeforeValidator(_mapping)] = Field(
        default_factory=LossSettings)


class _PromptJob(_Definition):
    """A task evaluated from prompts alone (few-shot, built-in or through lm-eval)."""

    task: Text
    shots: Annotated[Whole, Field(ge=0)] | None = None


class FewshotJob(_PromptJob):
    kind: Literal["fewshot"]
    hparams: Annotated[FewshotSettings, BeforeValidator(_mapping)] = Field(
        default_factory=FewshotSettings)


class LmevalJob(_PromptJob):
    kind: Literal["lmeval"]
    hparams: Annotated[LmevalSettings, BeforeValidator(_mapping)] = Field(
        default_factory=LmevalSettings)


class FinetuneJob(_Definition):
    kind: Literal["finetune"]
    task: Text
    n_train: Annotated[Whole, Field(ge=1)]
    subset: Annotated[Whole, Field(ge=0)] = 0
    method: Literal[METHODS] = "full"
    lora_rank: Annotated[Whole, Field(ge=1)] | None = None
    shots: Annotated[Whole, Field(ge=0)] | None = None
    seed: Annotated[Whole, Field(ge=0)] = 0
    harness: Literal["lmeval"] | None = None
    hparams: Annotated[FinetuneSettings, BeforeValidator(_mapping)] = Field(
        default_factory=FinetuneSettings)


class PythonJob(BaseModel):
    """A user's function measures: any further keys are its own (not checked here)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["python"]
    callable: Text
    setting: Text | None = None


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class JobKind:
    """One kind of job: its definition and settings models, the observation ``setting`` of its
    rows, the recipe harness whose few-shot jobs it runs, and the function that runs it."""

    name: str
    definition: type[BaseModel]
    settings: type[Settings] | None
    setting: str | None
    harness: str | None
    runner: str | None
    extra: str | None
    description: str

    @property
    def label(self) -> str:
        return {"fewshot": "few-shot", "lmeval": "lm-eval few-shot"}.get(self.name, self.name)


_MEASURE = "emergence_law.measure.jobs:run_job"

KINDS: dict[str, JobKind] = {k.name: k for k in (
    JobKind("loss", LossJob, LossSettings, "loss", None, _MEASURE, "measure",
            "pretraining loss of a checkpoint on a text corpus"),
    JobKind("fewshot", FewshotJob, FewshotSettings, "fewshot", "builtin", _MEASURE, "measure",
            "few-shot accuracy with the built-in evaluator"),
    JobKind("lmeval", LmevalJob, LmevalSettings, "fewshot", "lmeval", _MEASURE, "measure",
            "few-shot accuracy through lm-evaluation-harness"),
    JobKind("finetune", FinetuneJob, FinetuneSettings, "finetune", None, _MEASURE, "measure",
            "finetune on D examples (full or LoRA), then evaluate"),
    JobKind("python", PythonJob, None, None, "python", None, None,
            "a user's function: f(definition) -> rows"),
)}

#: recipe harnesses, and the kind of their few-shot jobs
HARNESSES = ("builtin", "lmeval", "python")


def get_kind(name: Any) -> JobKind:
    """The registered kind ``name``; an unknown one is ``OptionError('job.kind', ...)``."""
    kind = KINDS.get(str(name)) if name is not None else None
    if kind is None:
        close = difflib.get_close_matches(str(name), list(KINDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise OptionError("job.kind", f"unknown kind {name!r} ({hint}use {', '.join(KINDS)})")
    return kind


def fewshot_kind(harness: str) -> JobKind:
    """The kind of a recipe task's few-shot jobs for its ``harness``."""
    for kind in KINDS.values():
        if kind.harness == harness:
            return kind
    raise OptionError("harness", f"unknown harness {harness!r} (use {', '.join(HARNESSES)})")


def finetune_kind(harness: str) -> JobKind:
    """The kind of a recipe task's finetuning jobs (``python`` for a python harness)."""
    return KINDS["python" if harness == "python" else "finetune"]


def observation_setting(definition: Mapping[str, Any]) -> str | None:
    """The ``setting`` column (``loss``/``fewshot``/``finetune``) of a job's rows."""
    kind = KINDS.get(str(definition.get("kind")))
    if kind is None:
        return None
    return definition.get("setting") if kind.setting is None else kind.setting


def kind_label(definition: Mapping[str, Any]) -> str:
    """A definition's kind, with the setting for python jobs (``python:finetune``)."""
    kind = str(definition.get("kind", "job"))
    return f"python:{definition.get('setting')}" if kind == "python" else kind


def validate_definition(definition: Mapping[str, Any]) -> BaseModel:
    """The definition typed by its kind's model; a bad one is ``OptionError('job.<key path>',
    ...)`` (a missing key: ``a loss job needs 'corpus'``; an unknown setting: ``unknown loss
    setting (did you mean 'batch_size'?)``)."""
    kind = get_kind(definition.get("kind"))
    try:
        return kind.definition.model_validate(dict(definition))
    except ValidationError as exc:
        loc, message, err = first_problem(exc)
        key = "job." + ".".join(str(p) for p in loc)
        name = str(loc[-1]) if loc else ""
        if err == "missing":
            raise OptionError(key, f"a {kind.name} job needs {name!r}") from None
        if err == "extra_forbidden":
            inside = loc[0] == "hparams" and kind.settings is not None
            model = kind.settings if inside else kind.definition
            what = f"{kind.name} setting" if inside else f"key of a {kind.name} job"
            raise OptionError(key, f"unknown {what}{suggest(name, model)}") from None
        raise OptionError(key, message) from None


def settings_error(kind: JobKind, hparams: Mapping[str, Any]
                   ) -> tuple[str, str, str] | None:
    """The first problem of ``hparams`` as settings of ``kind`` (``None`` if they are valid):
    (key, message, pydantic error type). Used by the recipe checker, which knows where each key
    was written."""
    if kind.settings is None:
        return None
    try:
        kind.settings.model_validate(dict(hparams))
    except ValidationError as exc:
        loc, message, err = first_problem(exc)
        key = str(loc[0]) if loc else ""
        if err == "extra_forbidden":
            message = f"unknown key{suggest(key, kind.settings)}"
        return key, message, err
    return None


def owners(key: str) -> list[JobKind]:
    """The built-in kinds that take setting ``key``."""
    return [k for k in KINDS.values() if k.settings is not None and key in k.settings.model_fields]

