"""Turn a sweep's stored results into a validated observation table.

Why a join: the x-axis of an emergence law is each checkpoint's pretraining loss, measured once
per checkpoint by a ``loss`` job, while accuracies come from many task jobs of the same
checkpoint. Export copies the loss of each (model, checkpoint) into the ``loss`` column of its
task rows, fills the columns the job definition already knows (series, params, tokens, shots,
data amount, subset, method), and validates the result with the observation schema. Rows whose
checkpoint has no loss yet are left out and counted, never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from emergence_law.errors import DataError
from emergence_law.jobkinds import observation_setting
from emergence_law.observations import rows_to_frame, validate_observations
from emergence_law.store import ResultStore
from emergence_law.sweep.plan import describe

#: columns an exported row takes from its job definition when the job did not set them
_FROM_DEFINITION = ("series", "params", "tokens", "task", "shots", "n_train", "subset")
#: bookkeeping keys of job rows that are not observation columns
_DROP = ("kind",)


@dataclass
class ExportResult:
    """The exported table and what was left out of it, with reasons."""

    table: pd.DataFrame
    jobs: int
    left_out: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{len(self.table)} observation rows from {self.jobs} finished jobs"
        if self.left_out:
            text += "; left out: " + ", ".join(f"{n} {why}" for why, n in self.left_out.items())
        return text


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _method(definition: dict[str, Any]) -> str | None:
    method = definition.get("method")
    if method == "lora" and definition.get("lora_rank") is not None:
        return f"lora-r{definition['lora_rank']}"
    return method


def collect_rows(store: ResultStore, ids: Sequence[str] | None = None,
                 model_names: Mapping[str, str] | None = None) -> ExportResult:
    """Joined, unvalidated observation rows of the done jobs (all, or those of ``ids``).

    ``model_names`` (job id -> the recipe's model name, :meth:`SweepPlan.model_names`) adds a
    ``model_name`` column: ``model`` stays what was loaded (a folder or hub id, which may differ
    per checkpoint), ``model_name`` says which family member it is (``3b``, ``d24``).
    """
    stored = store.job_rows(ids)
    losses: dict[tuple[str, str], dict[str, Any]] = {}
    task_rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    jobs: set[str] = set()
    for jid, d, row in stored:
        jobs.add(jid)
        setting = row.get("setting") or observation_setting(d)
        if setting == "loss" or row.get("kind") == "loss":
            key = (str(d.get("model")), str(d.get("checkpoint")))
            if _missing(row.get("loss")):
                raise DataError(f"loss job {describe(d)} stored a row without 'loss'",
                                source=str(store.path), column="loss")
            prev = losses.get(key)
            if prev is not None and prev["job_id"] != jid:
                raise DataError(
                    f"two loss measurements for {key[0]}@{key[1]} (jobs {prev['job_id']} and "
                    f"{jid}, e.g. two corpora): export with the recipe to choose one",
                    source=str(store.path), column="loss",
                )
            losses[key] = {"loss": float(row["loss"]), "job_id": jid}
            continue
        task_rows.append((jid, d, row))
    out: list[dict[str, Any]] = []
    left_out: dict[str, int] = {}
    for jid, d, row in task_rows:
        r = {k: v for k, v in row.items() if k not in _DROP}
        # the definition's model and checkpoint are the sweep's own names (paths as written)
        r["model"] = d.get("model", r.get("model"))
        r["checkpoint"] = d.get("checkpoint", r.get("checkpoint"))
        for k in _FROM_DEFINITION:
            if _missing(r.get(k)) and d.get(k) is not None:
                r[k] = d[k]
        if _missing(r.get("setting")):
            r["setting"] = observation_setting(d)
        if r.get("setting") == "finetune" and _missing(r.get("method")):
            r["method"] = _method(d)
        if _missing(r.get("loss")):
            found = losses.get((str(r["model"]), str(r["checkpoint"])))
            if found is None:
                why = "rows whose checkpoint has no loss measured yet"
                left_out[why] = left_out.get(why, 0) + 1
                continue
            r["loss"] = found["loss"]
        if model_names and jid in model_names:
            r["model_name"] = model_names[jid]
        r["job_id"] = jid
        out.append(r)
    return ExportResult(rows_to_frame(out) if out else pd.DataFrame(), len(jobs), left_out)


def export_observations(store: ResultStore, ids: Sequence[str] | None = None,
                        model_names: Mapping[str, str] | None = None) -> ExportResult:
    """The validated observation table of the done jobs (all, or those of ``ids``); see
    :func:`collect_rows` for ``model_names``."""
    result = collect_rows(store, ids, model_names)
    if result.table.empty:
        extra = f" ({result.summary()})" if result.left_out else ""
        raise DataError(f"no finished task results to export yet{extra}", source=str(store.path))
    source = str(store.path)
    try:
        result.table = validate_observations(result.table, source=source)
    except DataError as exc:
        if exc.row is None:
            raise
        jid = str(result.table["job_id"].iloc[exc.row - 1])
        d = store.definition(jid) or {}
        raise DataError(f"{exc.reason} (a row of job {jid}: {describe(d)})", source=source,
                        column=exc.column) from None
    return result
