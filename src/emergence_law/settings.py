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


class EstimatorParams:
    """scikit-learn's parameter protocol for an estimator whose settings are the names in
    ``PARAMS`` (its constructor's arguments): ``get_params``, ``set_params`` (an unknown name is a
    :class:`~emergence_law.errors.SettingError`; values are checked at ``fit``) and a repr of the
    settings, so ``sklearn.base.clone`` works and both estimators share one convention."""

    PARAMS: tuple[str, ...] = ()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (no nested estimators, so ``deep`` changes nothing)."""
        return {k: getattr(self, k) for k in self.PARAMS}

    def set_params(self, **params: Any) -> Any:
        """Change settings in place (checked at ``fit``); an unknown name is refused."""
        from emergence_law.errors import SettingError

        for k, v in params.items():
            if k not in self.PARAMS:
                raise SettingError(k, f"not a setting of {type(self).__name__} "
                                      f"(use {', '.join(self.PARAMS)})")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
