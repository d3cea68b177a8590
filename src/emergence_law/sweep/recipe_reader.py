"""Reading a recipe's YAML tree with errors that name the file and the key path.

:class:`RecipeError` is the one error a bad recipe raises (``recipe.yaml:
tasks.mmlu.finetune[0].n_trian: unknown key (did you mean 'n_train'?)``); :class:`RecipeReader`
reads each kind of value (mappings with their allowed keys, strings, numbers, lists of counts,
model names, resources, callables) and raises it where a value does not fit.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from emergence_law.errors import EmergenceLawError
from emergence_law.jobkinds import describe_value

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


class RecipeError(EmergenceLawError):
    """A recipe file has a bad or unknown key: the message names the file and the key path."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.reason = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")



class RecipeReader:
    """Reads values out of the YAML tree, raising :class:`RecipeError` with the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> RecipeError:
        return RecipeError(self.source, key, message)

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping of keys, got {describe_value(value)}")
        for k in value:
            if isinstance(k, str) and k.startswith("x-"):
                continue  # extension keys (YAML anchors for shared settings) are ignored
            if not isinstance(k, str) or k not in allowed:
                close = difflib.get_close_matches(str(k), allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else (
                    f" (allowed: {', '.join(allowed)})")
                raise self.fail(join_key(key, str(k)), f"unknown key{hint}")
        return {k: v for k, v in value.items() if not str(k).startswith("x-")}

    def string(self, value: Any, key: str, *, choices: tuple[str, ...] | None = None) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(key, f"expected a string, got {describe_value(value)}")
        text = str(value).strip()
        if not text:
            raise self.fail(key, "must not be empty")
        if choices is not None and text not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    def number(self, value: Any, key: str, *, minimum: float | None = None) -> float:
        # PyYAML reads '3.43e9' (no sign in the exponent) as a string: accept it as a number
        if isinstance(value, bool):
            raise self.fail(key, f"expected a number, got {value!r}")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise self.fail(key, f"expected a number, got {describe_value(value)}") from None
        except OverflowError:  # a YAML integer beyond float range
            raise self.fail(key, f"expected a finite number, got an integer of "
                                 f"{len(str(abs(value)))} digits") from None
        if x != x or x in (float("inf"), float("-inf")):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        if minimum is not None and x < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {x:g}")
        return x

    def integer(self, value: Any, key: str, *, minimum: int | None = None) -> int:
        x = self.number(value, key, minimum=minimum)
        if x != int(x):
            raise self.fail(key, f"expected a whole number, got {value!r}")
        return int(x)

    def int_list(self, value: Any, key: str, *, minimum: int = 0) -> tuple[int, ...]:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items:
            raise self.fail(key, "must not be empty")
        out = tuple(self.integer(v, f"{key}[{i}]", minimum=minimum) for i, v in enumerate(items))
        if len(set(out)) != len(out):
            raise self.fail(key, f"has repeated values: {list(out)}")
        return out

    def names(self, value: Any, key: str, known: list[str]) -> tuple[str, ...]:
        items = value if isinstance(value, (list, tuple)) else [value]
        out = tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(items))
        for i, name in enumerate(out):
            if name not in known:
                raise self.fail(f"{key}[{i}]", f"no model named {name!r} (models: "
                                f"{', '.join(known)})")
        return out

    def free_mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {describe_value(value)}")
        return {str(k): v for k, v in value.items()}

    def resources(self, value: Any, key: str) -> dict[str, float]:
        res = self.mapping(value or {}, key, RESOURCE_KEYS)
        return {k: self.number(v, join_key(key, k), minimum=0) for k, v in res.items()}

    def callable_path(self, value: Any, key: str) -> str:
        text = self.string(value, key)
        mod, sep, attr = text.replace(":", ".").rpartition(".")
        if not sep or not mod or not attr.isidentifier():
            raise self.fail(key, f"expected 'package.module:function', got {text!r}")
        return text


def join_key(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub

