"""CLI commands of the 'report' area (see commands/__init__.py for the map)."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    results_dir: Path = typer.Argument(
        ..., metavar="DIR", help="Results folder written by fit, backtest, ablate, lab run, ...",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="HTML file to write (default: DIR/report.html).",
        show_default=False,
    ),
) -> None:
    """Build one self-contained HTML report (plots embedded, no network) from a results folder."""
    from emergence_law.provenance import write_provenance
    from emergence_law.report import build_report, collect_tree

    collect_tree(results_dir)  # fail on a bad folder before writing anything into it
    target = out if out is not None else results_dir / "report.html"
    if target.resolve().parent == results_dir.resolve():
        # a record beside the other commands' ones; a page written elsewhere (a desktop, a
        # mail folder) leaves no stray file there: it carries its build versions itself
        write_provenance(results_dir, "report", {"results_dir": results_dir, "out": target})
    path = build_report(results_dir, target)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
    app.command("report")(report)
