"""``emergence-law demo``: the whole method on the built-in data, in under a minute.

By default the data are the toy model suite's MEASURED tables, shipped with the package (tiny
Llama-style models trained from scratch here; see ``emergence_law/data/README.md``): the demo
fits the emergence law on the pre-emergence checkpoints (MCMC and bootstrap posteriors), compares
it with the ground truth from all few-shot rows, backtests how far in advance it predicts, fits
the PassUntil task scaling law to the smaller models, and writes the HTML report. Every output
names the data's origin. ``simulated=True`` (``--simulated``) runs the same path on a table drawn
from a known law instead, so the fit can be compared with the truth.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

SIMULATED_LABEL = "SIMULATED data (drawn from a known emergence law; not measured on models)"


def run_demo(out_dir: str | Path = "emergence-demo", obs: pd.DataFrame | None = None,
             **kwargs) -> dict:
    """Fit, sample, backtest and report on ``obs`` (default: the shipped lab data).

    When it prints (``echo``), the fits' warnings are printed once, in their summaries, not
    a second time by Python's warnings machinery. See :func:`_run_demo` for the arguments.
    """
    import warnings

    from emergence_law.fitting.diagnostics import ConvergenceWarning
    from emergence_law.fitting.estimator import IdentifiabilityWarning

    with warnings.catch_warnings():
        if kwargs.get("echo", True):
            warnings.simplefilter("ignore", IdentifiabilityWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
        return _run_demo(out_dir, obs, **kwargs)


def _run_demo(out_dir: str | Path = "emergence-demo", obs: pd.DataFrame | None = None,
             source_label: str | None = None, task: str | None = None, seed: int = 0,
             echo: bool = True, mcmc_samples: int = 2000, boot_samples: int = 1000,
             simulated: bool = False, method: str | None = None, backtest: bool = True,
             report: bool = True, lab: str = "small") -> dict:
    """Fit, sample, backtest and report on ``obs`` (default: the shipped lab data).

    ``method`` picks the finetuning method when the table has several (the lab's has ``full``
    and ``lora-r4``; default ``full``). ``lab``: which shipped lab run (``small``, the
    arithmetic lab, or ``facts-small``, the knowledge-extraction family) when ``obs`` is not
    given. Returns the headline numbers (also in ``demo.json``).
    """
    from emergence_law.analysis.ground_truth import ground_truth_emergence
    from emergence_law.fitting import EmergenceLaw
    from emergence_law.observations import save_observations
    from emergence_law.provenance import write_provenance
    from emergence_law.results.analysis import BacktestTable
    from emergence_law.results.core import FitResult
    from emergence_law.results.demo import DemoResult

    say = print if echo else (lambda *a, **k: None)
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = None
    counts = None
    if simulated:
        from emergence_law.simulate import simulate_observations

        obs, truth = simulate_observations(seed=seed, task="simulated-task")
        source_label, task = SIMULATED_LABEL, "simulated-task"
    elif obs is None:
        from emergence_law.lab.shipped import (
            lab_data_origin,
            load_lab_observations,
            load_lab_passuntil_counts,
        )

        obs, counts = load_lab_observations(lab), load_lab_passuntil_counts(lab)
        source_label = "MEASURED data of the toy model suite: " + lab_data_origin(lab)
    if task is None:
        task = str(obs["task"].dropna().iloc[0])
    methods = obs.loc[obs["setting"] == "finetune", "method"].dropna().unique()
    if method is None and len(methods) > 1:
        method = "full" if "full" in methods else str(sorted(methods)[0])
    label = source_label or "user table"
    say(f"== emergence-law demo: {label} ==")
    save_observations(obs, out / "observations.csv")
    gt = ground_truth_emergence(obs, task)
    # forecast as if only pre-emergence checkpoints existed: few-shot still at chance
    min_loss = truth["emergence_point"] if truth else gt.elbow
    results = {"source": label, "simulated": truth is not None, "task": task, "method": method,
               "ground_truth": gt.to_dict(), "min_loss": min_loss}
    say(f"ground truth (ReLU fit to the few-shot rows of all checkpoints): {gt.elbow:.3f} nats "
        f"[{gt.interval[0]:.3f}, {gt.interval[1]:.3f}]; the forecast sees only checkpoints with "
        f"loss >= {min_loss:.3f}")
    reference = truth["emergence_point"] if truth else gt.elbow
    for post in ("mcmc", "bootstrap"):
        n = mcmc_samples if post == "mcmc" else boot_samples
        law = EmergenceLaw(posterior=post, n_samples=n, seed=seed)
        fit = law.fit(obs, task, min_loss=min_loss, method=method)
        sub = out / post
        sub.mkdir(exist_ok=True)
        fit.save(sub / FitResult.FILES["json"])
        fit.plot_fit(sub / FitResult.FILES["curves"], ground_truth=reference,
                     unused=_unused_fewshot(obs, task, fit))
        fit.plot_cdf(sub / FitResult.FILES["cdf"], ground_truth=reference)
        say(f"\n-- posterior: {post} --")
        say(fit.summary())  # includes the fit's warnings
        error = fit.emergence_point_mle - (truth["emergence_point"] if truth else gt.elbow)
        results[post] = {"mle": fit.emergence_point_mle, "median": fit.median,
                         "percentiles": fit.percentiles, "error": error,
                         "success": bool(abs(error) <= 0.1), "warnings": list(fit.warnings)}
        say(f"error of the MLE against the {'true' if truth else 'ground-truth'} emergence point: "
            f"{error:+.3f} nats -> {'success' if abs(error) <= 0.1 else 'FAILURE'} "
            f"(threshold 0.1 nats)")
    if truth is not None:
        results["true_emergence_point"] = truth["emergence_point"]
        say(f"\ntrue few-shot emergence point (known because the data are simulated): "
            f"{truth['emergence_point']:.4f}")
    if backtest:
        results["backtest"] = _backtest(obs, task, method, out, seed, say)
    if counts is not None:
        results["passuntil"] = _passuntil(counts, out, seed, say)
    results["seconds"] = time.perf_counter() - t0
    DemoResult.from_dict(results).save(out)  # demo.json: every key a declared field
    write_provenance(out, "demo", {"out": str(out), "seed": seed, "source": label,
                                   "simulated": truth is not None, "method": method})
    if report:
        from emergence_law.report import build_report

        results["report"] = str(build_report(out))
    say(f"\n{label}")
    fit_files = ", ".join(FitResult.FILES[r] for r in ("json", "curves", "cdf"))
    say(f"outputs in {out}/: {DemoResult.FILES['json']}, observations.csv, mcmc/ and "
        f"bootstrap/ ({fit_files})"
        + (", " + ", ".join(BacktestTable.FILES.values()) if backtest else "")
        + (", passuntil_fit/" if counts is not None else "")
        + (", report.html" if report else "") + f"; {time.perf_counter() - t0:.1f} s")
    return results


#: bootstrap replicates per backtest cut-off: enough for a 90 % interval on the plot
BACKTEST_DRAWS = 200
#: what the demo's "how far in advance" figure is (printed beside it, and in README.md)
ADVANCE_DEFINITION = ("FLOPs ratio = FLOPs of the first checkpoint past the ground-truth elbow "
                      "/ the most FLOPs among the checkpoints a prediction used (the paper's "
                      "Fig. 7); a prediction succeeds within 0.1 nats of the ground truth")


def _unused_fewshot(obs: pd.DataFrame, task: str, fit) -> pd.DataFrame:
    """The few-shot rows of the fit's task and metric that the fit left out (past its cut-off):
    drawn on the fit plot, they show whether the forecast was right."""
    rows = obs[(obs["task"] == task) & (obs["setting"] == "fewshot")]
    if fit.metric is not None:
        rows = rows[rows["metric"] == fit.metric]
    if fit.min_loss is None:
        return rows.iloc[:0]
    return rows[rows["loss"] < fit.min_loss]


def _backtest(obs: pd.DataFrame, task: str, method: str | None, out: Path, seed: int,
              say) -> dict:
    """How far in advance: hold out the most capable pre-emergence checkpoints one by one."""
    from emergence_law.analysis.backtest import run_backtest
    from emergence_law.errors import EmergenceLawError

    try:
        bt = run_backtest(obs, task, law={"posterior": "bootstrap", "n_samples": BACKTEST_DRAWS,
                                          "seed": seed},
                          ft_method=method, workers=1, progress=False)
    except EmergenceLawError as exc:  # e.g. too few pre-emergence checkpoints
        say(f"\nbacktest skipped: {exc}")
        return {"skipped": str(exc)}
    table = bt.to_result()
    table.save(out)
    bt.plot(out / table.FILES["plot"])
    command = (f"emergence-law backtest {out / 'observations.csv'} --task {task}"
               + (f" --ft-method {method}" if method else "")
               + f" --posterior bootstrap --samples {BACKTEST_DRAWS}")
    say("\n-- backtest: how far in advance --")
    say(f"{ADVANCE_DEFINITION}; the same as: {command}")
    say(bt.summary())
    best = bt.best("emergence_law")
    ratio = None if best is None else best.get("flops_ratio")
    return {"summary": bt.summary_lines(), "definition": ADVANCE_DEFINITION,
            "command": command,
            "flops_ratio": None if ratio is None or ratio != ratio else float(ratio)}


def _passuntil(counts: pd.DataFrame, out: Path, seed: int, say) -> dict:
    """PassUntil: fit the task law to every size but the largest, predict the largest."""
    from emergence_law.passuntil.report import fit_and_write

    sizes = sorted(counts["params"].unique())
    if len(sizes) < 3:
        return {"skipped": "fewer than 3 model sizes"}
    target = float(sizes[-1])
    rows = counts[counts["params"] < target]
    task = str(counts["task"].iloc[0])
    measured = measured_pass_rate(counts, target)
    law, pred, fitted = fit_and_write(rows, task, target, out / "passuntil_fit", seed=seed,
                                      source="shipped lab PassUntil counts",
                                      measured=(measured.mean, measured.lower, measured.upper))
    lo, hi = fitted.interval
    m = measured
    say("\n-- PassUntil: task scaling law fitted on the smaller models --")
    say(f"predicted pass rate at N = {target:.3g}: {fitted.predicted_pass_rate:.3g} "
        f"[{pred.confidence:.0%} {lo:.3g}, {hi:.3g}]; measured: {m.mean:.3g} "
        f"[{pred.confidence:.0%} {m.lower:.3g}, {m.upper:.3g}] (unbiased estimate, mean over "
        f"{m.n_instances} instances, {m.n_censored} censored at the budget)")
    return {"target_params": target, "predicted": fitted.predicted_pass_rate,
            "interval": [lo, hi], "measured": m.mean, "measured_interval": [m.lower, m.upper],
            "measured_estimator": m.estimator, "level": pred.confidence}


def measured_pass_rate(counts: pd.DataFrame, params: float, level: float = 0.9):
    """The task's measured pass rate at size ``params``: the mean of the per-instance unbiased
    (censoring-aware) estimates with its bootstrap interval, the same estimate ``passuntil
    run`` prints and the law's points use (r/K would be biased upward about 2x at r = 2)."""
    from emergence_law.passuntil.estimate import task_estimate

    rows = counts[counts["params"] == params]
    return task_estimate(rows["trials"], rows["passes"], rows["censored"], level=level)
