"""AI2's OLMo ladder / OLMo-2 training-time evaluation CSVs as an observation table.

Each file is one training run (W&B export): one row per evaluated step, the C4 validation loss
``eval/c4_en-validation/CrossEntropyLoss`` (the x-axis) and downstream metrics named
``eval/downstream/<task>_<split>_<format>_5shot_<metric>`` (``rc`` cloze, ``mc`` multiple-choice
letters; ``acc``, ``len_norm``) and ``eval/downstream_bpb/<task>_<split>_rc_5shot_bpb`` (bits per
byte of the correct answer). Every metric becomes few-shot rows (``shots = 5``) of task
``<task>_<format>`` (e.g. ``arc_challenge_mc``); MMLU's four category columns are averaged into
``mmlu_<format>`` (unweighted: the files do not give category sizes). ``len_norm`` of MC tasks is
reported as metric ``acc`` (for letter answers the two coincide); ``bpb`` keeps its name (the
two-step baseline reads it as the task loss) and, measured in cloze format only, is attached to
the task's ``mc`` rows too. The ``test`` split is used where a task has one
(more questions), else ``val``.

Run names ``<size>-<k>xC`` (ladder) give series ``olmo-ladder``, model ``<size>`` and the
approximate total parameter count of that size (Bhagia et al. 2024); ``peteish7`` is the
OLMo-2 7B run (series ``olmo2``, 7.3B parameters). Tokens: ``throughput/total_tokens`` where the
file has it, else step x ``batch_size_in_tokens`` where that column exists, else left empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.errors import DataError
from emergence_law.observations import read_table, rows_to_frame, validate_observations

LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"
#: approximate total parameters of the ladder sizes and of the 7B run (data/README.md)
SIZES = {"190M": 190e6, "370M": 370e6, "760M": 760e6, "1B": 1.3e9, "3B": 3.2e9,
         "peteish7": 7.3e9}
#: chance level of each task's multiple-choice / cloze accuracy (1 / number of choices)
CHANCE = {"mmlu": 0.25, "arc_challenge": 0.25, "arc_easy": 0.25, "csqa": 0.2,
          "hellaswag": 0.25, "openbookqa": 0.25, "boolq": 0.5, "piqa": 0.5,
          "socialiqa": 1 / 3, "winogrande": 0.5}
_METRIC = re.compile(r"^eval/downstream(?:_bpb)?/(?P<task>.+?)_(?P<split>val|test)_"
                     r"(?P<fmt>rc|mc)_(?P<shots>\d+)shot_(?P<metric>len_norm|acc|bpb)$")
_RUN = re.compile(r"^(?P<size>\d+[MB])-(?P<mult>[\d.]+)xC")


def _run_labels(name: str) -> dict[str, object]:
    m = _RUN.match(name)
    if m:
        return {"series": "olmo-ladder", "model": m["size"],
                "params": SIZES.get(m["size"], np.nan), "run": name,
                "chinchilla_multiple": float(m["mult"])}
    if name.startswith("peteish7"):
        return {"series": "olmo2", "model": "olmo2-7b", "params": SIZES["peteish7"],
                "run": name}
    return {"series": "olmo", "model": name, "params": np.nan, "run": name}


def read_olmo_ladder(paths: str | Path | list[str | Path], *,
                     tasks: list[str] | None = None) -> pd.DataFrame:
    """Few-shot observation rows of one or more OLMo ladder CSVs (see the module docstring)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for path in paths:
        frames.append(_read_one(Path(path), tasks))
    if not frames:
        raise DataError("no OLMo ladder files given")
    return pd.concat(frames, ignore_index=True)


def _read_one(path: Path, tasks: list[str] | None) -> pd.DataFrame:
    raw = read_table(path)
    src = str(path)
    if raw.empty:  # a header alone: its columns are text, nothing to average
        raise DataError("no evaluated steps (the file has no rows)", source=src)
    for col in ("_step", LOSS_COLUMN):
        if col not in raw.columns:
            raise DataError("not an OLMo ladder evaluation file: required column is missing",
                            source=src, column=col)
    num = raw.apply(pd.to_numeric, errors="coerce")
    used = ["_step", LOSS_COLUMN, *(c for c in raw.columns if _METRIC.match(str(c))),
            *(c for c in ("throughput/total_tokens", "batch_size_in_tokens") if c in raw.columns)]
    for c in used:  # a cell that is there but is not a number: say where, never drop it
        bad = raw[c].notna() & num[c].isna() & raw[c].astype(str).str.strip().ne("")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"expected a number, got {raw[c].iloc[i]!r}", source=src,
                            row=i + 1, column=str(c))
    missing = num["_step"].isna() & num[LOSS_COLUMN].notna()
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataError("required value is missing (a loss without its step)", source=src,
                        row=i + 1, column="_step")
    step = num["_step"].to_numpy(dtype=float)
    loss = num[LOSS_COLUMN].to_numpy(dtype=float)
    if "throughput/total_tokens" in num.columns:
        tokens = num["throughput/total_tokens"].to_numpy(dtype=float)
    elif "batch_size_in_tokens" in num.columns:
        tokens = step * num["batch_size_in_tokens"].to_numpy(dtype=float)
    else:
        tokens = np.full(len(num), np.nan)
    # (task, format, metric) -> {split: column}
    found: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    for c in raw.columns:
        m = _METRIC.match(str(c))
        if not m:
            continue
        task = m["task"]
        if task.startswith("mmlu_"):
            task = "mmlu"
        found.setdefault((task, m["fmt"], m["metric"]), {}).setdefault(m["split"], []).append(c)
    # bits per byte of the correct answer is measured in cloze format only; it is the task's
    # continuous metric for the multiple-choice format too (the two-step baseline's task loss)
    for (task, _fmt, metric), splits in list(found.items()):
        if metric == "bpb" and any(k[0] == task and k[1] == "mc" for k in found):
            found[(task, "mc", "bpb")] = splits
    labels = _run_labels(path.stem)
    out = []
    for (task, fmt, raw_metric), splits in found.items():
        name = f"{task}_{fmt}"
        if tasks is not None and name not in tasks:
            continue
        # MC accuracy: the len_norm column when both exist (letter answers: the same number)
        if raw_metric == "acc" and fmt == "mc" and (task, fmt, "len_norm") in found:
            continue
        metric = "acc" if raw_metric == "len_norm" and fmt == "mc" else raw_metric
        cols = splits.get("test") or splits["val"]
        val = num[cols].mean(axis=1, skipna=False).to_numpy(dtype=float)
        ok = np.isfinite(val) & np.isfinite(loss)
        chance = CHANCE.get(task, np.nan) if metric in ("acc", "len_norm") else np.nan
        for i in np.flatnonzero(ok):
            out.append({**labels, "checkpoint": f"step{int(step[i])}", "tokens": tokens[i],
                        "loss": float(loss[i]), "task": name, "metric": metric,
                        "value": float(val[i]), "setting": "fewshot", "shots": 5,
                        "chance": chance})
    if not out:
        raise DataError("no downstream evaluation columns with a C4 loss"
                        + (f" for tasks {', '.join(tasks)}" if tasks else ""), source=src)
    return validate_observations(rows_to_frame(out), src)
