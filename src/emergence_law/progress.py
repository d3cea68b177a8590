"""The one rich progress display: every bar in the project reads the same way.

Why one factory: a sweep, an analysis, a measurement and the lab each show long work; the same
columns in the same order (what, bar, done/total, elapsed, remaining, then anything the caller
adds) let a user read any of them at a glance, and a change of style is made once. rich is
imported only when a bar is made, so the torch-free core stays quick to import.
"""

from __future__ import annotations

from typing import Any


def progress_bar(*extra: Any, console: Any | None = None, stderr: bool = False,
                 enabled: bool = True, transient: bool = False, remaining: bool = True,
                 description_width: int | None = None) -> Any:
    """A ``rich.progress.Progress`` (not started) with the project's columns.

    ``extra`` columns follow the standard ones; a string is a ``TextColumn`` template, e.g.
    ``"{task.fields[last]}"`` (then give every task that field). ``console``: where to draw
    (default: rich's console on stdout, or one on stderr with ``stderr=True``, which keeps a
    command's stdout for its results). ``enabled=False`` draws nothing, so callers need no
    second code path. ``remaining=False`` drops the time-remaining column, for bars whose total
    is unknown or whose steps differ widely. ``description_width`` pads descriptions so the
    bars of several stages line up.
    """
    from rich import progress as rp
    from rich.console import Console

    pad = f":<{description_width}" if description_width else ""
    columns: list[Any] = [rp.TextColumn(f"[bold]{{task.description{pad}}}"), rp.BarColumn(),
                          rp.MofNCompleteColumn(), rp.TimeElapsedColumn()]
    if remaining:
        columns.append(rp.TimeRemainingColumn())
    columns += [rp.TextColumn(c) if isinstance(c, str) else c for c in extra]
    if console is None and stderr:
        console = Console(stderr=True)
    return rp.Progress(*columns, console=console, disable=not enabled, transient=transient)
