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

import json
import time
from pathlib import Path

import pandas as pd

SIMULATED_LABEL = "SIMULATED data (drawn from a known emergence law; not measured on models)"


def run_demo(out_dir: str | Path = "emergence-demo", obs: pd.DataFrame | None = None,
             source_label: str | None = None, task: str | None = None, seed: int = 0,
             echo: bool = True, mcmc_samples: int = 2000, boot_samples: int = 1000,
             simulated: bool = False, method: str | None = None, backtest: bool = True,
             report: bool = True) -> dict:
    """Fit, sample, backtest and report on ``obs`` (default: the shipped lab data).

    ``method`` picks the finetuning method when the table has several (the lab's has ``full``
    and ``lora-r4``; default ``full``). Returns the headline numbers (also in ``demo.json``).
    """
    from emergence_law.analysis.ground_truth import ground_truth_emergence
    from emergence_law.fitting import EmergenceLaw
    from emergence_law.observations import save_observations
    from emergence_law.provenance import write_provenance

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

        obs, counts = load_lab_observations(), load_lab_passuntil_counts()
        source_label = "MEASURED data of the toy model suite: " + lab_data_origin()
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
    for post in ("mcmc", "bootstrap"):
        n = mcmc_samples if post == "mcmc" else boot_samples
        law = EmergenceLaw(posterior=post, n_samples=n, seed=seed)
        fit = law.fit(obs, task, min_loss=min_loss, method=method)
        sub = out / post
        sub.mkdir(exist_ok=True)
        fit.save(sub / "fit.json")
        fit.plot_fit(sub / "fit_curves.png")
        fit.plot_cdf(sub / "emergence_cdf.png")
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
    (out / "demo.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    write_provenance(out, "demo", {"out": str(out), "seed": seed, "source": label,
                                   "simulated": truth is not None, "method": method})
    if report:
        from emergence_law.report import build_report

        results["report"] = str(build_report(out))
    say(f"\n{label}")
    say(f"outputs in {out}/: demo.json, observations.csv, mcmc/ and bootstrap/ (fit.json, "
        f"fit_curves.png, emergence_cdf.png)"
        + (", backtest.csv, backtest.png" if backtest else "")
        + (", passuntil_fit/" if counts is not None else "")
        + (", report.html" if report else "") + f"; {time.perf_counter() - t0:.1f} s")
    return results


def _backtest(obs: pd.DataFrame, task: str, method: str | None, out: Path, seed: int,
              say) -> dict:
    """How far in advance: hold out the most capable pre-emergence checkpoints one by one."""
    from emergence_law.analysis.backtest import run_backtest
    from emergence_law.errors import EmergenceLawError

    try:
        bt = run_backtest(obs, task, law={"posterior": "none", "seed": seed},
                          ft_method=method, workers=1, progress=False)
    except EmergenceLawError as exc:  # e.g. too few pre-emergence checkpoints
        say(f"\nbacktest skipped: {exc}")
        return {"skipped": str(exc)}
    bt.to_csv(out / "backtest.csv")
    bt.plot(out / "backtest.png")
    say("\n-- backtest (how far in advance) --")
    say(bt.summary())
    return {"summary": bt.summary_lines()}


def _passuntil(counts: pd.DataFrame, out: Path, seed: int, say) -> dict:
    """PassUntil: fit the task law to every size but the largest, predict the largest."""
    from emergence_law.commands.passuntil import fit_and_write

    sizes = sorted(counts["params"].unique())
    if len(sizes) < 3:
        return {"skipped": "fewer than 3 model sizes"}
    target = float(sizes[-1])
    rows = counts[counts["params"] < target]
    task = str(counts["task"].iloc[0])
    law, pred, record = fit_and_write(rows, task, target, out / "passuntil_fit", seed=seed,
                                      source="shipped lab PassUntil counts")
    measured = counts[counts["params"] == target]
    rate = float((measured["passes"] / measured["trials"]).mean())
    lo, hi = record["interval"]
    say("\n-- PassUntil: task scaling law fitted on the smaller models --")
    say(f"predicted pass rate at N = {target:.3g}: {record['predicted_pass_rate']:.3g} "
        f"[{lo:.3g}, {hi:.3g}]; measured (r/K mean over instances): {rate:.3g}")
    return {"target_params": target, "predicted": record["predicted_pass_rate"],
            "interval": [lo, hi], "measured_mean_r_over_k": rate}
