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

from emergence_law.errors import DataError, SettingError
from emergence_law.observations import read_table, rows_to_frame, validate_observations

LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"
#: approximate total parameters of the ladder sizes and of the 7B run (data/README.md)
SIZES = {"190M": 190e6, "370M": 370e6, "760M": 760e6, "1B": 1.3e9, "3B": 3.2e9,
         "peteish7": 7.3e9}
#: chance level of each task's multiple-choice / cloze accuracy (1 / number of choices)
CHANCE = {"mmlu": 0.25, "arc_challenge": 0.25, "arc_easy": 0.25, "csqa": 0.2,
          "hellaswag": 0.25, "openbookqa": 0.25, "boolq": 0.5, "piqa": 0.5,
          "socialiqa": 1 / 3, "winogrande": 0.5}
#: the split is absent and bpb doubled (``hellaswag_rc_5shot_bpb_bpb``) in later OLMo logs
_METRIC = re.compile(r"^eval/downstream(?:_bpb)?/(?P<task>.+?)(?:_(?P<split>val|test))?_"
                     r"(?P<fmt>rc|mc)_(?P<shots>\d+)shot_(?P<metric>len_norm|acc|bpb)(?:_bpb)?$")
_RUN = re.compile(r"^(?P<size>\d+[MB])-(?P<mult>[\d.]+)xC")


_SIZE = re.compile(r"^(?P<size>\d+(?:\.\d+)?)(?P<unit>[MB])(?![A-Za-z])")


def _params_of(size: str) -> float:
    """Parameters of a size label: the ladder's approximate total where known (its ``1B`` is
    1.3B), else the label's number (``530M`` -> 5.3e8; ``13B`` -> 1.3e10)."""
    if size in SIZES:
        return SIZES[size]
    m = _SIZE.match(size)
    return float(m["size"]) * (1e6 if m["unit"] == "M" else 1e9) if m else np.nan


def _run_labels(name: str) -> dict[str, object]:
    m = _RUN.match(name)
    if m:
        return {"series": "olmo-ladder", "model": m["size"], "params": _params_of(m["size"]),
                "run": name, "chinchilla_multiple": float(m["mult"])}
    if name.startswith("peteish7"):
        return {"series": "olmo2", "model": "olmo2-7b", "params": SIZES["peteish7"],
                "run": name}
    m = _SIZE.match(name)  # e.g. 13B-5T: a model size, then the run's own label
    if m:
        return {"series": "olmo", "model": m[0], "params": _params_of(m[0]), "run": name}
    return {"series": "olmo", "model": name, "params": np.nan, "run": name}


def _check_range(values: pd.Series, column: str, src: str) -> None:
    """Accuracies in [0, 1], bits per byte and losses >= 0: a bad cell is named by its file row
    and column (the observation table's own check would name a row of the converted table)."""
    m = _METRIC.match(column)
    if m and m["metric"] in ("acc", "len_norm"):
        bad, what = (values < 0) | (values > 1), "an accuracy must lie in [0, 1]"
        if (values > 1).any() and values.max() <= 100:
            what += " (a percentage? divide it by 100)"
    elif m or column in (LOSS_COLUMN, "_step", "throughput/total_tokens"):
        bad, what = values < 0, "must not be negative"
    else:
        return
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{what}, got {values.iloc[i]:g}", source=src, row=i + 1, column=column)


def _merge_repeated_steps(num: pd.DataFrame, used: list[str], src: str) -> pd.DataFrame:
    """One row per ``_step``. A W&B export can repeat a step (a resumed run, or one row per
    logging call): rows that agree wherever both have a value are merged; two different values
    for one step and column are an error naming both file rows."""
    step = num["_step"]
    dup = step.notna() & step.duplicated(keep=False)
    if not dup.any():
        return num
    rows = num.loc[dup, used]
    for s, g in rows.groupby("_step", sort=False):
        for c in used:
            vals = g[c].dropna()
            if vals.nunique() > 1:
                i, j = (int(num.index.get_loc(k)) for k in vals.index[:2])
                if vals.iloc[0] == vals.iloc[1]:
                    j = int(num.index.get_loc(vals.index[vals.ne(vals.iloc[0])][0]))
                raise DataError(f"step {s:g} appears in rows {i + 1} and {j + 1} with different "
                                f"values ({num[c].iloc[i]:g} and {num[c].iloc[j]:g}); keep one of "
                                "them", source=src, row=j + 1, column=c)
    merged = rows.groupby("_step", sort=False).first()  # the first value of each column
    keep = ~dup | ~step.duplicated(keep="first")
    out = num[keep].copy()
    first = out["_step"].isin(merged.index)
    out.loc[first, used[1:]] = merged.loc[out.loc[first, "_step"], used[1:]].to_numpy()
    return out.reset_index(drop=True)


def read_olmo_ladder(paths: str | Path | list[str | Path], *,
                     tasks: list[str] | None = None) -> pd.DataFrame:
    """Few-shot observation rows of one or more OLMo ladder CSVs (see the module docstring)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    frames, present = [], set()
    for path, run in zip(paths, _run_names(paths), strict=True):
        rows, in_file = _read_one(path, tasks, run)
        frames.append(rows)
        present.update(in_file)
    if not frames:
        raise DataError("no OLMo ladder files given")
    absent = [t for t in tasks or () if t not in present]
    if absent:  # a typo or a task of another format: say which names there are
        raise SettingError("tasks", f"task {absent[0]!r} is in none of the {len(paths)} "
                           f"file(s) (tasks: {', '.join(sorted(present))})")
    frames = [f for f in frames if len(f)]
    if not frames:  # the tasks' columns are there but hold no value with a loss
        raise DataError(f"no measurements of {', '.join(tasks or [])} with a C4 loss",
                        source=", ".join(map(str, paths)))
    out = pd.concat(frames, ignore_index=True)
    key = ["model", "checkpoint", "loss", "task", "metric"]
    dup = out.duplicated(key, keep=False)
    if dup.any():  # each file was checked alone; a copy of a run under another name was not
        a = out[dup].groupby(key, sort=False)["run"].unique().iloc[0]
        i = next(k for k, r in enumerate(_run_names(paths)) if r == a[-1])
        raise DataError(f"runs {a[0]!r} and {a[-1]!r} hold the same measurements (same model, "
                        "step and loss): the same run twice?", source=str(paths[i]))
    return out


def _run_names(paths: list[Path]) -> list[str]:
    """Each file's run name: its stem, or ``<folder>/<stem>`` where two files share a stem
    (another seed of ``190M-1xC`` kept in its own folder is another run, not more rows of the
    same one: the ladder's bootstrap resamples runs). The same file twice is an error."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    for i, (p, name) in enumerate(zip(paths, names, strict=True)):
        for q, other in zip(paths[:i], names[:i], strict=True):
            if q.resolve() == p.resolve():
                raise DataError("the file is given twice", source=str(p))
            if other == name:
                raise DataError(f"run {name!r} is also read from {q} (a run is named by its "
                                "folder and file name); give each run's file its own name",
                                source=str(p))
    return names


def _read_one(path: Path, tasks: list[str] | None, run: str | None = None
              ) -> tuple[pd.DataFrame, list[str]]:
    """The file's observation rows (of ``tasks``; none when it has none of them) and every
    task the file has."""
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
        inf = np.isinf(num[c])  # 'inf' parses as a number; a diverged eval is not dropped either
        if bad.any() or inf.any():
            i = int(np.flatnonzero((bad | inf).to_numpy())[0])
            raise DataError(f"expected a {'finite ' if inf.iloc[i] else ''}number, got "
                            f"{raw[c].iloc[i]!r}", source=src, row=i + 1, column=str(c))
        _check_range(num[c], str(c), src)
    missing = num["_step"].isna() & num[LOSS_COLUMN].notna()
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataError("required value is missing (a loss without its step)", source=src,
                        row=i + 1, column="_step")
    num = _merge_repeated_steps(num, used, src)
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
        found.setdefault((task, m["fmt"], m["metric"]), {}).setdefault(m["split"] or "",
                                                                          []).append(c)
    # bits per byte of the correct answer is measured in cloze format only; it is the task's
    # continuous metric for the multiple-choice format too (the two-step baseline's task loss)
    for (task, _fmt, metric), splits in list(found.items()):
        if metric == "bpb" and any(k[0] == task and k[1] == "mc" for k in found):
            found[(task, "mc", "bpb")] = splits
    labels = {**_run_labels(path.stem), "run": run or path.stem}
    out = []
    for (task, fmt, raw_metric), splits in found.items():
        name = f"{task}_{fmt}"
        if tasks is not None and name not in tasks:
            continue
        # MC accuracy: the len_norm column when both exist (letter answers: the same number)
        if raw_metric == "acc" and fmt == "mc" and (task, fmt, "len_norm") in found:
            continue
        metric = "acc" if raw_metric == "len_norm" and fmt == "mc" else raw_metric
        cols = splits.get("test") or splits.get("val") or splits[""]
        val = num[cols].mean(axis=1, skipna=False).to_numpy(dtype=float)
        ok = np.isfinite(val) & np.isfinite(loss)
        chance = CHANCE.get(task, np.nan) if metric in ("acc", "len_norm") else np.nan
        for i in np.flatnonzero(ok):
            out.append({**labels, "checkpoint": f"step{int(step[i])}", "tokens": tokens[i],
                        "loss": float(loss[i]), "task": name, "metric": metric,
                        "value": float(val[i]), "setting": "fewshot", "shots": 5,
                        "chance": chance, "loss_source": "C4 validation loss"})
    in_file = sorted({f"{t}_{f}" for t, f, _ in found})
    if not out and (tasks is None or not in_file):
        raise DataError("no downstream evaluation columns with a C4 loss", source=src)
    if not out:  # --task names tasks of other files (7B MC tasks next to the cloze-only ladder)
        return pd.DataFrame(), in_file
    return validate_observations(rows_to_frame(out), src), in_file
