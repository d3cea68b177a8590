"""CLI commands for few-shot-only users (checkpoint evaluations, no finetuning runs):
``import-olmo`` (OLMo ladder / W&B-style evaluation CSVs into an observation table) and
``ladder`` (the two-step forecast of a larger model from a ladder of smaller ones)."""

from __future__ import annotations

from pathlib import Path

import typer

from emergence_law.commands.options import StrEnum, out_dir

OUT_DEFAULT = Path("emergence-out")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl")


class Targets(StrEnum):
    """ladder --targets: which checkpoints of the target model to forecast."""

    last = "last"
    all = "all"


def _table_out(value: Path) -> Path:
    """Typer callback for a table ``--out``: a known table suffix, not a folder."""
    if value.suffix.lower() not in TABLE_SUFFIXES:
        raise typer.BadParameter(f"unknown table type {value.suffix!r} (use "
                                 f"{', '.join(TABLE_SUFFIXES)})")
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a table file to write")
    return value


def import_olmo_cmd(
    csvs: list[Path] = typer.Argument(..., help="OLMo ladder / W&B-style evaluation CSVs, one "
                                      "training run per file (columns _step, the C4 loss, "
                                      "eval/downstream*/<task>_<split>_<format>_5shot_<metric>)."),
    out: Path = typer.Option(..., "--out", help="Observation table to write (.csv, .parquet, "
                             ".jsonl).", callback=_table_out),
    task: list[str] = typer.Option(None, "--task", help="Keep only this task (e.g. "
                                   "arc_challenge_mc); repeat for several. Default: all."),
) -> None:
    """Import OLMo ladder evaluation CSVs: few-shot rows on the C4-loss axis, one per step."""
    from emergence_law.analysis.olmo_ladder import read_olmo_ladder
    from emergence_law.observations import save_observations

    df = read_olmo_ladder(list(csvs), tasks=list(task) if task else None)
    save_observations(df, out)
    n_runs = df["run"].nunique() if "run" in df.columns else len(csvs)
    typer.echo(f"{len(csvs)} file(s), {n_runs} run(s), models "
               f"{', '.join(sorted(df['model'].astype(str).unique()))}; tasks "
               f"{', '.join(sorted(df['task'].unique()))}")
    typer.echo(f"wrote {len(df)} rows to {out}")


def ladder_cmd(
    obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl), e.g. "
                               "from import-olmo."),
    task: str = typer.Option(..., "--task", help="Task to forecast (e.g. hellaswag_rc)."),
    target: str = typer.Option(..., "--target", help="Model (value of the 'model' column) to "
                               "forecast from the smaller ones."),
    metric: str = typer.Option(None, "--metric", help="Accuracy metric (default: acc, else the "
                               "only metric besides --nll-metric; asked for when ambiguous)."),
    nll_metric: str = typer.Option("bpb", "--nll-metric", help="Continuous task metric of "
                                   "step 1 (loss -> this -> accuracy), e.g. bpb."),
    train: list[str] = typer.Option(None, "--train", help="Training model; repeat for several "
                                    "(default: every model with fewer parameters than the "
                                    "target, else with higher minimum loss)."),
    targets: Targets = typer.Option(Targets.last, "--targets", help="Forecast the last "
                                    "checkpoint of each target run, or all its checkpoints."),
    n_boot: int = typer.Option(200, "--n-boot", min=20, help="Bootstrap resamples over "
                               "training runs (interval)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
    out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
) -> None:
    """Two-step forecast (loss -> task bpb -> accuracy) of a larger model from a ladder of
    smaller ones, with its 90% interval: ladder_forecast.csv, .json and .png."""
    import warnings

    from emergence_law.analysis.fewshot_only import (
        default_train_groups,
        ladder_forecast,
        plot_ladder_forecast,
    )
    from emergence_law.observations import load_observations
    from emergence_law.provenance import write_provenance
    from emergence_law.results.analysis import LadderForecastResult

    table = load_observations(obs)
    train = list(train) if train else default_train_groups(table, task, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = ladder_forecast(table, task, train=train, target=target, metric=metric,
                            nll_metric=nll_metric, n_boot=n_boot, seed=seed,
                            last_only=str(targets) == "last")
    out.mkdir(parents=True, exist_ok=True)
    write_provenance(out, "ladder", {"obs": obs, "task": task, "target": target,
                                     "metric": metric, "nll_metric": nll_metric,
                                     "train": train, "targets": str(targets),
                                     "n_boot": n_boot, "seed": seed})
    written = f.to_result().save(out)  # ladder_forecast.json and .csv
    csv, plot = written["table"], out / LadderForecastResult.FILES["plot"]
    plot_ladder_forecast(f, table, plot)
    typer.echo(f.summary())
    for r in f.table.itertuples():
        typer.echo(f"{r.run} at loss {r.loss:.3f}: forecast {r.acc_pred:.3f} [90%: {r.pred_lower:.3f}, "
                   f"{r.pred_upper:.3f}], measured {r.acc:.3f}")
    typer.echo(f"wrote {csv}, {written['json']}, {plot}")


def register(app: typer.Typer) -> None:
    """Add ``import-olmo`` and ``ladder`` (heavy imports stay inside the commands)."""
    app.command("import-olmo")(import_olmo_cmd)
    app.command("ladder")(ladder_cmd)

