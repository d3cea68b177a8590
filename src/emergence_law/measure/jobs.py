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
``hparams``    the kind's settings, typed and checked by :mod:`emergence_law.jobkinds`
               (``LossSettings``, ``FewshotSettings``, ``LmevalSettings``, ``FinetuneSettings``):
               an unknown or ill-typed key is refused before the model loads
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
from emergence_law.jobkinds import KINDS, FinetuneJob, validate_definition
from emergence_law.measure.models import ModelCache

MODEL_CACHE = ModelCache()
ProgressFn = Callable[[int, int], None]


def _identity(job: Any, n_params: int) -> dict[str, Any]:
    model = job.model
    checkpoint = job.checkpoint or job.revision or Path(model.rstrip("/")).name
    return {"series": job.series, "model": model, "checkpoint": str(checkpoint),
            "params": job.params if job.params is not None else float(n_params),
            "tokens": job.tokens}


def clear_model_cache() -> None:
    """Drop the cached model (frees its memory)."""
    MODEL_CACHE.clear()


def run_job(definition: Mapping[str, Any], *, device: str = "cpu",
            progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """Run one measuring job and return its rows (see the module docstring for the keys).

    The definition is checked by its kind's model (:mod:`emergence_law.jobkinds`) before the
    model loads: a bad key is an ``OptionError('job.<key path>', ...)``."""
    job = validate_definition(definition)
    if job.kind not in KINDS or KINDS[job.kind].runner is None:
        raise OptionError("job.kind", f"{job.kind!r} jobs are not run by measure.jobs")
    hp = job.hparams
    load_kw = hp.model_dump(include={"dtype", "gguf_file"}, exclude_none=True)
    lm = MODEL_CACHE.get(job.model, job.revision, device=device, **load_kw)
    ident = _identity(job, lm.n_params)
    return _RUNNERS[job.kind](job, lm, ident, progress)


def _loss_job(job, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.loss import measure_loss, read_corpus

    hp = job.hparams
    docs = read_corpus(job.corpus, text_field=hp.text_field, max_documents=hp.max_documents)
    res = measure_loss(lm.model, lm.tokenizer, docs, seq_len=hp.seq_len,
                       batch_size=hp.batch_size, max_tokens=hp.max_tokens, progress=progress)
    return [{"kind": "loss", **ident, "loss": res.loss, "bits_per_byte": res.bits_per_byte,
             "n_tokens": res.n_tokens, "n_bytes": res.n_bytes, "n_documents": res.n_documents,
             "seq_len": res.seq_len, "corpus": job.corpus}]


def _fewshot_job(job, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.fewshot import evaluate_fewshot
    from emergence_law.measure.tasks import load_task

    task = load_task(job.task, shots=job.shots)
    res = evaluate_fewshot(lm.model, lm.tokenizer, task, limit=job.hparams.limit,
                           batch_size=job.hparams.eval_batch, progress=progress)
    return res.to_rows(**ident)


def _finetune_job(job: FinetuneJob, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.finetune import (
        finetune_and_evaluate,
        finetune_model,
        method_label,
        training_subset,
    )
    from emergence_law.measure.tasks import load_task

    task = load_task(job.task)
    hp = job.hparams
    train_hp = hp.training()
    if job.lora_rank is not None:
        train_hp["lora_rank"] = job.lora_rank
    shots = job.shots or 0
    if job.harness == "lmeval":
        from emergence_law.measure.finetune import FinetuneHparams, default_hparams
        from emergence_law.measure.lmeval_run import lmeval_results_to_rows, run_lmeval

        hpo = FinetuneHparams.from_dict(train_hp, default_hparams(lm.n_params, job.method))
        chosen, held = training_subset(task, hpo, job.n_train, job.subset, base_seed=job.seed,
                                       drop_overlap=hp.drop_overlap)
        ft, report = finetune_model(lm.model, lm.tokenizer, task, chosen, method=job.method,
                                    hparams=hpo, seed=job.seed * 1000 + job.subset,
                                    progress=progress, held_out=held)
        with tempfile.TemporaryDirectory() as tmp:
            include = task.to_lmeval(tmp, shots=shots)
            results = run_lmeval(ft, lm.tokenizer, [_lmeval_task_name(include)],
                                 include_path=include, num_fewshot=shots,
                                 limit=hp.eval_limit, builtin_tasks=False,
                                 model_name=ident["model"], revision=job.revision)
        rows = lmeval_results_to_rows(results, **ident)
        for r in rows:
            r.update({"task": task.name, "setting": "finetune", "n_train": job.n_train,
                      "subset": job.subset, "method": method_label(job.method, hpo.lora_rank),
                      "train_steps": report.steps, "train_loss": report.final_loss})
        return rows
    res = finetune_and_evaluate(
        lm.model, lm.tokenizer, task, job.n_train, job.subset, method=job.method,
        hparams=train_hp, base_seed=job.seed, drop_overlap=hp.drop_overlap,
        eval_limit=hp.eval_limit if hp.eval_limit is not None else hp.limit, eval_shots=shots,
        batch_size=hp.eval_batch_size, progress=progress)
    return res.to_rows(**ident)


def _lmeval_task_name(folder: Path) -> str:
    return next(Path(folder).glob("*.yaml")).stem


def _lmeval_job(job, lm, ident, progress) -> list[dict[str, Any]]:
    from emergence_law.measure.lmeval_run import lmeval_results_to_rows, run_lmeval
    from emergence_law.measure.tasks import load_task

    hp = job.hparams
    name, shots = job.task, job.shots
    with tempfile.TemporaryDirectory() as tmp:
        include = hp.include_path
        p = Path(name)
        if p.suffix.lower() in (".yaml", ".yml", ".jsonl") and p.exists() and include is None:
            task = load_task(p)  # our task format: export it as a local lm-eval task
            include = task.to_lmeval(tmp, shots=shots)
            name = _lmeval_task_name(include)
        results = run_lmeval(lm.model, lm.tokenizer, [name], include_path=include,
                             num_fewshot=shots, limit=_limit(hp.limit),
                             batch_size=hp.batch_size, output_path=hp.output_path,
                             model_name=ident["model"], revision=job.revision)
    return lmeval_results_to_rows(results, **ident)


def _limit(value: float | None) -> int | float | None:
    """lm-eval's ``limit``: a count (a whole number) or a fraction of the items (below 1)."""
    return int(value) if value is not None and value == int(value) else value


_RUNNERS = {"loss": _loss_job, "fewshot": _fewshot_job, "finetune": _finetune_job,
            "lmeval": _lmeval_job}
