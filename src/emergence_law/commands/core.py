"""CLI commands of the 'core' area: ``fit`` and ``demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from emergence_law.commands.options import (
    BootstrapUnit,
    Form,
    Likelihood,
    Posterior,
    out_dir,
)

FORM_HELP = ("How the elbow E(D) moves with the data amount D: log_power (the paper's), power, "
             "or no_fewshot (ignore the few-shot rows).")


def run_fit_command(obs: Path, task: str, form: str, d0: float | None, posterior: str,
                    samples: int | None, seed: int, min_loss: float | None, out: Path,
                    likelihood: str, per_level: bool, bootstrap_unit: str, metric: str | None,
                    series: str | None, method: str | None) -> Path:
    """Fit one task, print the summary, write fit.json, two PNGs, data_used.csv, provenance."""
    import warnings

    from rich.console import Console

    from emergence_law.fitting import EmergenceLaw
    from emergence_law.fitting.progress import rich_progress
    from emergence_law.observations import load_observations, select_task
    from emergence_law.provenance import write_provenance

    console = Console(stderr=True)
    n = samples if samples is not None else (2000 if posterior == "mcmc" else 1000)
    form, posterior, likelihood, bootstrap_unit = (str(form), str(posterior), str(likelihood),
                                                   str(bootstrap_unit))
    law = EmergenceLaw(form=form, d0=d0, likelihood=likelihood, shared_ab=not per_level,
                       posterior=posterior, n_samples=n, seed=seed,
                       bootstrap_unit=bootstrap_unit)
    law.validate_params()  # a bad setting is one line before any table is read
    table = load_observations(obs)
    sel = select_task(table, task, metric=metric, series=series, method=method,
                      source=str(obs))
    console.print(sel.describe())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit keeps its warnings; printed below once
        with rich_progress(console) as cb:
            fit = law.fit(table, task, min_loss=min_loss, metric=metric, series=series,
                          method=method, progress=cb)
    out.mkdir(parents=True, exist_ok=True)
    result = fit.to_result()
    written = result.save(out)  # fit.json and data_used.csv
    files = result.FILES
    rows = sel.rows
    unused = (rows[(rows["setting"] == "fewshot") & (rows["loss"] < min_loss)]
              if min_loss is not None else None)  # drawn hollow: they check the forecast
    fit.plot_fit(out / files["curves"], unused=unused)
    fit.plot_cdf(out / files["cdf"])
    write_provenance(out, "fit", {
        "obs": str(obs), "task": task, "form": form, "d0": d0, "posterior": posterior,
        "samples": n, "seed": seed, "min_loss": min_loss, "likelihood": likelihood,
        "per_level": per_level, "bootstrap_unit": bootstrap_unit, "metric": metric,
        "series": series, "method": method, "out": str(out)})
    typer.echo(fit.summary())
    typer.echo(f"wrote {written['json']}, {out / files['curves']}, {out / files['cdf']}, "
               f"{written['data']}")
    return out


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""

    @app.command("fit")
    def fit_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task to fit."),
        form: Form = typer.Option(Form.log_power, "--form", help=FORM_HELP),
        d0: float = typer.Option(None, "--d0", help="Few-shot limit D0 (default: the shots)."),
        posterior: Posterior = typer.Option(Posterior.mcmc, "--posterior",
                                            help="Uncertainty of E(D0): MCMC posterior, "
                                            "bootstrap replicates, or none (MLE only)."),
        samples: int = typer.Option(None, "--samples",
                                    help="Posterior draws (default 2000 MCMC, 1000 bootstrap)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        min_loss: float = typer.Option(None, "--min-loss",
                                       help="Use only checkpoints with loss >= this."),
        out: Path = typer.Option(Path("emergence-out"), "--out", help="Output folder.",
                                 callback=out_dir),
        likelihood: Likelihood = typer.Option(Likelihood.gaussian, "--likelihood",
                                              help="Noise model: gaussian (fitted sigma), "
                                              "binomial (needs n_eval), or quasi-binomial "
                                              "(binomial variances x a fitted dispersion: "
                                              "over-dispersed accuracies)."),
        per_level: bool = typer.Option(False, "--per-level",
                                       help="Fit A and B per data level instead of shared."),
        bootstrap_unit: BootstrapUnit = typer.Option(
            BootstrapUnit.parametric, "--bootstrap-unit",
            help="What a bootstrap replicate resamples: simulated noise (parametric), whole "
            "checkpoints, or residuals."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: acc, else the task's only metric; asked for when ambiguous)."),
        series: str = typer.Option(None, "--series", help="Only this model series."),
        method: str = typer.Option(None, "--method", help="Finetuning method to fit (needed "
                                   "when the table has several, e.g. full and lora-r4)."),
    ) -> None:
        """Fit an emergence law to one task; write fit.json, fit_curves.png, emergence_cdf.png."""
        run_fit_command(obs, task, form, d0, posterior, samples, seed, min_loss, out,
                        likelihood, per_level, bootstrap_unit, metric, series, method)

    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("emergence-demo"), "--out", help="Output folder.",
                                 callback=out_dir),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        simulated: bool = typer.Option(
            False, "--simulated",
            help="Use a table simulated from a known law instead of the shipped measured data."),
        lab: str = typer.Option(
            "small", "--lab-data", metavar="<small|facts-small>",
            help="Which shipped lab run: small (the arithmetic lab) or facts-small (the "
            "knowledge-extraction family; docs/lab-facts.md)."),
    ) -> None:
        """Run the whole method on the built-in data (the toy suite's measurements) in < 1 min.

        Fits the emergence law with MCMC and bootstrap posteriors, compares it with the ground
        truth, backtests how far in advance it predicts, fits the PassUntil task scaling law,
        and writes OUT/report.html.
        """
        import warnings

        from emergence_law.demo import run_demo
        from emergence_law.errors import OptionError
        from emergence_law.lab.family import one_of
        from emergence_law.lab.shipped import LAB_DATA

        one_of("--lab-data", lab, tuple(LAB_DATA), "shipped lab data", OptionError)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fits' warnings are printed in their summaries
            run_demo(out, seed=seed, simulated=simulated, lab=lab)
