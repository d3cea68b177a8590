"""CLI commands of the 'analysis' area: ``ablate``, ``backtest``, ``compare``, ``to-params``.

Each writes its files into ``--out`` plus a provenance record, prints a short summary, and keeps
the heavy imports (numpy fits, matplotlib) inside the command body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

OUT_DEFAULT = Path("emergence-out")


def _law_settings(form: str, d0: float | None, likelihood: str, per_level: bool, posterior: str,
                  samples: int | None, seed: int) -> dict[str, Any]:
    """EmergenceLaw settings from the shared options (validated by EmergenceLaw itself)."""
    from emergence_law.fitting import EmergenceLaw

    n = samples if samples is not None else (2000 if posterior == "mcmc" else 1000)
    law = {"form": form, "d0": d0, "likelihood": likelihood, "shared_ab": not per_level,
           "posterior": posterior, "n_samples": n, "seed": seed}
    EmergenceLaw(**law)  # raises OptionError naming the bad option
    return law


def _check_workers(workers: int | None) -> None:
    from emergence_law.errors import OptionError

    if workers is not None and workers < 1:
        raise OptionError("--workers", f"must be at least 1, got {workers}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""

    @app.command("ablate")
    def ablate_cmd(
        obs: Path = typer.Argument(..., help="Observation table (.csv, .parquet, .jsonl)."),
        task: str = typer.Option(..., "--task", help="Task to ablate."),
        out: Path = typer.Option(OUT_DEFAULT, "--out", help="Output folder."),
        threshold: float = typer.Option(0.1, "--threshold",
                                        help="Success if |MLE - ground truth| <= this (nats)."),
        cutoff: float = typer.Option(None, "--cutoff", help="Fit only checkpoints with loss >= "
                                     "this (default: the ground-truth elbow)."),
        posterior: str = typer.Option("mcmc", "--posterior", help="mcmc, bootstrap or none."),
        samples: int = typer.Option(None, "--samples", help="Posterior draws per fit "
                                    "(default 2000 MCMC, 1000 bootstrap)."),
        form: str = typer.Option("log_power", "--form", help="Base E(D) form."),
        d0: float = typer.Option(None, "--d0", help="Base D0 (default: the shots)."),
        likelihood: str = typer.Option("gaussian", "--likelihood", help="gaussian or binomial."),
        per_level: bool = typer.Option(False, "--per-level", help="A and B per data level."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        metric: str = typer.Option(None, "--metric", help="Metric (default: the most common)."),
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

        _check_workers(workers)
        law = _law_settings(form, d0, likelihood, per_level, posterior, samples, seed)
        ablations = select_ablations(only)
        table = load_observations(obs)
        out.mkdir(parents=True, exist_ok=True)
        csv = out / "ablations.csv"
        write_provenance(out, "ablate", {
            "obs": obs, "task": task, "threshold": threshold, "cutoff": cutoff, **law,
            "metric": metric, "series": series, "ft_method": ft_method, "workers": workers,
            "only": only})
        result = run_ablations(table, task, law=law, threshold=threshold, cutoff=cutoff,
                               metric=metric, series=series, method=ft_method, workers=workers,
                               ablations=ablations, on_update=lambda r: r.to_csv(csv))
        result.to_csv(csv)
        (out / "ablations.md").write_text(result.to_markdown())
        result.plot(out / "ablations.png")
        typer.echo(result.summary())
        typer.echo(f"wrote {csv}, {out / 'ablations.md'}, {out / 'ablations.png'}")
