"""Import lm-eval-harness result files as observation rows.

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

Model identity from names is :mod:`.lmeval_names`, the per-document samples
:mod:`.lmeval_samples`; running the harness is :mod:`.lmeval_run`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError, OptionError
from emergence_law.measure.lmeval_json import (
    _count,
    _get,
    _number,
    _obj,
    _parse_json,
    _text,
)
from emergence_law.measure.lmeval_names import chance_for, run_identity
from emergence_law.measure.lmeval_samples import _read_samples, _samples_file, continuous_rows
from emergence_law.observations import OBSERVATION_COLUMNS, rows_to_frame

#: bookkeeping entries of a 0.4 results block that are not metrics
_NOT_METRICS = frozenset({"alias", "name", "sample_len", "samples", "sample_count"})
LAMBADA_TASKS = ("lambada_openai", "lambada_standard", "lambada")
PERPLEXITY_METRICS = ("perplexity", "ppl")


class LmEvalImportWarning(UserWarning):
    """Something the import could not know and left empty (never guessed)."""


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


def _is_v04(data: dict) -> bool:
    if any(k in data for k in ("n-shot", "configs", "n-samples", "lm_eval_version")):
        return True
    return any(isinstance(v, dict) and any("," in k for k in v) for v in data["results"].values())


# ---------------------------------------------------------------------------------------------
# one file -> rows


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
                "chance": chance_for(task, name),
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
         "shots": shots, "n_eval": None, "chance": chance_for("mmlu", m), "stderr": None,
         "n_subjects": len(v)}
        for m, v in by_metric.items()
    ]


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
            chance = chance_for(task, name)
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
        ident = run_identity(data, f, None, None)
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
        ident = run_identity(data, f, tokens_per_step, series)
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
        raise DataError("no LAMBADA perplexity in the results to take the loss from (looked for "
                        f"tasks {', '.join(LAMBADA_TASKS)}; --loss-from lambada, the default, "
                        "loss_from='lambada' in Python): give measured losses (--losses) or "
                        "import without a loss (--loss-from none)",
                        source=", ".join(df["source"].astype(str).unique()[:3]))
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

