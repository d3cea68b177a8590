"""CLI commands of the 'analysis' area: ``ablate``, ``backtest``, ``compare``, ``to-params``.

Each writes its files into ``--out`` plus a provenance record, prints a short summary, and keeps
the heavy imports (numpy fits, matplotlib) inside the command body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from emergence_law.commands.options import (
    LawOptions,
    OrderBy,
    Predictor,
    SampledPosterior,
    ScalingLaw,
    law_options,
    out_dir,
)

OUT_DEFAULT = Path("emergence-out")


@contextlib.contextmanager
def _keep_on_interrupt(csv: Path) -> Iterator[None]:
    """On Ctrl-C say what was kept (typer turns the interrupt into a silent exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(f"emergence-law: interrupted; finished results are kept in {csv}", err=True)
        raise


def _check_selection(table: Any, obs: Path, task: str, metric: str | None, series: str | None,
                     ft_method: str | None) -> None:
    """Refuse a task selection the fits would refuse (an unknown task, several finetuning
    methods without --ft-method) before any work, naming the file and the option."""
    from emergence_law.observations import select_task

    select_task(table, task, metric=metric, series=series, method=ft_method, source=str(obs))


def _check_workers(workers: int | None) -> None:
    from emergence_law.errors import OptionError

    if workers is not None and workers < 1:
        raise OptionError("--workers", f"must be at least 1, got {workers}")


def _write_result(result: Any, out: Path) -> dict[str, Path]:
    """Save a result through its type, draw its plot, print its summary and every file
    written; return the saved files by role."""
    typed = result.to_result()
    written = typed.save(out)
    plot = out / typed.FILES["plot"]
    result.plot(plot)
    typer.echo(result.summary())
    typer.echo("wrote " + ", ".join(str(p) for p in [*written.values(), plot]))
    return written


def _write_table_result(result: Any, out: Path, what: str) -> None:
    """:func:`_write_result` for an ablation or backtest result; exit 1 with one line when no
    fit gave a usable prediction (the reasons are in the CSV)."""
    written = _write_result(result, out)
    if result.n_fitted == 0:
        typer.echo(f"emergence-law: error: no {what} fitted (reasons in {written['table']})",
                   err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""

    @app.command("ablate")
    @law_options("Uncertainty per fit: mcmc, bootstrap or none.",
                 "Posterior draws per fit (default 2000 MCMC, 1000 bootstrap).", base="Base ")
    def ablate_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task to ablate."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
        threshold: float = typer.Option(0.1, "--threshold",
                                        help="Success if |MLE - ground truth| <= this (nats)."),
        cutoff: float = typer.Option(None, "--cutoff", help="Fit only checkpoints with loss >= "
                                     "this (default: the ground-truth elbow)."),
        *,
        law_opts: LawOptions,
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: acc, else the task's only metric; asked for when ambiguous)."),
        series: str = typer.Option(None, "--series", help="Only this model series."),
        ft_method: str = typer.Option(None, "--ft-method", help="Only this finetuning method."),
        workers: int = typer.Option(None, "--workers", help="Parallel fits (default 2)."),
        only: list[str] = typer.Option(None, "--only", help="Run only these ablations (name, "
                                       "e.g. 'last 3 checkpoints', or group: full, data, "
                                       "checkpoints, form, d0); repeatable."),
    ) -> None:
        """The paper's ablations (Table 2, Fig. 6): ablations.csv, ablations.md, ablations.png."""
        from emergence_law.analysis.ablations import run_ablations, select_ablations
        from emergence_law.observations import load_observations
        from emergence_law.provenance import write_provenance
        from emergence_law.results.analysis import AblationTable

        _check_workers(workers)
        law = law_opts.settings(seed)
        ablations = select_ablations(only)
        table = load_observations(obs)
        _check_selection(table, obs, task, metric, series, ft_method)
        out.mkdir(parents=True, exist_ok=True)
        csv = out / AblationTable.FILES["table"]
        write_provenance(out, "ablate", {
            "obs": obs, "task": task, "threshold": threshold, "cutoff": cutoff, **law,
            "metric": metric, "series": series, "ft_method": ft_method, "workers": workers,
            "only": only})
        with _keep_on_interrupt(csv):
            result = run_ablations(table, task, law=law, threshold=threshold, cutoff=cutoff,
                                   metric=metric, series=series, method=ft_method,
                                   workers=workers, ablations=ablations,
                                   on_update=lambda r: r.to_result(markdown=False).save(out))
        _write_table_result(result, out, "ablation")

    @app.command("backtest")
    @law_options("Interval per cut-off: mcmc, bootstrap or none (two_step always bootstraps "
                 "unless none).", "Posterior draws per fit.")
    def backtest_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task to backtest."),
        method: Predictor = typer.Option(Predictor.emergence_law, "--method",
                                         help="Predictor: emergence_law, two_step (no "
                                         "finetuning data) or both."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
        threshold: float = typer.Option(0.1, "--threshold",
                                        help="Success if |MLE - ground truth| <= this (nats)."),
        cutoff: float = typer.Option(None, "--cutoff", help="Pre-emergence means loss >= this "
                                     "(default: the ground-truth elbow)."),
        order_by: OrderBy = typer.Option(OrderBy.auto, "--order-by", help="Hold out by flops, "
                                         "loss, or auto (FLOPs when every checkpoint has "
                                         "them)."),
        min_checkpoints: int = typer.Option(3, "--min-checkpoints",
                                            help="Stop when fewer checkpoints would remain."),
        max_cutoffs: int = typer.Option(None, "--max-cutoffs", help="Fit at most N cut-offs "
                                        "(at least 2), spread evenly in log FLOPs ratio (else "
                                        "loss gap), always with the one using every checkpoint "
                                        "and the furthest (default: every cut-off)."),
        *,
        law_opts: LawOptions,
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        metric: str = typer.Option(None, "--metric", help="Accuracy metric (default: acc, else "
                                   "the only one; asked for when ambiguous)."),
        nll_metric: str = typer.Option(None, "--nll-metric", help="two_step: continuous metric "
                                       "used as task NLL (default: nll, else logprob, ...)."),
        series: str = typer.Option(None, "--series", help="Only this model series."),
        ft_method: str = typer.Option(None, "--ft-method", help="Only this finetuning method."),
        workers: int = typer.Option(None, "--workers", help="Parallel fits (default 2)."),
    ) -> None:
        """How far in advance (Fig. 7): backtest.csv, backtest.png and the largest FLOPs ratio."""
        from emergence_law.analysis.backtest import check_max_cutoffs, run_backtest
        from emergence_law.observations import load_observations
        from emergence_law.provenance import write_provenance
        from emergence_law.results.analysis import BacktestTable

        _check_workers(workers)
        if max_cutoffs is not None:  # refused before the table is read (cli.FLAGS names it)
            check_max_cutoffs(max_cutoffs)
        law = law_opts.settings(seed)
        table = load_observations(obs)
        # the two-step baseline alone reads only few-shot rows: no finetuning method to choose
        fs_only = str(method) == "two_step"
        _check_selection(table[table["setting"] == "fewshot"] if fs_only else table, obs, task,
                         metric, series, ft_method)
        out.mkdir(parents=True, exist_ok=True)
        csv = out / BacktestTable.FILES["table"]
        write_provenance(out, "backtest", {
            "obs": obs, "task": task, "method": method, "threshold": threshold,
            "cutoff": cutoff, "order_by": order_by, "min_checkpoints": min_checkpoints,
            "max_cutoffs": max_cutoffs, **law,
            "metric": metric, "nll_metric": nll_metric, "series": series,
            "ft_method": ft_method, "workers": workers})
        baseline = {"nll_metric": nll_metric} if nll_metric else {}
        with _keep_on_interrupt(csv):
            result = run_backtest(table, task, method=str(method), law=law, baseline=baseline,
                                  threshold=threshold, cutoff=cutoff, order_by=str(order_by),
                                  min_checkpoints=min_checkpoints, metric=metric,
                                  series=series, ft_method=ft_method, workers=workers,
                                  max_cutoffs=max_cutoffs,
                                  on_update=lambda r: r.to_result().save(out))
        _write_table_result(result, out, "backtest cut-off")

    @app.command("compare")
    @law_options("Posterior draws per series: mcmc or bootstrap.", "Posterior draws per series.",
                 posteriors=SampledPosterior)
    def compare_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task to compare on."),
        series: list[str] = typer.Option(..., "--series", help="Model series; give exactly "
                                         "two: --series A --series B."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
        *,
        law_opts: LawOptions,
        min_loss: float = typer.Option(None, "--min-loss",
                                       help="Use only checkpoints with loss >= this."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: acc, else the task's only metric; asked for when ambiguous)."),
        ft_method: str = typer.Option(None, "--ft-method", help="Only this finetuning method."),
    ) -> None:
        """Which series emerges first (Fig. 8/9): compare.json and compare.png."""
        from emergence_law.analysis.compare import compare_series
        from emergence_law.errors import OptionError
        from emergence_law.observations import load_observations
        from emergence_law.provenance import write_provenance

        if len(series) != 2:
            raise OptionError("--series", f"give exactly two series, got {len(series)}")
        law = law_opts.settings(seed)
        table = load_observations(obs)
        for name in series:
            _check_selection(table, obs, task, metric, name, ft_method)
        write_provenance(out, "compare", {"obs": obs, "task": task, "series": series, **law,
                                          "min_loss": min_loss, "metric": metric,
                                          "ft_method": ft_method})
        cmp = compare_series(table, task, series[0], series[1], law=law, metric=metric,
                             ft_method=ft_method, min_loss=min_loss, progress=True)
        _write_result(cmp, out)

    @app.command("to-params")
    def to_params_cmd(
        fit_json: Path = typer.Argument(..., help="fit.json written by 'emergence-law fit'."),
        scaling: Path = typer.Option(..., "--scaling", help="Table of a model family's losses: "
                                     "params, loss[, tokens] (.csv, .parquet, .jsonl)."),
        tokens_per_param: float = typer.Option(20.0, "--tokens-per-param",
                                               help="Training tokens per parameter R "
                                               "(FLOPs = 6 R N^2)."),
        law: ScalingLaw = typer.Option(ScalingLaw.auto, "--law", help="size (L(N)), "
                                       "chinchilla (L(N, D)) or auto (Chinchilla if "
                                       "tokens/params varies)."),
        bootstrap: int = typer.Option(200, "--bootstrap", help="Scaling-law bootstrap "
                                      "resamples."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
    ) -> None:
        """Loss -> parameter count and FLOPs (Fig. 10/15): to_params.json and to_params.png."""
        from emergence_law.analysis.to_params import loss_to_params
        from emergence_law.provenance import write_provenance

        write_provenance(out, "to-params", {"fit_json": fit_json, "scaling": scaling,
                                            "tokens_per_param": tokens_per_param, "law": law,
                                            "bootstrap": bootstrap, "seed": seed})
        post = loss_to_params(fit_json, scaling, tokens_per_param=tokens_per_param, law=str(law),
                              n_bootstrap=bootstrap, seed=seed, progress=True)
        _write_result(post, out)
