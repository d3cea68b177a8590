"""Run lm-eval-harness on a model already in memory, and turn its results dict into rows.

Needs the ``measure`` extra (lm-eval, torch), imported inside :func:`run_lmeval` only. The rows
are built by the same code as an import of the harness's files (:mod:`.lmeval_import`), so a
run measured in memory and one written to disk and imported give the same table.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emergence_law.errors import SettingError
from emergence_law.measure.lmeval_import import _rows_v04, _shots_v04
from emergence_law.measure.lmeval_json import _get, _text
from emergence_law.measure.lmeval_samples import _per_sample, continuous_rows


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
        raise SettingError("tasks", f"unknown lm-eval task(s) {', '.join(unknown)}"
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
