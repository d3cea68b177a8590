"""One measuring job from its definition: the contract between sweeps and measuring.

``run_job(definition, device=..., progress=...) -> list[dict]`` is what the sweep executors
(local and Ray) call; a job definition is plain JSON so its hash identifies it. Keys:

=============  ==================================================================================
``kind``       ``loss`` | ``fewshot`` | ``finetune`` | ``lmeval``
``model``      local folder, ``.gguf`` file, or hub id; ``revision`` (e.g. ``step1000``)
``checkpoint`` the name written in the rows (default: revision, else the model's folder name)
``series``, ``params``, ``tokens``   copied into the rows (``params`` default: counted)
``task``       task file (YAML/JSONL), built-in task name, or for ``lmeval`` an lm-eval task
``shots``      prompt examples (few-shot: default the task's; finetune eval: default 0)
``n_train``, ``subset``, ``method`` (``full``|``lora``), ``lora_rank``, ``seed``   (finetune)
``harness``    ``lmeval`` on a finetune job: evaluate the finetuned model through lm-eval
``corpus``     text file (``.txt``/``.jsonl``) for ``loss``
``hparams``    dict: finetuning (``lr``, ``epochs``, ``batch_size``, ``max_steps``, …), evaluation
               (``limit``, ``eval_batch_size``, ``drop_overlap``), loss (``seq_len``,
               ``batch_size``, ``max_tokens``, ``max_documents``, ``text_field``), loading
               (``dtype``, ``gguf_file``), lm-eval (``include_path``, ``output_path``)
=============  ==================================================================================

Rows: observation rows (``task, metric, value, setting, shots, n_eval, chance`` …, with
``model, checkpoint, series, params, tokens``) and **no** ``loss`` (the sweep export joins each
checkpoint's loss job); a ``loss`` job returns one row ``{"kind": "loss", "model",
"checkpoint", "loss", "bits_per_byte", "n_tokens", "n_bytes", …}``.

The last loaded model is kept (:data:`MODEL_CACHE`), so consecutive jobs on one checkpoint load
it once; finetuning works on a copy, so the cached model is never changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emergence_law.errors import OptionError
from emergence_law.measure.models import ModelCache

KINDS = ("loss", "fewshot", "finetune", "lmeval")
MODEL_CACHE = ModelCache()
ProgressFn = Callable[[int, int], None]

_EVAL_KEYS = {"limit", "eval_limit", "eval_batch_size", "drop_overlap"}
_LOAD_KEYS = {"dtype", "gguf_file"}
_LMEVAL_KEYS = {"include_path", "output_path", "batch_size", "limit"}
_LOSS_KEYS = {"seq_len", "batch_size", "max_tokens", "max_documents", "text_field"}


def _need(d: Mapping[str, Any], key: str) -> Any:
    v = d.get(key)
    if v is None or v == "":
        raise OptionError(f"job.{key}", f"a {d.get('kind')} job needs '{key}'")
    return v


def _identity(d: Mapping[str, Any], n_params: int) -> dict[str, Any]:
    model = str(d["model"])
    checkpoint = d.get("checkpoint") or d.get("revision") or Path(model.rstrip("/")).name
    return {"series": d.get("series"), "model": model, "checkpoint": str(checkpoint),
            "params": float(d["params"]) if d.get("params") is not None else float(n_params),
            "tokens": float(d["tokens"]) if d.get("tokens") is not None else None}


def clear_model_cache() -> None:
    """Drop the cached model (frees its memory)."""
    MODEL_CACHE.clear()


def run_job(definition: Mapping[str, Any], *, device: str = "cpu",
            progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """Run one measuring job and return its rows (see the module docstring for the keys)."""
    d = dict(definition)
    kind = d.get("kind")
    if kind not in KINDS:
        raise OptionError("job.kind", f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    hp = dict(d.get("hparams") or {})
    if not isinstance(d.get("hparams") or {}, Mapping):
        raise OptionError("job.hparams", "must be a mapping")
    load_kw = {k: hp[k] for k in _LOAD_KEYS if k in hp}
    lm = MODEL_CACHE.get(str(_need(d, "model")), d.get("revision"), device=device, **load_kw)
    ident = _identity(d, lm.n_params)
    if kind == "loss":
        return _loss_job(d, hp, lm, ident, progress)
    if kind == "fewshot":
        return _fewshot_job(d, hp, lm, ident, progress)
    if kind == "finetune":
        return _finetune_job(d, hp, lm, ident, progress)
    return _lmeval_job(d, hp, lm, ident)


def _loss_job(d, hp, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.loss import measure_loss, read_corpus

    unknown = set(hp) - _LOSS_KEYS - _LOAD_KEYS
    if unknown:
        raise OptionError("job.hparams", f"unknown loss setting(s) {', '.join(sorted(unknown))}")
    corpus = str(_need(d, "corpus"))
    docs = read_corpus(corpus, text_field=hp.get("text_field", "text"),
                       max_documents=hp.get("max_documents"))
    res = measure_loss(lm.model, lm.tokenizer, docs, seq_len=hp.get("seq_len"),
                       batch_size=int(hp.get("batch_size", 8)), max_tokens=hp.get("max_tokens"),
                       progress=progress)
    return [{"kind": "loss", **ident, "loss": res.loss, "bits_per_byte": res.bits_per_byte,
             "n_tokens": res.n_tokens, "n_bytes": res.n_bytes, "n_documents": res.n_documents,
             "seq_len": res.seq_len, "corpus": corpus}]


def _fewshot_job(d, hp, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.fewshot import evaluate_fewshot
    from emergence_law.measure.tasks import load_task

    task = load_task(str(_need(d, "task")), shots=d.get("shots"))
    res = evaluate_fewshot(lm.model, lm.tokenizer, task, limit=hp.get("limit"),
                           batch_size=int(hp.get("eval_batch_size", hp.get("batch_size", 32))),
                           progress=progress)
    return res.to_rows(**ident)


def _finetune_job(d, hp, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.finetune import (
        finetune_and_evaluate,
        finetune_model,
        method_label,
        subset_indices,
        training_pool,
    )
    from emergence_law.measure.tasks import load_task

    task = load_task(str(_need(d, "task")))
    n_train = int(_need(d, "n_train"))
    subset = int(d.get("subset") or 0)
    method = str(d.get("method") or "full")
    train_hp = {k: v for k, v in hp.items() if k not in _EVAL_KEYS | _LOAD_KEYS}
    if d.get("lora_rank") is not None:
        train_hp["lora_rank"] = d["lora_rank"]
    shots = int(d.get("shots") or 0)
    seed = int(d.get("seed") or 0)
    if d.get("harness") == "lmeval":
        from emergence_law.measure.finetune import FinetuneHparams, default_hparams
        from emergence_law.measure.lmeval import lmeval_results_to_rows, run_lmeval

        hpo = FinetuneHparams.from_dict(train_hp, default_hparams(lm.n_params, method))
        pool = training_pool(task, drop_overlap=bool(hp.get("drop_overlap", False)))
        chosen = [pool[i] for i in subset_indices(len(pool), n_train, subset, base_seed=seed)]
        ft, report = finetune_model(lm.model, lm.tokenizer, task, chosen, method=method,
                                    hparams=hpo, seed=seed * 1000 + subset, progress=progress)
        with tempfile.TemporaryDirectory() as tmp:
            include = task.to_lmeval(tmp, shots=shots)
            results = run_lmeval(ft, lm.tokenizer, [_lmeval_task_name(include)],
                                 include_path=include, num_fewshot=shots,
                                 limit=hp.get("eval_limit"), builtin_tasks=False,
                                 model_name=ident["model"], revision=d.get("revision"))
        rows = lmeval_results_to_rows(results, **ident)
        for r in rows:
            r.update({"task": task.name, "setting": "finetune", "n_train": n_train,
                      "subset": subset, "method": method_label(method, hpo.lora_rank),
                      "train_steps": report.steps, "train_loss": report.final_loss})
        return rows
    res = finetune_and_evaluate(
        lm.model, lm.tokenizer, task, n_train, subset, method=method, hparams=train_hp,
        base_seed=seed, drop_overlap=bool(hp.get("drop_overlap", False)),
        eval_limit=hp.get("eval_limit", hp.get("limit")), eval_shots=shots,
        batch_size=int(hp.get("eval_batch_size", 32)), progress=progress)
    return res.to_rows(**ident)


def _lmeval_task_name(folder: Path) -> str:
    return next(Path(folder).glob("*.yaml")).stem


def _lmeval_job(d, hp, lm, ident) -> list[dict[str, Any]]:
    from emergence_law.measure.lmeval import lmeval_results_to_rows, run_lmeval
    from emergence_law.measure.tasks import load_task

    name = str(_need(d, "task"))
    shots = d.get("shots")
    with tempfile.TemporaryDirectory() as tmp:
        include = hp.get("include_path")
        p = Path(name)
        if p.suffix.lower() in (".yaml", ".yml", ".jsonl") and p.exists() and include is None:
            task = load_task(p)  # our task format: export it as a local lm-eval task
            include = task.to_lmeval(tmp, shots=shots)
            name = _lmeval_task_name(include)
        results = run_lmeval(lm.model, lm.tokenizer, [name], include_path=include,
                             num_fewshot=shots, limit=hp.get("limit"),
                             batch_size=int(hp.get("batch_size", 16)),
                             output_path=hp.get("output_path"), model_name=ident["model"],
                             revision=d.get("revision"))
    return lmeval_results_to_rows(results, **ident)
