"""CLI commands of the 'passuntil' area: ``passuntil run`` and ``passuntil fit``."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from emergence_law.commands.options import Allocation, Level, out_dir

passuntil_app = typer.Typer(
    help="PassUntil: measure tiny pass rates by sampling until r passes; fit the task scaling law.",
    no_args_is_help=True,
)


@passuntil_app.command("run")
def run_cmd(
    model: str = typer.Option(..., "--model", help="Model folder (or hub id where reachable)."),
    task: Path = typer.Option(..., "--task", help="Task file (.jsonl or .yaml) of instances."),
    r: int = typer.Option(2, "--r", help="Sample each instance until this many passes."),
    budget: int = typer.Option(100_000, "--budget", help="Most samples per instance."),
    out: Path = typer.Option(Path("passuntil_out"), "--out", help="Output folder.",
                             callback=out_dir),
    batch_size: int = typer.Option(64, "--batch-size", help="Samples drawn per model call."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling: keep the tokens of "
                                "this much probability mass (1 = all)."),
    max_new_tokens: int = typer.Option(32, "--max-new-tokens",
                                       help="Longest completion per sample (tokens)."),
    stop: list[str] = typer.Option(["\\n"], "--stop",
                                   help="Stop string(s); escapes like \\n are understood."),
    params: float = typer.Option(None, "--params",
                                 help="Model size N for the counts table (default: counted)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the sampler."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... (default: best)."),
    allocation: Allocation = typer.Option(
        Allocation.until_r, "--allocation",
        help="until-r: sample each instance until r passes (PassUntil). adaptive: spend samples "
             "where they most reduce the variance of the task mean, until it is known to "
             "--rel-error (each instance capped at --budget)."),
    rel_error: float = typer.Option(0.1, "--rel-error",
                                    help="With --allocation adaptive: stop when the task mean is "
                                         "known to this relative half-width."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Show a progress bar."),
) -> None:
    """Sample every instance of the task until r passes or the budget; stream counts to OUT."""
    from emergence_law.errors import OptionError
    from emergence_law.passuntil.estimate import task_estimate
    from emergence_law.passuntil.generators import HFGenerator
    from emergence_law.passuntil.sample import adaptive_sample, passuntil_sample
    from emergence_law.passuntil.tasks import load_task_file
    from emergence_law.provenance import write_provenance
    from emergence_law.store import ResultStore

    allocation = str(allocation)
    if r < 1:
        raise OptionError("--r", f"must be at least 1, got {r}")
    if budget < r:
        raise OptionError("--budget", f"must be at least --r ({r}), got {budget}")
    task_name, instances = load_task_file(task)
    stops = [s.encode("utf-8").decode("unicode_escape") for s in stop]
    gen = HFGenerator.from_pretrained(model, device=device, temperature=temperature, top_p=top_p,
                                      max_new_tokens=max_new_tokens, stop=stops, seed=seed)
    n_params = params or float(sum(p.numel() for p in gen.model.parameters()))
    out.mkdir(parents=True, exist_ok=True)
    options = {"model": model, "task": str(task), "r": r, "budget": budget,
               "batch_size": batch_size, "temperature": temperature, "top_p": top_p,
               "max_new_tokens": max_new_tokens, "stop": stops, "seed": seed,
               "params": n_params, "allocation": allocation, "rel_error": rel_error}
    write_provenance(out, "passuntil run", options)
    namespace = (f"passuntil:{model}:{task_name}:r={r}:budget={budget}:T={temperature}:"
                 f"top_p={top_p}:max_new={max_new_tokens}")
    if allocation == "adaptive":
        namespace = (f"passuntil-adaptive:{model}:{task_name}:rel={rel_error}:budget={budget}:"
                     f"T={temperature}:top_p={top_p}:max_new={max_new_tokens}")
    adaptive_res = None
    with ResultStore(out / "passuntil.sqlite") as store:
        try:
            if allocation == "adaptive":
                counts, adaptive_res = adaptive_sample(
                    gen, instances, rel_error=rel_error, budget=budget, batch_size=batch_size,
                    store=store, namespace=namespace, progress=progress, description=task_name)
            else:
                counts = passuntil_sample(gen, instances, r=r, budget=budget,
                                          batch_size=batch_size, store=store,
                                          namespace=namespace, progress=progress,
                                          description=task_name)
        except KeyboardInterrupt:
            typer.echo(f"interrupted: the counts of every finished batch are kept in "
                       f"{out / 'passuntil.sqlite'}; run the same command again to resume",
                       err=True)
            raise
    counts.insert(0, "model", model)
    counts.insert(1, "params", n_params)
    counts.insert(2, "task", task_name)
    path = out / "passuntil_counts.csv"
    counts.to_csv(path, index=False)
    if adaptive_res is not None:
        from emergence_law.passuntil.allocation import task_mean_estimate

        typer.echo("sampling design: adaptive allocation (rows written as fixed-budget "
                   "binomial counts)")
        mean = task_mean_estimate(counts["trials"], counts["passes"])
        typer.echo(f"task pass rate {mean:.4g} (empirical-Bayes mean over instances; estimated "
                   f"half-width {adaptive_res.rel_half_width:.1%} of the mean; "
                   f"{adaptive_res.total} samples; stopped: {adaptive_res.stopped})")
    else:
        # r = 1 has no unbiased estimator ((R-1)/(K-1) is 0 for every instance): use R/K
        estimator = "unbiased" if r >= 2 else "mle"
        typer.echo(f"sampling design: sample-until-r (r = {r}, budget {budget})")
        est = task_estimate(counts["trials"], counts["passes"], counts["censored"],
                            estimator=estimator)
        typer.echo(est.summary())
    bad = counts[counts["checker_errors"] > 0]
    if len(bad):
        typer.echo(f"warning: the checker failed on {int(bad['checker_errors'].sum())} samples "
                   f"of {len(bad)} instances (counted as fails); first: "
                   f"{bad['first_error'].iloc[0]}", err=True)
    typer.echo(f"counts: {path}")


@passuntil_app.command("fit")
def fit_cmd(
    counts: Path = typer.Argument(..., help="Per-instance counts table (.csv/.parquet/.jsonl)."),
    target_params: float = typer.Option(..., "--target-params",
                                        help="Size N of the model to predict."),
    level: Level = typer.Option(Level.pooled, "--level", help="Fit on all instances pooled "
                                "(hierarchical), per instance, on the dataset's mean, or on the "
                                "distribution of pass rates (docs/passuntil.md compares them)."),
    task: str = typer.Option(None, "--task", help="Task to fit when the table holds several."),
    confidence: float = typer.Option(0.9, "--confidence", help="Interval level."),
    draws: int = typer.Option(400, "--draws", help="Posterior draws for instance-level intervals."),
    out: Path = typer.Option(Path("passuntil_fit"), "--out", help="Output folder.",
                             callback=out_dir),
    seed: int = typer.Option(0, "--seed", help="Random seed of the posterior draws."),
) -> None:
    """Fit PU(N) = exp(-c N^-alpha) to COUNTS and predict the pass rate at --target-params."""
    from emergence_law.errors import OptionError
    from emergence_law.passuntil.counts import load_counts, select_counts
    from emergence_law.passuntil.law import LEVELS
    from emergence_law.passuntil.report import fit_and_write
    from emergence_law.provenance import write_provenance

    if level not in LEVELS:
        raise OptionError("--level", f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
    if not math.isfinite(target_params) or target_params <= 0:
        raise OptionError("--target-params", f"must be a positive number, got {target_params:g}")
    table = load_counts(counts)
    task_name, rows = select_counts(table, task, source=str(counts))
    level = str(level)
    law, pred, result = fit_and_write(rows, task_name, target_params, out, level=level,
                                      confidence=confidence, draws=draws, seed=seed,
                                      source=str(counts))
    write_provenance(out, "passuntil fit", {"counts": str(counts), "target_params": target_params,
                                            "level": level, "task": task_name,
                                            "confidence": confidence, "draws": draws,
                                            "seed": seed})
    typer.echo(f"sampling design: {result.design}")
    typer.echo(law.summary())
    typer.echo(pred.summary())
    if result.converged is False:
        typer.echo("warning: the pooled fit's optimiser did not report convergence; compare "
                   "with --level dataset", err=True)
    typer.echo(f"wrote {out / result.FILES['json']} and {out / result.FILES['plot']}")


@passuntil_app.command("passk")
def passk_cmd(
    counts: Path = typer.Argument(..., help="Per-instance counts table (.csv/.parquet/.jsonl)."),
    k: str = typer.Option("1,10,100,1000", "--k", help="Comma-separated k values of pass@k."),
    task: str = typer.Option(None, "--task", help="Task to use when the table holds several."),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval level."),
    scaled: bool = typer.Option(True, "--scaled/--no-scaled",
                                help="Fit the beta's scale c (Schaeffer et al.) or fix c = 1."),
    out: Path = typer.Option(Path("passuntil_passk"), "--out", help="Output folder.",
                             callback=out_dir),
) -> None:
    """pass@k per model: Chen et al.'s unbiased estimate from the counts where every instance
    has k samples, and the fitted distribution of pass rates for any k (beyond the samples)."""
    from emergence_law.errors import OptionError
    from emergence_law.passuntil.counts import load_counts, sampling_design, select_counts
    from emergence_law.passuntil.passk import passk_table
    from emergence_law.provenance import write_provenance
    from emergence_law.results.passuntil import PassKTable

    try:
        ks = sorted({int(float(v)) for v in k.split(",") if v.strip()})
    except ValueError:
        raise OptionError("--k", f"expected comma-separated whole numbers, got {k!r}") from None
    if not ks or ks[0] < 1:
        raise OptionError("--k", f"every k must be a whole number >= 1, got {k!r}")
    table = load_counts(counts)
    task_name, rows = select_counts(table, task, source=str(counts))
    res = passk_table(rows, ks, confidence=confidence, scaled=scaled)
    out.mkdir(parents=True, exist_ok=True)
    written = PassKTable(res).save(out)["table"]
    write_provenance(out, "passuntil passk", {"counts": str(counts), "k": ks, "task": task_name,
                                              "confidence": confidence, "scaled": scaled})
    typer.echo(f"sampling design: {sampling_design(rows)}")
    for model, grp in res.groupby("model", sort=False):
        typer.echo(f"{task_name} / {model} (N = {grp['params'].iloc[0]:.4g}):")
        for r in grp.itertuples():
            if r.unbiased == r.unbiased:  # not NaN
                emp = (f"{r.unbiased:.4g} ({confidence:.0%} CI {r.lower:.4g} - {r.upper:.4g})")
            else:
                emp = f"beyond the samples ({r.note})"
            dist = (f"{r.distribution:.4g}" if r.distribution == r.distribution
                    else "not identified")  # no instance passed, or every sample did
            typer.echo(f"  pass@{r.k:<6d} unbiased {emp:38s} distribution {dist}")
    typer.echo(f"wrote {written}")


@passuntil_app.command("curvature")
def curvature_cmd(
    counts: Path = typer.Argument(..., help="Per-instance counts table (.csv/.parquet/.jsonl)."),
    task: str = typer.Option(None, "--task", help="Task to test when the table holds several."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the test."),
    out: Path = typer.Option(Path("passuntil_curvature"), "--out", help="Output folder.",
                             callback=out_dir),
) -> None:
    """Test log(-log PU) against log N for curvature (accelerated emergence) and compare the
    linear, multi-step (convex) and multiple-circuits (concave) growth models by AIC."""
    from emergence_law.errors import OptionError
    from emergence_law.passuntil.counts import load_counts, select_counts
    from emergence_law.passuntil.curvature import compare_growth_models
    from emergence_law.passuntil.law import task_points
    from emergence_law.passuntil.likelihood import CountsGrid
    from emergence_law.provenance import write_provenance
    from emergence_law.results.passuntil import PassUntilCurvature

    if not 0 < alpha < 1:
        raise OptionError("--alpha", f"a significance level lies between 0 and 1, got {alpha:g}")
    table = load_counts(counts)
    task_name, rows = select_counts(table, task, source=str(counts))
    pts = task_points(CountsGrid.from_counts(rows, str(counts)))
    cmp = compare_growth_models(pts.params, pts.pass_rate, pts.se, alpha=alpha)
    PassUntilCurvature.from_comparison(task_name, cmp).save(out)
    write_provenance(out, "passuntil curvature", {"counts": str(counts), "task": task_name,
                                                  "alpha": alpha})
    typer.echo(cmp.summary())


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
    app.add_typer(passuntil_app, name="passuntil")
