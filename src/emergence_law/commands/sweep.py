"""CLI commands of the 'sweep' area: ``sweep plan|run|status|export``.

The store a command uses is, in order: ``--store PATH``; the recipe's ``store:`` key (relative
to the recipe file); ``<recipe folder>/<recipe name>.sqlite``.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from emergence_law.commands.options import Executor
from emergence_law.errors import OptionError

if TYPE_CHECKING:  # pragma: no cover
    from emergence_law.sweep.plan import SweepPlan
    from emergence_law.sweep.recipe import Recipe

sweep_app = typer.Typer(
    help="Plan and run measuring sweeps (checkpoints x tasks x settings), resumable.",
    no_args_is_help=True,
)

RECIPE_ARG = typer.Argument(..., metavar="RECIPE", help="Recipe file (YAML).",
                            show_default=False)
OPT_RECIPE_ARG = typer.Argument(None, metavar="RECIPE", help="Recipe file (YAML); limits "
                                "output to its jobs.", show_default=False)
STORE_OPT = typer.Option(None, "--store", help="Results store (SQLite file); default: the "
                         "recipe's `store:` or <recipe>.sqlite next to it.")
JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _store_path(recipe: Recipe | None, store: Path | None) -> Path:
    if store is not None:
        return store
    if recipe is None:
        raise OptionError("--store", "give a RECIPE or --store PATH")
    if recipe.store is not None:
        return recipe.store
    return recipe.base_dir / f"{Path(recipe.source).stem}.sqlite"


def _load(recipe_path: Path) -> tuple[Recipe, SweepPlan]:
    from emergence_law.sweep.plan import plan_recipe
    from emergence_law.sweep.recipe import load_recipe

    recipe = load_recipe(recipe_path)
    return recipe, plan_recipe(recipe)


@sweep_app.command("plan")
def plan_cmd(
    recipe_path: Path = RECIPE_ARG,
    store: Path | None = STORE_OPT,
    list_jobs: bool = typer.Option(False, "--list", help="List every job (id and description)."),
    as_json: bool = JSON_OPT,
) -> None:
    """List the jobs of a recipe: counts per kind and task (no model hub access needed)."""
    recipe, plan = _load(recipe_path)
    info: dict[str, Any] = {
        "recipe": recipe.name,
        "models": len(recipe.model_names),
        "checkpoints": len(recipe.checkpoints),
        "jobs": len(plan),
        "by_kind": plan.counts_by_kind(),
        "by_task": plan.counts_by_task(),
        "duplicates_merged": plan.duplicates,
        "store": str(_store_path(recipe, store)),
    }
    if list_jobs:
        info["job_list"] = [{"id": j.id, "job": j.label, "resources": j.resources}
                            for j in plan.jobs]
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"recipe {recipe.name}: {info['checkpoints']} checkpoints of {info['models']} "
               f"models, {len(recipe.tasks)} tasks -> {len(plan)} jobs")
    typer.echo("jobs by kind:")
    for kind, n in info["by_kind"].items():
        typer.echo(f"  {kind:<18} {n:>7}")
    typer.echo("jobs by task:")
    for task, n in info["by_task"].items():
        typer.echo(f"  {task:<18} {n:>7}")
    if plan.duplicates:
        typer.echo(f"({plan.duplicates} repeated job definitions merged)")
    typer.echo(f"store: {info['store']}")
    if list_jobs:
        for j in info["job_list"]:
            typer.echo(f"{j['id']}  {j['job']}")


@sweep_app.command("run")
def run_cmd(
    recipe_path: Path = RECIPE_ARG,
    executor: Executor = typer.Option(Executor.local, "--executor", help="Run jobs here "
                                      "(local) or on a Ray cluster (ray)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address "
                                       "(e.g. auto, ray://head:10001); default: start one."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Jobs at once (local: "
                                       "processes, default 1 in this process; ray: tasks in "
                                       "flight, default the cluster's CPUs)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed jobs again."),
    store: Path | None = STORE_OPT,
    device: str | None = typer.Option(None, "--device", help="Device for measuring jobs "
                                      "(default: the recipe's `device:`)."),
) -> None:
    """Run the recipe's jobs that are not done yet (Ctrl-C stops; finished results are kept)."""
    from rich.console import Console

    from emergence_law.store import ResultStore
    from emergence_law.sweep.executors import make_executor
    from emergence_law.sweep.progress import run_sweep_with_progress
    from emergence_law.sweep.runner import SweepReport

    executor = str(executor)
    if executor not in ("local", "ray"):
        raise OptionError("--executor", f"expected 'local' or 'ray', got {executor!r}")
    recipe, plan = _load(recipe_path)
    console = Console(stderr=True)
    report = SweepReport(planned=len(plan))
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum: int, frame: Any) -> None:  # a scheduler's SIGTERM acts as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        with ResultStore(_store_path(recipe, store)) as db:
            ex = make_executor(executor, workers=workers, address=address,
                               base_dir=recipe.base_dir, device=device or recipe.device,
                               ray_options=recipe.ray)
            run_sweep_with_progress(plan, db, ex, description=f"sweep {recipe.name}",
                                    retry_failed=retry_failed, report=report, console=console)
    except KeyboardInterrupt:
        console.print(f"interrupted: {report.summary()}", highlight=False)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


@sweep_app.command("status")
def status_cmd(
    recipe_path: Path | None = OPT_RECIPE_ARG,
    store: Path | None = STORE_OPT,
    failures: int = typer.Option(20, "--failures", help="How many failed jobs to list."),
    as_json: bool = JSON_OPT,
) -> None:
    """Done / failed / running / pending counts, and the failed jobs with their errors."""
    from emergence_law.store import ResultStore
    from emergence_law.sweep.plan import describe, kind_label

    recipe, plan = _load(recipe_path) if recipe_path is not None else (None, None)
    path = _store_path(recipe, store)
    if plan is None and not path.exists():
        raise OptionError("--store", f"{path}: no such store")
    failed: list[dict[str, Any]] = []
    known: dict[str, str] = {}
    kinds: dict[str, str] = {}
    if path.exists():  # a recipe not run yet has no store: everything is pending
        with ResultStore(path) as db:
            jobs = db.jobs()
            known = dict(zip(jobs["job_id"], jobs["status"], strict=True))
            kinds = {r.job_id: kind_label(json.loads(r.definition)) for r in jobs.itertuples()}
            bad = jobs[jobs["status"] == "failed"]
            if plan is not None:
                bad = bad[bad["job_id"].isin(set(plan.ids))]
            failed = [{"id": r.job_id, "job": describe(json.loads(r.definition)),
                       "attempts": int(r.attempts), "error": (r.error or "").splitlines()[0]
                       if r.error else ""} for r in bad.itertuples()]
    extra = 0
    if plan is not None:
        extra = len(set(known) - set(plan.ids))
        kinds = {j.id: j.kind_label for j in plan.jobs}
    counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
    for jid in kinds:
        counts[known.get(jid, "pending")] += 1
    by_kind: dict[str, dict[str, int]] = {}
    for jid, kind in kinds.items():
        per = by_kind.setdefault(kind, {"done": 0, "failed": 0, "running": 0, "pending": 0})
        per[known.get(jid, "pending")] += 1
    info = {"store": str(path), "total": sum(counts.values()), **counts,
            "by_kind": by_kind, "failures": failed[:failures]}
    if plan is not None:
        info["not_in_recipe"] = extra
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"store {path}: {info['total']} jobs: {counts['done']} done, {counts['failed']} "
               f"failed, {counts['running']} running, {counts['pending']} pending")
    for kind, per in sorted(by_kind.items()):
        typer.echo(f"  {kind:<18} {per['done']:>6} done {per['failed']:>6} failed "
                   f"{per['running']:>6} running {per['pending']:>6} pending")
    if extra:
        typer.echo(f"({extra} other jobs in the store are not in this recipe, e.g. from an "
                   "earlier version of it)")
    for f in failed[:failures]:
        typer.echo(f"failed {f['id']} {f['job']} (attempts {f['attempts']}): {f['error']}")
    if len(failed) > failures:
        typer.echo(f"... and {len(failed) - failures} more failed jobs")


@sweep_app.command("export")
def export_cmd(
    recipe_path: Path | None = OPT_RECIPE_ARG,
    out: Path = typer.Option(..., "--out", help="Observation table to write (.parquet, .csv, "
                             ".jsonl)."),
    store: Path | None = STORE_OPT,
) -> None:
    """Write the finished results as a validated observation table (loss joined per checkpoint).

    With a RECIPE, only its jobs are exported, with a 'model_name' column (the recipe's name of
    each model); without one, every finished job in --store.
    """
    from emergence_law.observations import save_observations
    from emergence_law.store import ResultStore
    from emergence_law.sweep.export import export_observations

    recipe, plan = _load(recipe_path) if recipe_path is not None else (None, None)
    path = _store_path(recipe, store)
    if not path.exists():
        raise OptionError("--store", f"{path}: no such store")
    with ResultStore(path) as db:
        result = export_observations(db, plan.ids if plan is not None else None,
                                     plan.model_names() if plan is not None else None)
    save_observations(result.table, out)
    typer.echo(f"wrote {out}: {result.summary()}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
    app.add_typer(sweep_app, name="sweep")
