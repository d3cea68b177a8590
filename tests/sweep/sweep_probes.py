"""Job callables used by the sweep tests to look inside the worker that ran them."""

from __future__ import annotations

import os
from typing import Any


def where_am_i(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """One row saying which process ran the job and what Ray gave it (if Ray ran it)."""
    row: dict[str, Any] = {"kind": "probe", "pid": os.getpid(), "task": definition.get("task")}
    try:
        import ray

        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            row["assigned"] = ctx.get_assigned_resources()
            row["worker"] = ctx.get_worker_id()
    except ImportError:  # pragma: no cover
        pass
    if definition.get("shots") == 99:
        raise ValueError("probe asked to fail")
    return [row]
