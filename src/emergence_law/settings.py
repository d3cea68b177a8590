"""Groups of keyword settings as frozen dataclasses, still callable field by field.

A function whose parameters fall into groups (a model's shape, a simulated population, a
sampler's budget) takes each group as one typed object, whose class holds the defaults, the
checks and the docs once. Callers may still pass single fields as keywords
(``simulate_task(sd_alpha=0.1)``): :func:`with_overrides` routes each keyword to the group that
owns the field and refuses any other, as Python refuses an unknown keyword.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


def with_overrides(caller: str, overrides: Mapping[str, Any], *groups: Any) -> tuple[Any, ...]:
    """``groups`` (dataclass instances) with the ``overrides`` applied to the group owning each
    field; a keyword no group owns raises ``TypeError`` naming ``caller``, like Python does."""
    owned = [{f.name for f in dataclasses.fields(g)} for g in groups]
    per_group: list[dict[str, Any]] = [{} for _ in groups]
    for key, value in overrides.items():
        for names, changes in zip(owned, per_group, strict=True):
            if key in names:
                changes[key] = value
                break
        else:
            raise TypeError(f"{caller}() got an unexpected keyword argument {key!r}")
    return tuple(dataclasses.replace(g, **c) if c else g
                 for g, c in zip(groups, per_group, strict=True))
