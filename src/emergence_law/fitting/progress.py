"""A rich progress bar behind the estimator's ``progress(stage, done, total)`` callback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emergence_law.fitting.estimator import Progress


@contextmanager
def rich_progress(console: Any = None) -> Iterator[Progress]:
    """Yield a callback that shows one bar per fitting stage (MLE, MCMC, bootstrap)."""
    from emergence_law.progress import progress_bar

    bars = progress_bar(console=console, remaining=False)
    ids: dict[str, Any] = {}

    def callback(stage: str, done: int, total: int) -> None:
        if stage not in ids:
            ids[stage] = bars.add_task(stage, total=total)
        bars.update(ids[stage], completed=done, total=total)

    with bars:
        yield callback
