"""The chosen runs as a sweep recipe (``sweep plan`` / ``sweep run`` accept it as written).

A recipe's finetune block crosses its ``n_train`` and ``subsets`` over every checkpoint of the
models it names, and a design is rarely a cross product. So every chosen checkpoint becomes its
own recipe model (named ``model@checkpoint``) and gets blocks that list exactly its runs: runs of
one checkpoint with the same subsets are merged into one block. The written file is read back
with the sweep's own checker before this returns, so a recipe that ``sweep`` would refuse is
never left behind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from emergence_law.errors import SettingError

_LORA = re.compile(r"^lora(?:[-_]?r(\d+))?$")


def _method(method: str) -> dict[str, Any]:
    m = str(method).strip().lower()
    if m == "full":
        return {"method": "full"}
    hit = _LORA.match(m)
    if hit:
        out: dict[str, Any] = {"method": "lora"}
        if hit.group(1):
            out["lora_rank"] = int(hit.group(1))
        return out
    raise SettingError("runs", f"method {method!r} has no sweep equivalent "
                       "(sweeps run full, lora or lora-rN finetuning)")


def design_recipe(runs: pd.DataFrame, task: str, *, name: str = "design",
                  harness: str = "builtin", callable_path: str | None = None,
                  hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recipe (a YAML-ready dict) measuring exactly the runs of ``runs``."""
    if runs.empty:
        raise SettingError("runs", "the design chose no runs: nothing to write")
    models: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    for (model, ckpt), grp in runs.groupby(["model", "checkpoint"], sort=False):
        label = f"{model}@{ckpt}"
        entry: dict[str, Any] = {"name": label, "model": str(model)}
        first = grp.iloc[0]
        for col in ("series",):
            if col in grp and pd.notna(first.get(col)):
                entry[col] = str(first[col])
        if "params" in grp and pd.notna(first.get("params")):
            entry["params"] = float(first["params"])
        c: dict[str, Any] = {"checkpoint": str(ckpt)}
        if "revision" in grp and pd.notna(first.get("revision")):
            c["revision"] = str(first["revision"])
        entry["checkpoints"] = [c]
        models.append(entry)
        by_d = grp.groupby("n_train")["subset"].apply(lambda s: tuple(sorted(int(x) for x in s)))
        merged: dict[tuple[int, ...], list[int]] = {}
        for d, subs in by_d.items():
            merged.setdefault(subs, []).append(int(d))
        for subs, ds in merged.items():
            block: dict[str, Any] = {"n_train": sorted(ds), "subsets": list(subs),
                                     **_method(first["method"]), "models": [label]}
            if hparams:
                block["hparams"] = dict(hparams)
            blocks.append(block)
    spec: dict[str, Any] = {"task": task, "harness": harness, "finetune": blocks}
    if harness == "python":
        if not callable_path:
            raise SettingError("callable_path", "harness python needs --callable package.module:fn")
        spec["callable"] = callable_path
    return {"name": name, "models": models, "tasks": {task: spec}}


def write_design_recipe(path: str | Path, runs: pd.DataFrame, task: str, **kwargs: Any) -> Path:
    """Write :func:`design_recipe` as YAML and check it with the sweep's recipe loader."""
    import yaml

    from emergence_law.atomic import atomic_write_text
    from emergence_law.sweep.plan import plan_recipe
    from emergence_law.sweep.recipe import load_recipe

    path = Path(path)
    tree = design_recipe(runs, task, name=kwargs.pop("name", path.stem), **kwargs)
    header = ("# Written by `emergence-law design`: the chosen finetuning runs, one recipe model\n"
              "# per checkpoint. Add `revision:` / `model:` per checkpoint if the model id alone\n"
              "# does not load that checkpoint, and your finetuning hparams on the blocks.\n")
    atomic_write_text(path, header + yaml.safe_dump(tree, sort_keys=False))
    plan = plan_recipe(load_recipe(path))
    if len(plan) != len(runs):  # pragma: no cover - a bug, not a user error
        raise RuntimeError(f"recipe plans {len(plan)} jobs for {len(runs)} runs")
    return path
