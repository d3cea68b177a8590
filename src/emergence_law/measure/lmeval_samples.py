"""lm-eval 0.4 per-document samples: continuous metrics from each document's log-likelihoods.

``samples_<task>_<date>.jsonl`` holds, per document, the log-likelihood of every choice; from it
come ``logprob`` (mean log-likelihood of the correct choice), ``logprob_norm`` (normalised over
the choices) and ``prob_norm``, continuous stand-ins for accuracy, and the chance level of
multiple-choice tasks (mean 1/number of choices). Used by the importer (:mod:`.lmeval_import`)
on files and by the runner (:mod:`.lmeval_run`) on samples still in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.errors import DataError
from emergence_law.measure.lmeval_json import _json_type, _number, _parse_json

# ---------------------------------------------------------------------------------------------
# 0.4 per-sample files


def _samples_file(results_path: Path, task: str) -> Path | None:
    date = results_path.stem[len("results_"):] if results_path.stem.startswith("results_") \
        else None
    if date is None:
        return None
    f = results_path.with_name(f"samples_{task}_{date}.jsonl")
    return f if f.exists() else None


def _gold_index(sample: dict, n_choices: int, continuations: Sequence[str]) -> int | None:
    target = sample.get("target")
    if isinstance(target, list):
        target = target[0] if target else None
    if target is None:
        return None
    t = str(target).strip()
    if re.fullmatch(r"\d+", t) and int(t) < n_choices:
        return int(t)
    stripped = [str(c).strip() for c in continuations]
    return stripped.index(t) if t in stripped else None


def _continuations(sample: dict) -> list[str]:
    args = sample.get("arguments") or {}
    if isinstance(args, dict):
        def order(key: str) -> tuple[int, str]:
            tail = str(key).rsplit("_", 1)[-1]
            return (int(tail), "") if tail.isdigit() else (1 << 30, str(key))

        ordered = [args[k] for k in sorted(args, key=order)]
        return [str(a.get("arg_1", "")) if isinstance(a, dict) else "" for a in ordered]
    if not isinstance(args, list):
        return []
    return [str(a[1]) if isinstance(a, (list, tuple)) and len(a) > 1 else "" for a in args]


def _per_sample(sample: dict, output_type: str) -> dict[str, Any] | None:
    """One document's continuous figures from its log-likelihoods (None when not applicable)."""
    resps = sample.get("filtered_resps")
    if output_type == "multiple_choice" and isinstance(resps, list) and resps:
        lls = np.array([_number(r[0] if isinstance(r, (list, tuple)) and r else r)
                        for r in resps], dtype=float)  # None -> nan
        if not np.isfinite(lls).all():
            return None
        gold = _gold_index(sample, len(lls), _continuations(sample))
        if gold is None:
            return None
        norm = float(lls[gold] - np.logaddexp.reduce(lls))
        return {"n_choices": len(lls), "gold": gold, "logprob": float(lls[gold]),
                "logprob_norm": norm, "choice_logprobs": json.dumps([float(x) for x in lls])}
    if output_type == "loglikelihood" and isinstance(resps, list) and resps:
        r = resps[0] if isinstance(resps[0], (list, tuple)) else resps
        ll = _number(r[0]) if r else None
        return None if ll is None else {"n_choices": None, "gold": None, "logprob": ll,
                                        "logprob_norm": None, "choice_logprobs": None}
    return None


def _read_samples(path: Path, output_type: str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            s = _parse_json(line, path, row=lineno)
            if not isinstance(s, dict):
                raise DataError(f"each line must be a JSON object (one document), got "
                                f"{_json_type(s)}", source=str(path), row=lineno)
            ps = _per_sample(s, output_type)
            if ps is not None:
                names = s.get("metrics") if isinstance(s.get("metrics"), list) else []
                metrics = {m: _number(s.get(m)) for m in names if isinstance(m, str)}
                out.append({"doc_id": s.get("doc_id"), **ps, **metrics})
    return out


def _mean_se(x: np.ndarray) -> tuple[float, float | None]:
    return float(x.mean()), (float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None)


def continuous_rows(recs: list[dict], output_type: str,
                    base: dict[str, Any]) -> tuple[list[dict], float | None]:
    """Rows of the continuous metrics from per-document records, and the accuracy chance level.

    ``logprob``: mean log-likelihood of the correct continuation (nats). Multiple choice adds
    ``logprob_norm`` (mean log of the correct choice's probability normalised over the choices;
    its chance level, mean −ln k, is in the extra column ``log_chance`` because the ``chance``
    column holds non-negative levels) and ``prob_norm`` (mean normalised probability; chance
    mean 1/k), a bounded continuous stand-in for accuracy.
    """
    if not recs:
        return [], None
    common = {**base, "setting": "fewshot", "n_eval": len(recs)}
    v, se = _mean_se(np.array([r["logprob"] for r in recs], dtype=float))
    rows = [{**common, "metric": "logprob", "value": v, "stderr": se, "chance": None}]
    if output_type != "multiple_choice":
        return rows, None
    ln = np.array([r["logprob_norm"] for r in recs], dtype=float)
    k = np.array([r["n_choices"] for r in recs], dtype=float)
    v, se = _mean_se(ln)
    rows.append({**common, "metric": "logprob_norm", "value": v, "stderr": se, "chance": None,
                 "log_chance": float(np.mean(-np.log(k)))})
    v, se = _mean_se(np.exp(ln))
    acc_chance = float(np.mean(1.0 / k))
    rows.append({**common, "metric": "prob_norm", "value": v, "stderr": se,
                 "chance": acc_chance})
    return rows, acc_chance
