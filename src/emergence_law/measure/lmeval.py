"""lm-eval-harness interop: import its result files as observation rows, and run it in memory.

Importing is torch-free (users with results from any cluster can fit laws on the core install).
Both on-disk formats are read:

* the older harness (≤ 0.3, e.g. the Pythia evals): one JSON with ``results`` (task → metric →
  value), ``versions`` and ``config`` (``model_args`` holds ``pretrained=…,revision=…``); the
  training step is in the revision or the file name;
* lm-eval 0.4: ``results_<date>.json`` (metrics keyed ``"acc,none"``, ``n-shot``, ``n-samples``,
  ``configs``) next to ``samples_<task>_<date>.jsonl`` with each document's log-likelihoods, from
  which the continuous metrics ``logprob`` (mean log-likelihood of the correct choice) and
  ``logprob_norm`` (mean log-probability of the correct choice normalised over the choices) are
  computed, and the chance level of multiple-choice tasks (mean 1/number of choices).

A row is identified by (model, checkpoint, task, metric, shots); the checkpoint is the model
revision, so two revisions of one model never collide, and two files that disagree about the
same key are an error rather than a silent overwrite.

Pythia (and most suites) publish no pretraining loss; ``loss_from="lambada"`` fills ``loss`` with
ln(LAMBADA perplexity) of the same checkpoint, a proxy that is monotone in model quality, and
says so in the ``loss_source`` column.
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.errors import DataError, OptionError
from emergence_law.observations import OBSERVATION_COLUMNS, rows_to_frame

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
#: bookkeeping entries of a 0.4 results block that are not metrics
_NOT_METRICS = frozenset({"alias", "name", "sample_len", "samples", "sample_count"})
ACCURACY_METRICS = ("acc", "acc_norm", "exact_match", "em")
LAMBADA_TASKS = ("lambada_openai", "lambada_standard", "lambada")
PERPLEXITY_METRICS = ("perplexity", "ppl")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmbt])$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_DTYPE_SUFFIX = re.compile(r"^(bf16|fp16|fp32|f16|f32)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# model identity


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


class LmEvalImportWarning(UserWarning):
    """Something the import could not know and left empty (never guessed)."""


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
            raise OptionError("--tokens-per-step", f"must be a positive number, got {override}")
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



def _chance_for(task: str, metric: str) -> float | None:
    if metric.split("_")[0] not in ("acc", "exact", "em") and metric not in ACCURACY_METRICS:
        return None
    for key, val in KNOWN_CHANCE.items():
        if task == key or task.startswith(key + "-") or task.startswith(key + "_"):
            return val
    return None


# ---------------------------------------------------------------------------------------------
# finding and reading files


def _result_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DataError("file or folder not found", source=str(p))
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.json") if f.is_file())
            found = [f for f in found if _looks_like_results(f)]
            if not found:
                raise DataError("no lm-eval result files (*.json with 'results') found",
                                source=str(p))
            files.extend(found)
        else:
            files.append(p)
    return files


def _looks_like_results(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return '"results"' in head or path.name.startswith("results")


def _parse_json(text: str, path: Path, row: int | None = None) -> Any:
    """``json.loads`` whose every failure is a one-line :class:`DataError` naming the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = "" if row is not None else f" (line {exc.lineno})"
        raise DataError(f"invalid JSON: {exc.msg}{where}", source=str(path), row=row) from exc
    except RecursionError as exc:
        raise DataError("invalid JSON: nested too deeply to be an lm-eval file",
                        source=str(path), row=row) from exc


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not a UTF-8 text file (byte {exc.start}: {exc.reason}); lm-eval "
                        "writes UTF-8 JSON", source=str(path)) from exc
    data = _parse_json(text, path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DataError("not an lm-eval result file (no 'results' object)", source=str(path))
    for key in ("config", "configs", "n-shot", "n-samples", "versions", "group_subtasks"):
        _obj(data, key, path)
    return data


def _obj(data: dict, key: str, path: Path | str) -> dict:
    """``data[key]`` when it is a JSON object, ``{}`` when absent or null; any other type is a
    one-line :class:`DataError` (``"config": [1]`` is not a config)."""
    v = data.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise DataError(f"{key!r} must be a JSON object, got {_json_type(v)}", source=str(path))
    return v


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _is_v04(data: dict) -> bool:
    if any(k in data for k in ("n-shot", "configs", "n-samples", "lm_eval_version")):
        return True
    return any(isinstance(v, dict) and any("," in k for k in v) for v in data["results"].values())


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit integer
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# one file -> rows


def _identity(data: dict, path: Path, tokens_per_step: float | None,
              series: str | None) -> dict[str, Any]:
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


def _rows_old(data: dict, path: Path, ident: dict, aggregate_mmlu: bool) -> list[dict]:
    config = _obj(data, "config", path)
    shots = _count(config.get("num_fewshot"))
    shots = 0 if shots is None else shots
    rows = []
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        for name, value in metrics.items():
            if name.endswith("_stderr") or _number(value) is None:
                continue
            rows.append({
                **ident, "task": task, "metric": name, "value": float(value),
                "setting": "fewshot", "shots": shots, "n_eval": None,
                "chance": _chance_for(task, name),
                "stderr": _number(metrics.get(f"{name}_stderr")),
            })
    if aggregate_mmlu:
        rows.extend(_mmlu_average(rows, ident, shots))
    return rows


def _mmlu_average(rows: list[dict], ident: dict, shots: int) -> list[dict]:
    """MMLU as the unweighted mean over its subjects (old harness: ``hendrycksTest-*``)."""
    by_metric: dict[str, list[float]] = {}
    for r in rows:
        if r["task"].startswith("hendrycksTest-"):
            by_metric.setdefault(r["metric"], []).append(r["value"])
    return [
        {**ident, "task": "mmlu", "metric": m, "value": float(np.mean(v)), "setting": "fewshot",
         "shots": shots, "n_eval": None, "chance": _chance_for("mmlu", m), "stderr": None,
         "n_subjects": len(v)}
        for m, v in by_metric.items()
    ]


def _text(v: Any) -> str | None:
    """A JSON string as text; anything else (a list, an object, a number) is not a name."""
    return v if isinstance(v, str) and v.strip() else None


def _get(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...`` through JSON objects only; None where a level is missing or not an
    object (a malformed inner entry is then as good as absent, never a crash)."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _count(v: Any) -> int | float | None:
    """A count as an int; a number that is not whole stays a float, so that validating the
    rows names it (``shots`` 2.5 must not become 2); None when not a number."""
    x = _number(v)
    if x is None:
        return None
    return int(x) if x == int(x) else x


def _shots_v04(data: dict, task: str, _seen: frozenset = frozenset()) -> int | float | None:
    shots = _count(_get(data, "n-shot", task))
    if shots is not None:
        return shots
    shots = _count(_get(data, "configs", task, "num_fewshot"))
    if shots is not None:
        return shots
    subtasks = _get(data, "group_subtasks", task)
    if isinstance(subtasks, list) and task not in _seen:
        sub = {_shots_v04(data, t, _seen | {task}) for t in subtasks if isinstance(t, str)}
        sub -= {None}
        if len(sub) == 1:
            return sub.pop()
    return _count(_get(data, "config", "num_fewshot"))


def _rows_v04(data: dict, path: Path, ident: dict, with_samples: bool) -> list[dict]:
    rows = []
    for task, metrics in data["results"].items():
        if not isinstance(metrics, dict):
            continue
        shots = _shots_v04(data, task)
        n_eval = _count(_get(data, "n-samples", task, "effective"))
        if n_eval is None:
            n_eval = _count(metrics.get("sample_len"))
        extra, acc_chance = [], None
        if with_samples:
            f = _samples_file(path, task)
            if f is not None:
                output_type = _text(_get(data, "configs", task, "output_type")) or ""
                extra, acc_chance = continuous_rows(_read_samples(f, output_type), output_type,
                                                    {**ident, "task": task, "shots": shots})
        for key, value in metrics.items():
            name, _, filt = key.partition(",")
            if name.endswith("_stderr") or name in _NOT_METRICS or _number(value) is None:
                continue
            metric = name if filt in ("", "none") else f"{name}_{filt}"
            chance = _chance_for(task, name)
            if acc_chance is not None and name in ("acc", "acc_norm"):
                chance = acc_chance
            rows.append({
                **ident, "task": task, "metric": metric, "value": float(value),
                "setting": "fewshot", "shots": shots,
                "n_eval": n_eval, "chance": chance,
                "stderr": _number(metrics.get(f"{name}_stderr,{filt}" if filt else
                                              f"{name}_stderr")),
            })
        rows.extend(extra)
    return rows


# ---------------------------------------------------------------------------------------------
# 0.4 per-sample files


def _samples_file(results_path: Path, task: str) -> Path | None:
    date = results_path.stem[len("results_"):] if results_path.stem.startswith("results_") \
        else None
    if date is None:
        return None
    f = results_path.with_name(f"samples_{task}_{date}.jsonl")
    return f if f.exists() else None


def _gold_index(sample: dict, n_choices: int, continuations: Sequence[str]) -> int | None:
    target = sample.get("target")
    if isinstance(target, list):
        target = target[0] if target else None
    if target is None:
        return None
    t = str(target).strip()
    if re.fullmatch(r"\d+", t) and int(t) < n_choices:
        return int(t)
    stripped = [str(c).strip() for c in continuations]
    return stripped.index(t) if t in stripped else None


def _continuations(sample: dict) -> list[str]:
    args = sample.get("arguments") or {}
    if isinstance(args, dict):
        def order(key: str) -> tuple[int, str]:
            tail = str(key).rsplit("_", 1)[-1]
            return (int(tail), "") if tail.isdigit() else (1 << 30, str(key))

        ordered = [args[k] for k in sorted(args, key=order)]
        return [str(a.get("arg_1", "")) if isinstance(a, dict) else "" for a in ordered]
    if not isinstance(args, list):
        return []
    return [str(a[1]) if isinstance(a, (list, tuple)) and len(a) > 1 else "" for a in args]


def _per_sample(sample: dict, output_type: str) -> dict[str, Any] | None:
    """One document's continuous figures from its log-likelihoods (None when not applicable)."""
    resps = sample.get("filtered_resps")
    if output_type == "multiple_choice" and isinstance(resps, list) and resps:
        lls = np.array([_number(r[0] if isinstance(r, (list, tuple)) and r else r)
                        for r in resps], dtype=float)  # None -> nan
        if not np.isfinite(lls).all():
            return None
        gold = _gold_index(sample, len(lls), _continuations(sample))
        if gold is None:
            return None
        norm = float(lls[gold] - np.logaddexp.reduce(lls))
        return {"n_choices": len(lls), "gold": gold, "logprob": float(lls[gold]),
                "logprob_norm": norm, "choice_logprobs": json.dumps([float(x) for x in lls])}
    if output_type == "loglikelihood" and isinstance(resps, list) and resps:
        r = resps[0] if isinstance(resps[0], (list, tuple)) else resps
        ll = _number(r[0]) if r else None
        return None if ll is None else {"n_choices": None, "gold": None, "logprob": ll,
                                        "logprob_norm": None, "choice_logprobs": None}
    return None


def _read_samples(path: Path, output_type: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            s = _parse_json(line, path, row=lineno)
            if not isinstance(s, dict):
                raise DataError(f"each line must be a JSON object (one document), got "
                                f"{_json_type(s)}", source=str(path), row=lineno)
            ps = _per_sample(s, output_type)
            if ps is not None:
                names = s.get("metrics") if isinstance(s.get("metrics"), list) else []
                metrics = {m: _number(s.get(m)) for m in names if isinstance(m, str)}
                out.append({"doc_id": s.get("doc_id"), **ps, **metrics})
    return out


def _mean_se(x: np.ndarray) -> tuple[float, float | None]:
    return float(x.mean()), (float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None)


def continuous_rows(recs: list[dict], output_type: str,
                    base: dict[str, Any]) -> tuple[list[dict], float | None]:
    """Rows of the continuous metrics from per-document records, and the accuracy chance level.

    ``logprob``: mean log-likelihood of the correct continuation (nats). Multiple choice adds
    ``logprob_norm`` (mean log of the correct choice's probability normalised over the choices;
    its chance level, mean −ln k, is in the extra column ``log_chance`` because the ``chance``
    column holds non-negative levels) and ``prob_norm`` (mean normalised probability; chance
    mean 1/k), a bounded continuous stand-in for accuracy.
    """
    if not recs:
        return [], None
    common = {**base, "setting": "fewshot", "n_eval": len(recs)}
    v, se = _mean_se(np.array([r["logprob"] for r in recs], dtype=float))
    rows = [{**common, "metric": "logprob", "value": v, "stderr": se, "chance": None}]
    if output_type != "multiple_choice":
        return rows, None
    ln = np.array([r["logprob_norm"] for r in recs], dtype=float)
    k = np.array([r["n_choices"] for r in recs], dtype=float)
    v, se = _mean_se(ln)
    rows.append({**common, "metric": "logprob_norm", "value": v, "stderr": se, "chance": None,
                 "log_chance": float(np.mean(-np.log(k)))})
    v, se = _mean_se(np.exp(ln))
    acc_chance = float(np.mean(1.0 / k))
    rows.append({**common, "metric": "prob_norm", "value": v, "stderr": se,
                 "chance": acc_chance})
    return rows, acc_chance


# ---------------------------------------------------------------------------------------------
# public API


def read_lmeval_samples(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Per-document log-likelihoods of lm-eval 0.4 runs (files or folders, recursively).

    One row per (run, task, document): ``model, checkpoint, task, shots, doc_id, n_choices,
    gold, logprob, logprob_norm, choice_logprobs`` (a JSON list) and the per-document metrics.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows = []
    for f in _result_files(paths):
        data = _load_json(f)
        if not _is_v04(data):
            continue
        ident = _identity(data, f, None, None)
        for task in data["results"]:
            sf = _samples_file(f, task)
            if sf is None:
                continue
            output_type = _text(_get(data, "configs", task, "output_type")) or ""
            for rec in _read_samples(sf, output_type):
                rows.append({"model": ident["model"], "checkpoint": ident["checkpoint"],
                             "task": task, "shots": _shots_v04(data, task), **rec,
                             "source": str(sf)})
    return pd.DataFrame.from_records(rows)


def import_lmeval(
    paths: str | Path | Sequence[str | Path],
    loss_from: str | None = None,
    *,
    losses: pd.DataFrame | None = None,
    tokens_per_step: float | None = None,
    series: str | None = None,
    aggregate_mmlu: bool = True,
    samples: bool = True,
) -> pd.DataFrame:
    """Observation rows from lm-eval result files or folders (searched recursively).

    ``loss_from="lambada"`` fills ``loss`` with ln(LAMBADA perplexity) of the same model and
    checkpoint; ``losses`` (a table with ``model, checkpoint, loss``, e.g. from
    ``measure loss``) fills it with measured pretraining losses instead (they take precedence).
    Rows without a loss keep it missing; ``loss_source`` says where every loss came from.
    ``tokens_per_step`` converts training steps to tokens for every file; by default each run's
    own batch size where its name gives it (``pythia-70m-0.25MtokBS``), else a known suite's
    standard batch (Pythia's 2,097,152), else tokens stay empty with a
    :class:`LmEvalImportWarning` (see :func:`tokens_per_step_of`; the ``tokens_source`` column
    says which). Old-format MMLU subjects are also averaged into a task ``mmlu``.
    """
    if loss_from not in (None, "lambada"):
        raise OptionError("loss_from", f"unknown loss source {loss_from!r} (use 'lambada' or None)")
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows: list[dict] = []
    for f in _result_files(paths):
        data = _load_json(f)
        ident = _identity(data, f, tokens_per_step, series)
        if _is_v04(data):
            rows.extend(_rows_v04(data, f, ident, samples))
        else:
            rows.extend(_rows_old(data, f, ident, aggregate_mmlu))
    if not rows:
        raise DataError("no numeric results found", source=", ".join(map(str, paths)))
    _warn_unknown_tokens(rows)
    df = rows_to_frame(rows)
    df = _drop_duplicates(df)
    df["loss"] = np.nan
    df["loss_source"] = pd.NA
    if loss_from == "lambada":
        df = _fill_loss_from_lambada(df)
    if losses is not None:
        df = _fill_loss_from_table(df, losses)
    extra = [c for c in df.columns if c not in OBSERVATION_COLUMNS]
    return df[OBSERVATION_COLUMNS + extra].reset_index(drop=True)


def _warn_unknown_tokens(rows: list[dict]) -> None:
    """One warning per model whose training tokens could not be known (left empty)."""
    seen: dict[str, str] = {}
    for r in rows:
        src = r.get("tokens_source") or ""
        if src.startswith("unknown") and r["model"] not in seen:
            seen[r["model"]] = src
    for model, src in seen.items():
        warnings.warn(f"tokens (and FLOPs) of {model} left empty: tokens per training step "
                      f"{src}; give --tokens-per-step to set them", LmEvalImportWarning,
                      stacklevel=3)


_KEY = ["model", "checkpoint", "task", "metric", "shots"]


def _drop_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """Identical re-imports collapse; two files disagreeing about one key are an error."""
    key = df[_KEY].astype("string").fillna("<na>")
    dup = key.duplicated(keep=False)
    if not dup.any():
        return df
    sub = df[dup].assign(_k=key[dup].agg("|".join, axis=1))
    for _, g in sub.groupby("_k", sort=False):
        if g["value"].nunique() > 1:
            a, b = g.iloc[0], g.iloc[1]
            raise DataError(
                f"two results for model {a['model']} checkpoint {a['checkpoint']} task "
                f"{a['task']} metric {a['metric']} shots {a['shots']} disagree "
                f"({a['value']:g} in {a['source']} vs {b['value']:g} in {b['source']}); "
                "import them separately or remove one",
                source=str(b["source"]),
            )
    return df[~key.duplicated(keep="first")]


def _fill_loss_from_lambada(df: pd.DataFrame) -> pd.DataFrame:
    is_ppl = df["task"].isin(LAMBADA_TASKS) & df["metric"].isin(PERPLEXITY_METRICS)
    ppl = df[is_ppl].copy()
    if ppl.empty:
        raise DataError("loss_from='lambada' but no LAMBADA perplexity was found in the results "
                        f"(looked for tasks {', '.join(LAMBADA_TASKS)})")
    ppl["_rank"] = ppl["task"].map({t: i for i, t in enumerate(LAMBADA_TASKS)})
    ppl["_shots"] = pd.to_numeric(ppl["shots"], errors="coerce").fillna(0)
    ppl = ppl.sort_values(["_rank", "_shots"]).drop_duplicates(["model", "checkpoint"])
    bad = ppl["value"] <= 0
    if bad.any():
        r = ppl[bad].iloc[0]
        raise DataError(f"LAMBADA perplexity {r['value']:g} is not positive", source=r["source"])
    ppl["_loss"] = np.log(ppl["value"].astype(float))
    ppl["_src"] = "ln ppl " + ppl["task"].astype(str)
    m = df.merge(ppl[["model", "checkpoint", "_loss", "_src"]], on=["model", "checkpoint"],
                 how="left")
    m["loss"] = m["_loss"]
    m["loss_source"] = m["_src"]
    return m.drop(columns=["_loss", "_src"])


def _fill_loss_from_table(df: pd.DataFrame, losses: pd.DataFrame) -> pd.DataFrame:
    missing = {"model", "loss"} - set(losses.columns)
    if missing:
        raise DataError(f"loss table needs columns model, checkpoint, loss (missing: "
                        f"{', '.join(sorted(missing))})", column=sorted(missing)[0])
    lt = losses.copy()
    if "checkpoint" not in lt.columns:
        lt["checkpoint"] = pd.NA
    lt = lt[["model", "checkpoint", "loss"]].dropna(subset=["loss"]).reset_index(drop=True)
    from emergence_law.observations import OBSERVATION_SCHEMA, validate_table

    lt["loss"] = validate_table(lt[["loss"]], type(OBSERVATION_SCHEMA)(
        "losses", (OBSERVATION_SCHEMA["loss"],)), source="loss table")["loss"]
    lt["checkpoint"] = lt["checkpoint"].astype("string")
    lt = lt.drop_duplicates(["model", "checkpoint"], keep="last").rename(
        columns={"loss": "_measured"})
    left = df.assign(checkpoint=df["checkpoint"].astype("string"))
    m = left.merge(lt, on=["model", "checkpoint"], how="left")
    have = m["_measured"].notna()
    m.loc[have, "loss"] = m.loc[have, "_measured"].astype(float)
    m.loc[have, "loss_source"] = "measured"
    return m.drop(columns=["_measured"])


def validate_imported(df: pd.DataFrame) -> pd.DataFrame:
    """Validate imported rows as strictly as a loaded table (values, params, shots ...), loss
    cells included where present; a bad row is named by its result file, task and metric."""
    from emergence_law.observations import validate_observations

    try:
        return validate_observations(df, source="imported rows",
                                     require_loss=bool(df["loss"].notna().all()))
    except DataError as exc:
        if exc.row is None or "source" not in df.columns:
            raise
        r = df.iloc[exc.row - 1]
        raise DataError(f"{exc.reason} (task {r['task']}, metric {r['metric']}, "
                        f"checkpoint {r['checkpoint']})", source=str(r["source"]),
                        column=exc.column) from exc


def describe_import(df: pd.DataFrame) -> str:
    """One paragraph for the CLI: what was imported and where the losses came from."""
    models = df[["model", "checkpoint"]].drop_duplicates()
    src = df["loss_source"].fillna("none").value_counts()
    parts = [f"{len(df)} rows: {df['model'].nunique()} models, {len(models)} checkpoints, "
             f"{df['task'].nunique()} tasks"]
    parts.append("loss: " + ", ".join(f"{n} rows from {s}" if s != "none" else
                                       f"{n} rows without a loss" for s, n in src.items()))
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# running lm-eval-harness on a model in memory


def run_lmeval(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str],
    *,
    model_name: str = "model",
    revision: str | None = None,
    include_path: str | Path | Sequence[str | Path] | None = None,
    num_fewshot: int | None = None,
    limit: int | float | None = None,
    batch_size: int = 16,
    output_path: str | Path | None = None,
    log_samples: bool = True,
    device: str = "cpu",
    bootstrap_iters: int = 0,
    builtin_tasks: bool = True,
) -> dict[str, Any]:
    """Run lm-eval tasks on a model already in memory (e.g. just finetuned: no save/reload).

    Task names are lm-eval's (a hub dataset is needed for most) or those of task YAMLs under
    ``include_path`` (local data via ``dataset_path: json``; see :meth:`Task.to_lmeval`). With
    ``output_path`` the harness's own ``results_*.json`` and ``samples_*.jsonl`` are written
    there (importable with :func:`import_lmeval`); the results dict is returned either way.
    ``builtin_tasks=False`` looks only under ``include_path`` (skips indexing the harness's own).
    """
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    includes = None
    if include_path is not None:
        items = [include_path] if isinstance(include_path, (str, Path)) else list(include_path)
        includes = [str(Path(p).resolve()) for p in items]
    # indexing lm-eval's thousands of built-in task YAMLs takes long: only when needed
    manager = TaskManager(include_path=includes, include_defaults=includes is None)
    if includes is not None and builtin_tasks and any(t not in manager.all_tasks for t in tasks):
        manager = TaskManager(include_path=includes, include_defaults=True)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise OptionError("--task", f"unknown lm-eval task(s) {', '.join(unknown)}"
                          + ("" if includes else " (local task YAMLs need include_path)"))
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    model_args = {"pretrained": model_name, **({"revision": revision} if revision else {})}
    tracker = None
    if output_path is not None:
        tracker = EvaluationTracker(output_path=str(output_path))
    results = lm_eval.simple_evaluate(
        model=lm, model_args=model_args, tasks=list(tasks), num_fewshot=num_fewshot,
        limit=limit, task_manager=manager, log_samples=log_samples or tracker is not None,
        bootstrap_iters=bootstrap_iters, evaluation_tracker=tracker,
    )
    if results is None:  # pragma: no cover - only on non-zero ranks of distributed runs
        return {}
    if tracker is not None:
        samples = results.pop("samples", None)
        tracker.general_config_tracker.model_name = model_name
        tracker.general_config_tracker.model_name_sanitized = re.sub(r"[^\w.-]+", "__",
                                                                     model_name)
        tracker.save_results_aggregated(results=results, samples=samples if log_samples else None)
        if log_samples and samples:
            for task_name in results["configs"]:
                # the tracker rewrites samples while saving; keep the in-memory ones intact
                tracker.save_results_samples(task_name=task_name,
                                             samples=copy.deepcopy(samples[task_name]))
        results["samples"] = samples
    return results


def lmeval_results_to_rows(results: dict[str, Any], **identity: Any) -> list[dict[str, Any]]:
    """Observation rows straight from a results dict of :func:`run_lmeval` (nothing written)."""
    data = {k: v for k, v in results.items() if k != "samples"}
    ident = {"series": None, "model": None, "checkpoint": None, "params": None,
             "tokens": None, "flops": None, "step": None, "source": "<in memory>"}
    ident.update(identity)
    rows = _rows_v04(data, Path("<in memory>"), ident, with_samples=False)
    extra = _in_memory_sample_rows(results, ident)
    chance = {r["task"]: r["_acc_chance"] for r in extra if r.get("_acc_chance") is not None}
    for r in rows:
        if r["metric"] in ("acc", "acc_norm") and r["task"] in chance:
            r["chance"] = chance[r["task"]]
    for r in extra:
        r.pop("_acc_chance", None)
    return rows + extra


def _in_memory_sample_rows(results: dict[str, Any], ident: dict[str, Any]) -> list[dict]:
    rows = []
    for task, samples in (results.get("samples") or {}).items():
        output_type = _text(_get(results, "configs", task, "output_type")) or ""
        recs = [ps for ps in (_per_sample(dict(s), output_type) for s in samples)
                if ps is not None]
        extra, acc_chance = continuous_rows(recs, output_type,
                                            {**ident, "task": task,
                                             "shots": _shots_v04(results, task)})
        if extra:
            extra[0]["_acc_chance"] = acc_chance
        rows.extend(extra)
    return rows
