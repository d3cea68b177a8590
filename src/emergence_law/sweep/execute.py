"""Run one job definition and turn whatever happens into an outcome (rows or an error).

Why outcomes and not exceptions: a job runs in this process, a pool worker or a Ray worker, and
the driver alone writes to the store. A failing job must come back as data (its error and
traceback) so it is recorded and the sweep goes on; only Ctrl-C propagates.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
import traceback as tb
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emergence_law.jobkinds import get_kind, validate_definition
from emergence_law.store import canonical_json, job_id
from emergence_law.sweep.plan import resolve_paths


@dataclass
class JobOutcome:
    """What came back from one job: its rows, or its error; and how long it took."""

    job_id: str
    rows: list[dict[str, Any]] | None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    worker: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def load_callable(path: str) -> Callable[[dict[str, Any]], Any]:
    """Import ``package.module:function`` (or ``package.module.function``)."""
    if ":" in path:
        mod_name, attr = path.split(":", 1)
    else:
        mod_name, _, attr = path.rpartition(".")
    module = importlib.import_module(mod_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{path} is not callable")
    return obj


ProgressFn = Callable[[int, int], None]


def run_definition(definition: Mapping[str, Any], *, base_dir: str | Path = ".",
                   device: str = "cpu", progress: ProgressFn | None = None
                   ) -> list[dict[str, Any]]:
    """Run a job and return its rows (raises on failure). Paths resolve against ``base_dir``;
    ``progress(done, total)`` is called by measuring jobs as they go."""
    d = resolve_paths(dict(definition), base_dir)
    kind = get_kind(d.get("kind"))
    validate_definition(d)  # the kind's models: a bad key fails before anything is imported
    if kind.runner is None:  # python: the definition names its function
        func = load_callable(str(d["callable"]))
        rows = func(d, device=device) if _takes_device(func) else func(d)
    else:
        try:
            run = load_callable(kind.runner)
        except ImportError as exc:
            raise RuntimeError(
                f"job kind {kind.name!r} needs {kind.runner.split(':')[0]} (install the "
                f"'{kind.extra}' extra): {exc}"
            ) from exc
        rows = run(d, device=device, progress=progress)
    return _check_rows(rows)


def _takes_device(func: Callable[..., Any]) -> bool:
    """Whether a python job's callable accepts ``device=`` (the sweep's device is then passed;
    it is not part of the definition, which names what is measured, not where)."""
    import inspect

    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "device" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_rows(rows: Any) -> list[dict[str, Any]]:
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"a job must return a list of row dicts, got {type(rows).__name__}")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"row {i} of the job's result is a {type(r).__name__}, not a dict")
        r = dict(r)
        canonical_json(r)  # fails here, in the worker, if a value cannot be stored
        out.append(r)
    return out


def execute(definition: Mapping[str, Any], *, base_dir: str | Path = ".",
            device: str = "cpu", progress: ProgressFn | None = None) -> JobOutcome:
    """Run a job, catching every error into the outcome (Ctrl-C still stops)."""
    jid = job_id(definition)
    worker = {"host": socket.gethostname(), "pid": os.getpid()}
    start = time.perf_counter()
    try:
        rows = run_definition(definition, base_dir=base_dir, device=device, progress=progress)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a job's failure (even SystemExit) is data, not a crash
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        return JobOutcome(jid, None, message, tb.format_exc(), time.perf_counter() - start,
                          worker)
    return JobOutcome(jid, rows, None, None, time.perf_counter() - start, worker)
