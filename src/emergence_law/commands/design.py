"""CLI commands of the 'design' area: ``design`` (which finetuning runs to make next) and
``design-passuntil`` (which sizes and how many samples per instance for a PassUntil forecast)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer

from emergence_law.commands.options import RecipeHarness, out_dir

DEFAULT_LEVELS = "30,100,300,1000,3000,10000"


@contextlib.contextmanager
def flag_for(param: str, flag: str) -> Iterator[None]:
    """Name ``flag`` when the library refuses ``param`` (this command's option for it differs
    from the flag ``cli.FLAGS`` gives that parameter elsewhere)."""
    from emergence_law.errors import OptionError, SettingError

    try:
        yield
    except SettingError as exc:
        if exc.param != param:
            raise
        raise OptionError(flag, exc.reason) from exc


def _levels(text: str) -> list[int]:
    from emergence_law.errors import OptionError

    try:
        out = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise OptionError("--levels", f"expected comma-separated data amounts, got {text!r}"
                          ) from None
    if not out or min(out) < 1:
        raise OptionError("--levels", f"expected data amounts >= 1, got {text!r}")
    return sorted(set(out))


def run_design_command(obs: Path, task: str, candidates: Path | None, checkpoints: Path | None,
                       budget: float, out: Path, levels: str, subsets: int, method: str,
                       write_recipe: Path | None, harness: str, callable_path: str | None,
                       seed: int, tables: int, boot: int, max_evals: int, metric: str | None,
                       series: str | None) -> None:
    """Design the batch, print it, write next_runs.csv, expected_width.png, design.json."""
    import warnings

    from emergence_law.design import (
        candidate_grid,
        design_runs,
        load_checkpoints,
        write_design_recipe,
    )
    from emergence_law.errors import OptionError
    from emergence_law.provenance import write_provenance
    from emergence_law.results.design import DesignRecord

    if (candidates is None) == (checkpoints is None):
        raise OptionError("--candidates", "give either --candidates CANDS.csv or "
                          "--checkpoints CKPTS.csv (cold start: a grid is built from them)")
    if subsets < 1:
        raise OptionError("--subsets", f"must be at least 1, got {subsets}")
    if candidates is not None:
        cands = candidates
        source = str(candidates)
    else:
        ck = load_checkpoints(checkpoints)
        cands = candidate_grid(ck, _levels(levels), subsets=subsets, method=method or "full")
        source = f"{checkpoints} x D = {levels} x {subsets} subsets"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = design_runs(obs, task, cands, budget, n_tables=tables, n_boot=boot,
                          max_evals=max_evals, seed=seed, metric=metric, series=series,
                          method=method, source=str(obs))
    record = DesignRecord.from_design(res, candidates=source)
    written = list(record.save(out).values())
    res.plot(out / record.FILES["plot"])
    written.append(out / record.FILES["plot"])
    if write_recipe is not None:
        with flag_for("runs", "--write-recipe"):
            write_design_recipe(write_recipe, res.runs, task, harness=harness,
                                callable_path=callable_path)
        written.append(write_recipe)
    write_provenance(out, "design", {
        "obs": str(obs), "task": task, "candidates": source, "budget": budget, "seed": seed,
        "tables": tables, "boot": boot, "max_evals": max_evals, "metric": metric,
        "series": series, "method": method, "write_recipe": str(write_recipe) if write_recipe else None,
        "out": str(out)})
    typer.echo(res.summary())
    show = res.runs[["model", "checkpoint", "loss", "n_train", "subset", "cost",
                     "cumulative_cost", "expected_width"]]
    typer.echo(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def run_design_passuntil(counts: Path, target_size: float, precision: float,
                         budget: float | None, confidence: float, task: str | None,
                         out: Path) -> None:
    """Plan PassUntil sampling; write passuntil_plan.csv, passuntil_allocation.csv, the plot
    and passuntil_plan.json."""
    from emergence_law.design.passuntil import plan_passuntil, plot_plan
    from emergence_law.provenance import write_provenance
    from emergence_law.results.design import PassUntilPlanRecord

    with flag_for("target_params", "--target-size"):
        plan = plan_passuntil(counts, target_size, precision, budget=budget,
                              confidence=confidence, task=task)
    record = PassUntilPlanRecord.from_plan(plan, counts=str(counts))
    written = list(record.save(out).values())
    plot_plan(plan, out / record.FILES["plot"])
    written.append(out / record.FILES["plot"])
    write_provenance(out, "design-passuntil", {
        "counts": str(counts), "target_size": target_size, "precision": precision,
        "budget": budget, "confidence": confidence, "task": task, "out": str(out)})
    typer.echo(plan.summary())
    typer.echo(plan.plan.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add the ``design`` and ``design-passuntil`` commands (heavy imports stay inside)."""

    @app.command("design-passuntil")
    def design_passuntil_cmd(
        counts: Path = typer.Argument(..., help="Pilot PassUntil counts (model, params, task, "
                                      "instance, trials, passes; optional censored, r, budget, "
                                      "design) at two model sizes or more."),
        target_size: float = typer.Option(..., "--target-size", help="Parameter count N of "
                                          "the model whose pass rate is to be predicted."),
        precision: float = typer.Option(..., "--precision", help="Wanted relative half-width "
                                        "of the interval of its predicted pass rate (0.1 = "
                                        "10%)."),
        budget: float = typer.Option(None, "--budget", help="Most cost, in samples of the "
                                     "smallest model (a sample of size N costs N / N_min)."),
        confidence: float = typer.Option(0.9, "--confidence", help="Interval level."),
        task: str = typer.Option(None, "--task", help="Task (when the counts hold several)."),
        out: Path = typer.Option(Path("design-passuntil-out"), "--out", help="Output folder.",
                                 callback=out_dir),
    ) -> None:
        """Plan PassUntil sampling: which model sizes, and how many samples per instance,
        reach a relative precision on the target size's predicted pass rate."""
        run_design_passuntil(counts, target_size, precision, budget, confidence, task, out)

    @app.command("design")
    def design_cmd(
        obs: Path = typer.Argument(..., help="Observation table so far (few-shot rows, and "
                                   "any finetuned rows)."),
        task: str = typer.Option(..., "--task", help="Task to design for."),
        budget: float = typer.Option(..., "--budget", help="Budget, in the candidates' cost "
                                     "unit (1 per run unless cost/params columns say else)."),
        candidates: Path = typer.Option(None, "--candidates", help="CSV of runs that could be "
                                        "made: model, checkpoint, loss, n_train, method "
                                        "(optional: subset, cost, params, epochs, n_eval, revision)."),
        checkpoints: Path = typer.Option(None, "--checkpoints", help="Cold start: CSV of "
                                         "checkpoints (model, checkpoint, loss; optional params ...); "
                                         "candidates = checkpoints x --levels x --subsets."),
        out: Path = typer.Option(Path("design-out"), "--out", help="Output folder.",
                                 callback=out_dir),
        levels: str = typer.Option(DEFAULT_LEVELS, "--levels",
                                   help="Data amounts D of the --checkpoints grid."),
        subsets: int = typer.Option(3, "--subsets", help="Subsets per D of that grid."),
        method: str = typer.Option(None, "--method", help="Finetuning method: of the "
                                   "--checkpoints grid (default full), and of the table's "
                                   "finetuned rows to use."),
        write_recipe: Path = typer.Option(None, "--write-recipe", help="Also write the chosen "
                                          "runs as a sweep recipe (YAML)."),
        harness: RecipeHarness = typer.Option(RecipeHarness.builtin, "--harness",
                                              help="Recipe harness: builtin, lmeval or python."),
        callable_path: str = typer.Option(None, "--callable", help="Recipe callable "
                                          "(harness python)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        tables: int = typer.Option(12, "--tables", help="Simulated outcome tables per "
                                   "evaluated row."),
        boot: int = typer.Option(40, "--boot", help="Bootstrap replicates per simulated table."),
        max_evals: int = typer.Option(10, "--max-evals", help="Rows whose expected width is "
                                      "computed by refits (others interpolated)."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: acc, else the task's only metric; asked for when ambiguous)."),
        series: str = typer.Option(None, "--series", help="Only this model series."),
    ) -> None:
        """Choose the next finetuning runs within a budget: the batch that narrows the 90%
        interval of the forecast E(D0) the most; writes next_runs.csv and expected_width.png."""
        run_design_command(obs, task, candidates, checkpoints, budget, out, levels, subsets,
                           method, write_recipe, str(harness), callable_path, seed, tables, boot,
                           max_evals, metric, series)
