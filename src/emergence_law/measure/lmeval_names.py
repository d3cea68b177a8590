"""What an lm-eval run's names say about it: model size, family, training step and tokens.

Model, revision and file names are the only record most published evals keep of the run they
measured (``pythia-1.4b`` at ``step143000``; OLMo's ``stage1-step1000-tokens4B``); this reads
them, and says where a number came from rather than guessing one (:func:`tokens_per_step_of`).
Also the chance level of well-known tasks when the per-document samples are absent, and a
result file's whole identity (:func:`run_identity`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from emergence_law.errors import SettingError
from emergence_law.measure.lmeval_json import _number, _obj, _text

#: tokens per optimiser step of known suites' standard runs (batch 1024 x 2048 tokens for
#: Pythia); a run whose name gives its own batch size (:data:`_BATCH_TOKENS`) uses that instead
TOKENS_PER_STEP = {"pythia": 2_097_152}
#: a batch size written into a run's name, Pythia style: ``70m-0.25MtokBS`` is 0.25 "M" tokens per
#: step, where M = 2**20 as in Pythia's standard "2M" batch (1024 x 2048 = 2,097,152): 0.25M =
#: 128 x 2048 = 262,144 and 0.5M = 256 x 2048 = 524,288 tokens per step
_BATCH_TOKENS = re.compile(r"(\d+(?:\.\d+)?)\s*([kM])\s*tok(?:ens)?[-_]?BS", re.IGNORECASE)
#: any other sign of a non-standard batch size in a name (then the suite's default is no guess)
_BATCH_MARK = re.compile(r"(?:^|[-_/])([\d.]*[A-Za-z]*BS|[Bb][Ss]\d+|[Bb]atch[-_]?\d+[A-Za-z]*)"
                         r"(?=$|[-_/.])")
#: chance levels of common lm-eval tasks (accuracy metrics), used when samples are absent
KNOWN_CHANCE = {
    "arc_easy": 0.25, "arc_challenge": 0.25, "hendrycksTest": 0.25, "mmlu": 0.25,
    "sciq": 0.25, "logiqa": 0.25, "piqa": 0.5, "winogrande": 0.5, "wsc": 0.5, "wsc273": 0.5,
    "boolq": 0.5, "copa": 0.5, "hellaswag": 0.25, "openbookqa": 0.25, "commonsense_qa": 0.2,
    "cola": 0.5, "lambada_openai": 0.0, "lambada_standard": 0.0, "gsm8k": 0.0,
}
#: metrics that are accuracies (they have a chance level)
ACCURACY_METRICS = ("acc", "acc_norm", "exact_match", "em")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmbt])$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_DTYPE_SUFFIX = re.compile(r"^(bf16|fp16|fp32|f16|f32)$", re.IGNORECASE)


def parse_model_args(model_args: Any) -> dict[str, str]:
    """``"pretrained=X,revision=Y"`` (or a dict) as a dict of strings."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    out: dict[str, str] = {}
    for part in str(model_args or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def params_from_name(name: str) -> float | None:
    """Nominal parameter count from a model name: ``pythia-1.4b`` → 1.4e9, ``pythia-70m`` → 7e7."""
    for seg in re.split(r"[/_\-]", str(name)):
        m = _SIZE.match(seg)
        if m:
            return float(m.group(1)) * _SCALE[m.group(2).lower()]
    return None


def series_from_name(name: str) -> str:
    """The model family: the name without organisation, size and precision (``pythia-v1.1``)."""
    base = str(name).rstrip("/").split("/")[-1]
    segs = [s for s in base.split("-") if not _SIZE.match(s) and not _DTYPE_SUFFIX.match(s)]
    return "-".join(segs).lower() or base.lower()


def step_from(*texts: str | None) -> int | None:
    """The training step in a revision or file name (``step1000``, ``…-step1000-tokens4B``)."""
    for t in texts:
        if t:
            m = re.search(r"step[_\-]?(\d+)", str(t))
            if m:
                return int(m.group(1))
    return None


def tokens_from_revision(revision: str | None) -> float | None:
    """Tokens written into a revision name, as OLMo does (``stage1-step1000-tokens4B``)."""
    if revision:
        m = re.search(r"tokens(\d+(?:\.\d+)?)([kmbt])", str(revision), re.IGNORECASE)
        if m:
            return float(m.group(1)) * _SCALE[m.group(2).lower()]
    return None


def tokens_per_step_of(*names: str | None, override: float | None = None) -> tuple[float | None,
                                                                                    str]:
    """Tokens per training step of a run, and where that number came from.

    In order: ``override`` (``--tokens-per-step``); a batch size written into the model, revision
    or file name (``pythia-70m-0.25MtokBS``: 262,144); a known suite's standard batch
    (:data:`TOKENS_PER_STEP`) when no name hints at another batch size; otherwise unknown
    (None): a guess would scale every FLOPs figure by the ratio of the batch sizes.
    """
    if override is not None:
        if not (math.isfinite(override) and override > 0):
            raise SettingError("tokens_per_step", f"must be a positive number, got {override}")
        return float(override), "--tokens-per-step"
    texts = [str(n) for n in names if n]
    for t in texts:
        m = _BATCH_TOKENS.search(t)
        if m:
            unit = 2**20 if m.group(2).lower() == "m" else 2**10
            return float(m.group(1)) * unit, f"batch size in the name {m.group(0)!r}"
    low = " ".join(texts).lower()
    for key, val in TOKENS_PER_STEP.items():
        if key in low:
            mark = next((m.group(0).strip("-_/ ") for t in texts
                         for m in [_BATCH_MARK.search(t.replace(".json", ""))] if m), None)
            if mark is not None:
                return None, (f"the name says a non-standard batch size ({mark!r}) that could "
                              "not be read")
            return float(val), f"{key}'s standard batch"
    return None, "no batch size in the names and not a known suite"


def chance_for(task: str, metric: str) -> float | None:
    if metric.split("_")[0] not in ("acc", "exact", "em") and metric not in ACCURACY_METRICS:
        return None
    for key, val in KNOWN_CHANCE.items():
        if task == key or task.startswith(key + "-") or task.startswith(key + "_"):
            return val
    return None


def run_identity(data: dict, path: Path, tokens_per_step: float | None,
                 series: str | None) -> dict[str, Any]:
    """Who a result file measured: series, model, checkpoint, params, tokens, FLOPs and step,
    from its config and names, and where the tokens came from (``tokens_source``)."""
    config = _obj(data, "config", path)
    margs = parse_model_args(config.get("model_args"))
    model = (margs.get("pretrained") or _text(data.get("model_name")) or
             _text(config.get("model")) or path.stem)
    revision = margs.get("revision") or _text(config.get("model_revision")) or None
    step = step_from(revision, path.name)
    checkpoint = revision or (f"step{step}" if step is not None else None)
    params = _number(config.get("model_num_parameters")) or params_from_name(model)
    tokens = tokens_from_revision(revision)
    tps, tps_source = None, ""
    if tokens is None and step is not None:
        tps, tps_source = tokens_per_step_of(model, revision, path.parent.name, path.name,
                                             override=tokens_per_step)
        tokens = step * tps if tps is not None else None
    return {
        "series": series or series_from_name(model),
        "model": model,
        "checkpoint": checkpoint,
        "params": params,
        "tokens": tokens,
        "flops": 6.0 * params * tokens if params is not None and tokens is not None else None,
        "step": step,
        "source": str(path),
        "tokens_per_step": tps,
        "tokens_source": (tps_source if tps is not None else
                          (f"unknown: {tps_source}" if step is not None and tokens is None
                           else ("revision name" if tokens is not None else None))),
    }
