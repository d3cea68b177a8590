"""Run a sweep plan behind a rich progress bar: one bar for the sweep, one for the running job.

Shared by ``emergence-law sweep run`` and the toy lab (``emergence-law lab run``), which shows
its sweep stages in the same progress display as its training stage.
"""

from __future__ import annotations

from typing import Any

from emergence_law.progress import progress_bar
from emergence_law.store import ResultStore
from emergence_law.sweep.executors import Executor, InProcessExecutor
from emergence_law.sweep.plan import SweepPlan
from emergence_law.sweep.runner import SweepReport, run_sweep


def run_sweep_with_progress(plan: SweepPlan, store: ResultStore, executor: Executor, *,
                            description: str, progress: Any | None = None,
                            retry_failed: bool = False, report: SweepReport | None = None,
                            console: Any | None = None) -> SweepReport:
    """:func:`~emergence_law.sweep.runner.run_sweep` with progress bars.

    ``progress`` is a started ``rich.progress.Progress`` to add the bars to (default: a new one
    on ``console``). Failed jobs are printed as they fail; Ctrl-C propagates after the runner
    has put back the jobs in flight.
    """
    report = report or SweepReport(planned=len(plan))
    known = store.statuses(plan.ids)
    skip = ("done",) if retry_failed else ("done", "failed")
    todo = sum(1 for i in plan.ids if known.get(i) not in skip)
    own = progress is None
    if own:
        progress = progress_bar("{task.fields[last]}", console=console)
        progress.start()
    bar = progress.add_task(description, total=todo, last="")
    inner = None
    if isinstance(executor, InProcessExecutor):  # follow the job inside this process
        inner = progress.add_task("  job", total=None, last="", visible=False)

        def job_progress(done: int, total: int) -> None:
            progress.update(inner, completed=done, total=total, visible=True)

        executor.job_progress = job_progress

    def on_event(job: Any, outcome: Any) -> None:
        if outcome is None:
            progress.update(bar, last=job.label)
            if inner is not None:
                progress.update(inner, completed=0, total=None, visible=False)
            return
        progress.advance(bar)
        if not outcome.ok:
            progress.console.print(f"[red]failed[/red] {job.label}: {outcome.error}",
                                   markup=True, highlight=False)

    try:
        run_sweep(plan, store, executor, retry_failed=retry_failed, on_event=on_event,
                  report=report)
    finally:
        done = next(t.completed for t in progress.tasks if t.id == bar)
        progress.update(bar, total=done, last="")
        if inner is not None:
            progress.update(inner, visible=False)
        if own:
            progress.stop()
    return report
