"""``emergence-law lab run``: train the family, measure it, fit, and report, resumably.

Stages (each skips what a previous, interrupted run finished):

1. train every size, saving checkpoints (``models/<size>/step-N``);
2. pretraining loss and few-shot accuracy of every checkpoint: the sweep recipe
   ``lab_measure.yaml``, run by the project's sweep runner (:mod:`emergence_law.lab.recipe`);
3. the ground-truth few-shot elbow from all checkpoints, then the pre-emergence checkpoints
   (loss above it) to finetune with ``measure.finetune``: every data amount x subset seed x
   method, the recipe ``lab_finetune.yaml``; and the gate: the same settings on the
   never-pretrained step-0 model of every size, ``lab_control.yaml`` (:mod:`.gate`);
4. PassUntil counts of one pre-emergence checkpoint per size (the same step for every size);
5. fits and the answers (:mod:`emergence_law.lab.results`), plots, ``lab_summary.json``,
   and the tables ``lab_observations.csv`` / ``lab_passuntil_counts.csv``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emergence_law.errors import EmergenceLawError, SettingError
from emergence_law.lab.family import LabScale, get_scale
from emergence_law.lab.recipe import STORE_FILE
from emergence_law.results.lab import LabSummary

DEVICES = ("cpu", "cuda")
#: metrics kept in the observation table: accuracy, and the continuous view (paper Fig. 13):
#: the log / probability of the correct choice normalised over the choices
KEPT_METRICS = ("acc", "logprob_norm", "prob_norm")
#: what the lab's pool workers (training, the sweeps' loss, few-shot and finetuning jobs, and
#: the fits: analysis.jobs) import: every pool of the lab asks its fork server for a part of
#: this list, so the server imports it once and each worker forks with it (each worker
#: importing torch, transformers and peft again took seconds, most of a `--scale tiny` run)
WORKER_PRELOAD = ("torch", "transformers", "transformers.models.llama.modeling_llama",
                  "transformers.models.auto.modeling_auto",
                  "transformers.models.auto.tokenization_auto", "peft",
                  "emergence_law.lab.pipeline", "emergence_law.lab.train", "emergence_law.tinylm",
                  "emergence_law.lab.loss", "emergence_law.lab.facts_lab",
                  "emergence_law.sweep.executors",
                  "emergence_law.measure.jobs", "emergence_law.measure.models",
                  "emergence_law.measure.fewshot", "emergence_law.measure.finetune",
                  "emergence_law.analysis.jobs")


@dataclass
class LabOutputs:
    """Where a run wrote its results."""

    out: Path
    observations: Path
    counts: Path | None
    summary: Path
    plots: list[Path]
    seconds: float


def _progress():
    from emergence_law.progress import progress_bar

    return progress_bar("{task.fields[last]}", description_width=22)


def run_lab(scale: str | LabScale = "small", out: str | Path = "lab-results", *,
            device: str = "cpu", progress: bool = True, threads: int | None = None,
            workers: int = 1) -> LabOutputs:
    """Run the whole lab at ``scale`` into ``out``; see the module docstring.

    ``workers`` > 1 runs the measuring sweeps in that many processes (the sweep's process
    pool, each worker limited to ``threads`` torch threads, default 1).
    """
    import torch
    from transformers.utils import logging as hf_logging

    from emergence_law.lab.families import write_task
    from emergence_law.lab.gate import control_table
    from emergence_law.lab.measure import LabContext, passuntil_job, pick_preemergence
    from emergence_law.lab.recipe import (
        CONTROL_RECIPE,
        FINETUNE_RECIPE,
        MEASURE_RECIPE,
        finetune_recipe,
        measure_recipe,
        write_recipe,
    )
    from emergence_law.lab.train import save_control, train_family_member
    from emergence_law.store import ResultStore

    hf_logging.disable_progress_bar()  # our own rich bar reports progress (training may run
    # in pool workers, so the driver's own saves, e.g. the gate's controls, need this too)
    sc = get_scale(scale) if isinstance(scale, str) else scale
    if device not in DEVICES:
        raise SettingError("device", f"unknown device {device!r} (use cpu or cuda)")
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingError("device", "cuda was asked for but torch sees no GPU")
    if workers < 1:
        raise SettingError("workers", f"must be at least 1, got {workers}")
    if threads:
        torch.set_num_threads(threads)
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models_dir = out / "models"
    store = ResultStore(out / STORE_FILE)
    bar = _progress() if progress else None
    try:
        if bar:
            bar.start()

        def task(desc: str, total: int):
            return bar.add_task(desc, total=total, last="") if bar else None

        def adv(tid, n: int = 1) -> None:
            if bar and tid is not None:
                bar.advance(tid, n)

        # 1. train (the sizes in parallel when there are workers for them, on the CPU)
        tid = task("train family", len(sc.sizes) * sc.steps)
        if workers > 1 and device == "cpu" and len(sc.sizes) > 1:
            ckpts = _train_in_parallel(sc, models_dir, workers, threads or 1,
                                       lambda n, _t=tid: adv(_t, n))
        else:
            ckpts = []
            for spec in sc.sizes:
                ckpts += train_family_member(spec, sc, models_dir, device=device,
                                             advance=lambda n, _t=tid: adv(_t, n))
        # 2. loss + few-shot: a sweep recipe
        task_file = write_task(sc, out)
        recipe = write_recipe(measure_recipe(sc, out, ckpts, task_file, device=device),
                              out / MEASURE_RECIPE)
        names = _sweep(recipe, store, bar, "loss + few-shot", workers, threads, device)
        obs = _observations(_export(store, names))
        # 3. ground truth, pre-emergence checkpoints, finetuning: a second recipe
        from emergence_law.lab.results import ground_truth

        try:
            gt = ground_truth(obs)
            elbow = gt.elbow
        except EmergenceLawError:
            gt, elbow = None, float("-inf")  # nothing emerged: every checkpoint is "pre"
        losses = _checkpoint_losses(obs, ckpts)
        chosen = pick_preemergence(losses, elbow, sc.n_finetune_checkpoints, sc.finetune_span)
        control = None
        if chosen:
            recipe = write_recipe(finetune_recipe(sc, out, chosen, task_file, device=device),
                                  out / FINETUNE_RECIPE)
            names.update(_sweep(recipe, store, bar, "finetune", workers, threads, device))
            # the gate: every finetuning setting on never-pretrained models of each size
            controls = [save_control(spec, sc, models_dir) for spec in sc.sizes]
            recipe = write_recipe(finetune_recipe(sc, out, controls, task_file, device=device,
                                                  name="control"), out / CONTROL_RECIPE)
            control = control_table(_export(store, _sweep(recipe, store, bar, "gate (controls)",
                                                          workers, threads, device)))
        obs = _observations(_export(store, names))  # exactly this run's jobs
        # 4. PassUntil on one pre-emergence step shared by every size
        ctx = LabContext(sc, store, device)
        pu_ckpts = _passuntil_checkpoints(ckpts, losses, elbow)
        tid = task("PassUntil", len(pu_ckpts))
        counts_rows = []
        for ck in pu_ckpts:
            counts_rows += passuntil_job(ctx, ck, losses[ck])
            adv(tid)
        counts = pd.DataFrame(counts_rows)
        # 5. fits, answers, plots
        tid = task("fit + report", 1)
        files = write_results(obs, counts, out, sc, device=device, control=control,
                              seconds=time.perf_counter() - t0,
                              cpu_seconds=time.process_time() - c0)
        adv(tid)
    finally:
        if bar:
            bar.stop()
        store.close()
    return files


def _train_member(spec: Any, *, scale: LabScale, root: Path, threads: int) -> list:
    """One size's training in a pool worker (``threads`` torch threads, as in the driver)."""
    import torch

    from emergence_law.lab.train import train_family_member

    torch.set_num_threads(threads)
    return train_family_member(spec, scale, root)


def _train_in_parallel(sc: LabScale, root: Path, workers: int, threads: int,
                       advance: Any) -> list:
    """Every size trained in its own worker of the project's pool (nothing outlives the
    driver; each size resumes from its own checkpoints, so an interrupted run loses at most
    the steps since a size's last checkpoint). The weights equal those of sequential training
    (each size's batches and initialisation depend only on its seed and step;
    ``test_parallel_training_equals_sequential``). Progress moves a whole size at a time."""
    from functools import partial

    from emergence_law.pool import JobPool

    fn = partial(_train_member, scale=sc, root=root, threads=threads)
    by_size: dict[str, list] = {}
    with JobPool(fn, min(workers, len(sc.sizes)), preload=WORKER_PRELOAD) as pool:
        for fin in pool.run(list(sc.sizes)):
            if fin.error is not None:
                raise fin.error
            by_size[fin.job.name] = fin.value
            advance(sc.steps)
    return [ck for spec in sc.sizes for ck in by_size[spec.name]]


def _sweep(recipe_path: Path, store: Any, bar: Any, description: str, workers: int,
           threads: int | None, device: str) -> dict[str, str]:
    """Run one of the lab's recipes with the sweep runner; its jobs' ids -> model names.

    A job that fails is an error here: the lab's tables must be complete.
    """
    from emergence_law.sweep.executors import make_executor
    from emergence_law.sweep.plan import plan_recipe
    from emergence_law.sweep.progress import run_sweep_with_progress
    from emergence_law.sweep.recipe import load_recipe
    from emergence_law.sweep.runner import run_sweep

    plan = plan_recipe(load_recipe(recipe_path))
    ex = make_executor("local", workers=workers, base_dir=recipe_path.parent, device=device,
                       threads=(threads or 1) if workers > 1 else None,
                       preload=WORKER_PRELOAD)
    if bar is not None:
        report = run_sweep_with_progress(plan, store, ex, description=description,
                                         progress=bar, retry_failed=True)
    else:
        report = run_sweep(plan, store, ex, retry_failed=True)
    if report.failed or report.skipped_running:
        first = report.failures[0] if report.failures else ("", "run by another process")
        raise EmergenceLawError(f"{recipe_path}: {report.failed} job(s) failed and "
                                f"{report.skipped_running} are held by another run "
                                f"(first: {first[0]}: {first[1]}); see `emergence-law sweep "
                                f"status {recipe_path}`")
    return {jid: plan.model_names()[jid] for jid in plan.ids}


def _export(store: Any, names: dict[str, str]) -> list[dict]:
    """The sweep's rows of these jobs (ids -> recipe model names), with ``model`` the family
    member (``lab-d24``) rather than the checkpoint folder the sweep loaded, and FLOPs 6 N T."""
    from emergence_law.sweep.export import collect_rows

    table = collect_rows(store, list(names), names).table
    rows = []
    for r in table.to_dict("records") if not table.empty else []:
        if r.get("metric") not in KEPT_METRICS:
            continue
        r["model"] = r.pop("model_name")
        r["flops"] = 6.0 * float(r["params"]) * float(r["tokens"])
        rows.append(r)
    return rows


def _checkpoint_losses(obs: pd.DataFrame, ckpts: list) -> dict:
    """Each checkpoint's pretraining loss (the loss column of its rows)."""
    per = obs.drop_duplicates(["model", "checkpoint"]).set_index(["model", "checkpoint"])["loss"]
    keys = {ck: (f"lab-{ck.model}", f"step-{ck.step}") for ck in ckpts}
    return {ck: float(per[k]) for ck, k in keys.items() if k in per.index}


def _observations(rows: list[dict]) -> pd.DataFrame:
    """The observation table: the schema's columns plus each value's standard error and, for
    ``logprob_norm``, its chance level ln(1/4) (``log_chance``)."""
    from emergence_law.observations import OBSERVATION_COLUMNS, rows_to_frame

    df = rows_to_frame(rows)
    keep = [c for c in (*OBSERVATION_COLUMNS, "stderr", "log_chance") if c in df.columns]
    return df[keep].sort_values(["setting", "model", "tokens", "metric", "method", "n_train",
                                 "subset"], na_position="first").reset_index(drop=True)


def _passuntil_checkpoints(ckpts: list, losses: dict, elbow: float) -> list:
    """One checkpoint per size at the latest step where every size is still pre-emergence
    (PassUntil's use: resolving pass rates that greedy decoding reports as zero)."""
    by_step: dict[int, list] = {}
    for ck in ckpts:
        by_step.setdefault(ck.step, []).append(ck)
    n_sizes = len({ck.model for ck in ckpts})
    good = [s for s, cks in by_step.items()
            if len(cks) == n_sizes and all(losses[ck] > elbow for ck in cks)]
    step = max(good) if good else min(by_step)
    return sorted(by_step[step], key=lambda ck: ck.params)


def write_results(obs: pd.DataFrame, counts: pd.DataFrame, out: Path, sc: LabScale, *,
                  device: str = "cpu", seconds: float | None = None,
                  cpu_seconds: float | None = None,
                  control: pd.DataFrame | None = None) -> LabOutputs:
    """Answers, plots, and the :class:`~emergence_law.results.lab.LabSummary` (
    ``lab_summary.json`` and the tables beside it) from measured tables (no models).

    ``control``: the gate's never-pretrained finetuning table (:mod:`.gate`), if measured.
    """
    from emergence_law.lab import plots
    from emergence_law.lab.continuous import continuous_emergence
    from emergence_law.lab.gate import gate
    from emergence_law.lab.results import (
        fewshot_emergence,
        finetune_shift,
        ground_truth,
        passuntil_prediction,
        prediction,
    )
    from emergence_law.provenance import versions

    out = Path(out)
    try:
        gt = ground_truth(obs)
    except EmergenceLawError as exc:
        gt, gt_note = None, str(exc)
    else:
        gt_note = None
    fewshot = fewshot_emergence(obs, gt)
    if gt_note:
        fewshot["note"] = gt_note
    fits: dict[str, Any] = {}
    if gt is not None:
        pred, fits = prediction(obs, gt, methods=sc.methods, seed=sc.seed)
    else:
        pred = {"answer": "no ground truth: nothing emerged at this scale"}
    law, pu = None, None
    if not counts.empty:
        pu, law = passuntil_prediction(counts, seed=sc.seed)
    summary = LabSummary(
        origin=(f"measured by `emergence-law lab run --scale {sc.name}` "
                f"(emergence_law.lab, seed {sc.seed}): tiny Llama-style models trained "
                "from scratch on CPU; nothing here is simulated"),
        scale=sc.to_dict(), device=device, seconds=seconds, cpu_seconds=cpu_seconds,
        versions=versions(), gate=gate(control) if control is not None else None,
        fewshot_emergence=fewshot, prediction=pred, finetune_shift=finetune_shift(obs, gt, fits),
        continuous_emergence=continuous_emergence(obs, gt), passuntil=pu, answers={}, plots=[],
        observations=obs, counts=counts, control=control)
    summary.answers = _answers(summary)
    plot_paths = plots.write_all(obs, counts, gt, fits, law, summary.to_dict(), out / "plots")
    summary.plots = [str(p.relative_to(out)) for p in plot_paths]
    for method, fit in fits.items():
        fit.save(out / f"emergence_fit_{method}.json")
    written = summary.save(out)
    return LabOutputs(out, written["observations"], written.get("counts"), written["json"],
                      plot_paths, seconds or 0.0)


def _answers(s: LabSummary) -> dict[str, str]:
    """One honest sentence per question of issue 6 (and the continuous-metric view, Fig. 13)."""
    q3 = s.prediction.get("answer")
    if q3 is None:
        parts = []
        for method, r in s.prediction.get("methods", {}).items():
            if "error" in r:
                parts.append(f"{method}: no fit ({r['error']})")
                continue
            adv = r.get("flops_in_advance")
            bound = (" (the MLE sits on the fitter's lower bound: the pre-emergence data "
                     "cannot place E(D0))" if r.get("mle_at_lower_bound") else "")
            if r.get("mle_at_data_edge"):
                bound += (f" (the MLE sits at the edge of the few-shot data, "
                          f"{r['beyond_data_nats']:+.3f} nats beyond it: it says only 'no "
                          "earlier than the checkpoints used')")
            parts.append(
                f"{method}: predicted {r['mle']:.3f} nats (90% {r['interval_90'][0]:.3f}-"
                f"{r['interval_90'][1]:.3f}) vs ground truth {r['ground_truth']:.3f}: error "
                f"{r['error_nats']:+.3f} nats, {'success' if r['success'] else 'FAILURE'} "
                f"(<= 0.1), " + (f"{adv:.2f}x the FLOPs in advance" if adv else "FLOPs n/a")
                + bound)
        q3 = "; ".join(parts)
    return {
        "1_fewshot_emergence": s.fewshot_emergence["answer"],
        "2_finetuning_shifts_elbow": s.finetune_shift["answer"],
        "3_prediction_vs_ground_truth": q3,
        "4_passuntil_largest_model": (s.passuntil or {}).get("answer", "not measured"),
        "5_continuous_metric": s.continuous_emergence.get("answer", "not measured"),
        "6_gate_finetuning_elicits": (s.gate or {}).get("answer", "not measured"),
    }
