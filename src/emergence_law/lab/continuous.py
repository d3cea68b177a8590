"""Paper Fig. 13: does emergence show in a continuous metric too, at the same loss?

The lab's fifth answer (``continuous_emergence`` in ``lab_summary.json``), apart from the four
accuracy questions of :mod:`emergence_law.lab.results` because it reads another metric
(``logprob_norm``, the normalised log-probability of the correct choice) with its own chance
level and its own failure mode (a dip below chance before the rise).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from emergence_law.analysis.ground_truth import GroundTruth, ground_truth_emergence
from emergence_law.errors import EmergenceLawError
from emergence_law.lab.results import SUCCESS_NATS, fewshot_rows, ground_truth
from emergence_law.lab.task import lab_task

CONTINUOUS_METRIC = "logprob_norm"
#: a pre-elbow mean this far (nats) below chance counts as a dip: confidently wrong answers
DIP_NATS = 0.1


def log_chance(obs: pd.DataFrame) -> float:
    """Chance level of ``logprob_norm``: the table's ``log_chance`` when it has one, else the log
    of the accuracy's chance (a uniform scorer puts 1/k on the correct one of k choices)."""
    fs = fewshot_rows(obs, CONTINUOUS_METRIC)
    if "log_chance" in fs.columns:
        v = pd.to_numeric(fs["log_chance"], errors="coerce").dropna()
        if len(v):
            return float(v.iloc[0])
    ch = fewshot_rows(obs)["chance"].dropna()
    return float(math.log(float(ch.iloc[0]))) if len(ch) else math.log(0.25)


def continuous_ground_truth(obs: pd.DataFrame) -> GroundTruth | None:
    """The ReLU elbow of few-shot ``logprob_norm`` over every checkpoint; None when the table
    has no such rows or they never rise (the fitter's reason is then in
    :func:`continuous_emergence`)."""
    fs = fewshot_rows(obs, CONTINUOUS_METRIC)
    if fs.empty:
        return None
    try:
        return ground_truth_emergence(fs, lab_task(fs), metric=CONTINUOUS_METRIC)
    except EmergenceLawError:
        return None


def continuous_emergence(obs: pd.DataFrame, gt: GroundTruth | None = None) -> dict[str, Any]:
    """Paper Fig. 13: does emergence show in a continuous metric too, at the same loss?

    The metric is the log-probability of the correct choice normalised over the four choices
    (``logprob_norm``, chance ln 1/4). If accuracy only jumped because it thresholds a smoothly
    improving score, this metric would improve steadily from the weakest checkpoint on; a flat
    stretch at chance and then a rise, with an elbow near the accuracy elbow, says the
    capability itself appears there. ``gt``: the accuracy ground truth (computed if None).
    """
    fs = fewshot_rows(obs, CONTINUOUS_METRIC)
    out: dict[str, Any] = {"metric": CONTINUOUS_METRIC, "n_checkpoints": int(len(fs))}
    if fs.empty:
        out.update(available=False, answer=f"not measured: the table has no few-shot "
                                           f"{CONTINUOUS_METRIC} rows")
        return out
    if gt is None:
        try:
            gt = ground_truth(obs)
        except EmergenceLawError:
            gt = None
    chance = log_chance(obs)
    out.update(available=True, chance=chance, value_range=[float(fs["value"].min()),
                                                           float(fs["value"].max())],
               accuracy_elbow=gt.elbow if gt else None,
               accuracy_interval=list(gt.interval) if gt else None)
    try:
        gc = ground_truth_emergence(fs, lab_task(fs), metric=CONTINUOUS_METRIC)
    except EmergenceLawError as exc:
        out.update(elbow=None, note=str(exc),
                   answer=f"no: {CONTINUOUS_METRIC} shows no chance-then-rise elbow "
                          f"({str(exc).split(': ', 1)[-1]})")
        return out
    pre = fs[fs["loss"] > gc.elbow]
    out.update(elbow=gc.elbow, interval=list(gc.interval), params=dict(gc.params),
               pre_elbow_mean=float(pre["value"].mean()) if len(pre) else None,
               slope_per_nat=float(gc.params["A"]))
    if gt is None:
        out["answer"] = (f"{CONTINUOUS_METRIC} rises from {gc.elbow:.3f} nats, but accuracy has "
                         "no elbow to compare it with")
        return out
    diff = gc.elbow - gt.elbow
    overlap = gc.interval[0] <= gt.interval[1] and gt.interval[0] <= gc.interval[1]
    same = abs(diff) <= SUCCESS_NATS
    # where the fitted rise reaches chance: with a dip below chance first, the elbow marks the
    # bottom of the dip, and this is where the metric starts to say "better than guessing"
    A, B = float(gc.params["A"]), float(gc.params["B"])
    crossing = gc.elbow - (chance - B) / A if A > 0 and chance > B else gc.elbow
    dip = bool(len(pre)) and out["pre_elbow_mean"] < chance - DIP_NATS
    out.update(difference_nats=float(diff), intervals_overlap=bool(overlap),
               same_loss=bool(same), chance_crossing=float(crossing),
               crossing_minus_accuracy_elbow=float(crossing - gt.elbow),
               dips_below_chance=dip, min_value=float(fs["value"].min()))
    where = ("about the same loss" if same else
             f"a {'higher' if diff > 0 else 'lower'} loss than accuracy")
    if dip:
        low = fs.loc[fs["value"].idxmin()]
        out["answer"] = (
            f"yes, after a dip: few-shot {CONTINUOUS_METRIC} first falls below chance "
            f"({chance:.3f}; mean {out['pre_elbow_mean']:.3f} above the elbow, lowest "
            f"{float(low['value']):.3f} at loss {float(low['loss']):.3f}: the models grow "
            f"confident in wrong choices), bottoms out at {gc.elbow:.3f} nats (the ReLU's "
            f"elbow, 95% {gc.interval[0]:.3f}-{gc.interval[1]:.3f}), then rises by "
            f"{A:.2f} per nat and crosses chance at {crossing:.3f} nats, "
            f"{crossing - gt.elbow:+.3f} nats from the accuracy elbow {gt.elbow:.3f}; "
            "a ReLU describes the rise, not the dip")
        return out
    out["answer"] = (
        f"{'yes' if same else 'yes, but not at the same loss'}: few-shot {CONTINUOUS_METRIC} "
        f"stays near chance ({chance:.3f}; mean {out['pre_elbow_mean']:.3f} above the elbow) "
        f"until {gc.elbow:.3f} nats (95% {gc.interval[0]:.3f}-{gc.interval[1]:.3f}), then rises "
        f"by {A:.2f} per nat: {where} ({diff:+.3f} nats vs the accuracy elbow "
        f"{gt.elbow:.3f}; intervals {'overlap' if overlap else 'do not overlap'})")
    return out
