"""CLI command ``ground-truth``: where few-shot performance leaves chance, per group."""

from __future__ import annotations

from pathlib import Path

import typer

from emergence_law.commands.options import ElbowsBy, out_dir

OUT_DEFAULT = Path("emergence-out")


def register(app: typer.Typer) -> None:
    """Add the ``ground-truth`` command (heavy imports stay inside it)."""

    @app.command("ground-truth")
    def ground_truth_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task whose few-shot rows to fit."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: acc, else the task's only metric; asked for when ambiguous)."),
        by: ElbowsBy = typer.Option(ElbowsBy.none, "--by", help="One elbow per model, per "
                                    "series, or none (all rows together)."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder.", callback=out_dir),
    ) -> None:
        """Elbow of the few-shot curve with its 95% interval: ground_truth.csv and .png."""
        from emergence_law.analysis.ground_truth import BY, ground_truth_table, ground_truths
        from emergence_law.analysis.plots import plot_ground_truths
        from emergence_law.errors import OptionError
        from emergence_law.observations import load_observations
        from emergence_law.provenance import write_provenance
        from emergence_law.results.analysis import GroundTruthTable

        by = str(by)
        if by not in BY:
            raise OptionError("--by", f"use one of {', '.join(BY)}, not {by!r}")
        table = load_observations(obs)
        fits = ground_truths(table, task, metric=metric, by=by)
        out.mkdir(parents=True, exist_ok=True)
        write_provenance(out, "ground-truth", {"obs": obs, "task": task, "metric": metric,
                                               "by": by})
        tab = ground_truth_table(task, fits)
        csv = GroundTruthTable(tab).save(out)["table"]
        plot = out / GroundTruthTable.FILES["plot"]
        plot_ground_truths(task, fits, plot)
        metrics = ", ".join(sorted(set(tab["metric"]) - {""})) or "none"
        typer.echo(f"task {task}, metric {metrics}, few-shot rows only:")
        for r in tab.itertuples():
            if r.model_kind == "none":
                typer.echo(f"{r.group}: no elbow ({r.reason})")
            else:
                typer.echo(f"{r.group}: elbow {r.elbow:.4f} nats [95%: {r.lower:.4f}, "
                           f"{r.upper:.4f}] ({r.model_kind}; {r.n_pre} of {r.n_checkpoints} "
                           "checkpoints before it)")
        if by != "none" and (tab["model_kind"] != "none").sum() >= 2:
            from emergence_law.analysis.fewshot_only import shared_elbow_test

            typer.echo(shared_elbow_test(task, fits).summary())
        typer.echo(f"wrote {csv}, {plot}")
        if tab["model_kind"].eq("none").all():
            raise typer.Exit(1)
