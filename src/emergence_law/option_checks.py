"""Checks every command's options get, applied once to the whole command tree.

Two rules hold for every option of every command, so they live here rather than in each
command: a number option must be finite (``--d0 inf`` or ``--target-params nan`` would otherwise
flow into results as ``Infinity``/``NaN`` with exit 0), and ``--seed`` must be a seed numpy
accepts (0 to 2**32 - 1; ``--seed -1`` used to end in a traceback deep inside a sampler). A bad
value is refused by the parser, as one line naming the option, before any work is done.
"""

from __future__ import annotations

import math
from typing import Any

import typer

SEED_MAX = 2**32 - 1


def check_value(name: str | None, value: Any) -> str | None:
    """Why an option's parsed ``value`` is refused, or None when it is fine."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            return f"{v} is not a finite number"
    if name == "seed" and isinstance(value, int) and not isinstance(value, bool) \
            and not 0 <= value <= SEED_MAX:
        return f"{value} is not a seed (use a whole number from 0 to {SEED_MAX})"
    return None


def _checked(param: Any) -> None:
    """Make ``param`` refuse what :func:`check_value` refuses, right after it is parsed."""
    parse = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        out = parse(ctx, value)
        why = check_value(param.name, out)
        if why is not None:
            raise typer.BadParameter(why, ctx=ctx, param=param)
        return out

    param.process_value = process_value


def harden(command: Any) -> Any:
    """Apply the checks to every parameter of ``command`` and its subcommands (in place)."""
    for param in getattr(command, "params", []):
        _checked(param)
    for sub in getattr(command, "commands", {}).values():
        harden(sub)
    return command
