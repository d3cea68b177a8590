"""The task scaling law's levels on a real ladder of tiny models trained here, with exact truth.

Five tiny Llamas (d_model 8..48, one layer, the test suite's addition task, same data and
steps) are trained; for 40 prompts "a+b=" each model's exact probability of writing the answer
then EOS is computed by teacher forcing (one forward pass per prompt). Fixed-budget counts are
then drawn from these real probabilities (Binomial(budget, p): the model's own sampling
distribution under an exact-match checker), each level fits the four smaller models and predicts
the largest, and the prediction is scored against the largest model's exact task mean. Repeated
over count draws; the law itself is whatever these real models do (no simulated law).

Run: nice -n 10 python benchmarks/bench_passuntil_ladder.py [--reps 20] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emergence_law.passuntil.law import LEVELS, TaskScalingLaw

SIZES = (8, 12, 16, 24, 32)


def exact_rates(n_prompts: int = 40, steps: int = 60) -> tuple[dict[int, np.ndarray], dict]:
    import torch

    from emergence_law.passuntil.exact_rate import answer_then_eos_probability
    from emergence_law.passuntil.generators import HFGenerator
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    prompts = [(int(a), int(b)) for a, b in rng.integers(0, 21, (n_prompts, 2))]
    rates, params = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        texts = arithmetic_texts(400, max_operand=20)
        for d in SIZES:
            path = Path(tmp) / f"d{d}"
            make_tiny_lm(path, texts, steps=steps, d_model=d, n_layers=1, n_heads=2, seq_len=32,
                         batch_size=16, max_len=64, alphabet="0123456789+=")
            gen = HFGenerator.from_pretrained(path, max_new_tokens=4, seed=0)
            params[d] = float(sum(p.numel() for p in gen.model.parameters()))
            out = []
            out = [answer_then_eos_probability(gen, f"{a}+{b}=", str(a + b))
                   for a, b in prompts]
            rates[d] = np.array(out)
    return rates, params


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rates, params = exact_rates()
    for d in SIZES:
        print(f"d{d}: N = {params[d]:.0f}, exact task mean {rates[d].mean():.4g} "
              f"(instances {rates[d].min():.2g}..{rates[d].max():.2g})")
    target = SIZES[-1]
    truth = float(rates[target].mean())
    rng = np.random.default_rng(1)
    rows = {lvl: [] for lvl in LEVELS}
    for rep in range(a.reps):
        recs = []
        for d in SIZES[:-1]:
            x = rng.binomial(a.budget, rates[d])
            recs += [{"model": f"d{d}", "params": params[d], "task": "add", "instance": f"i{i}",
                      "trials": a.budget, "passes": int(x[i])} for i in range(len(x))]
        counts = pd.DataFrame(recs)
        for lvl in LEVELS:
            try:
                pred = TaskScalingLaw(level=lvl, n_draws=200, seed=rep).fit(counts) \
                    .predict(params[target])
            except Exception as exc:  # noqa: BLE001 - counted as a failure
                print(f"{lvl}: {exc}")
                continue
            rows[lvl].append([pred.predicted_pass_rate, *pred.interval])
    print(f"\npredict d{target} (exact task mean {truth:.4g}) from the four smaller models, "
          f"fixed budget {a.budget}, {a.reps} draws of the counts:")
    print(f"  {'level':12s} {'cover90':>8} {'median pred':>12} {'med rel.err':>12} "
          f"{'med rel.width':>14}")
    out = {"truth": truth, "params": {str(k): v for k, v in params.items()},
           "exact_task_means": {str(k): float(v.mean()) for k, v in rates.items()}, "levels": {}}
    for lvl, v in rows.items():
        v = np.array(v)
        if len(v) == 0:
            continue
        cov = float(np.mean((v[:, 1] <= truth) & (truth <= v[:, 2])))
        rel = np.median(np.abs(v[:, 0] / truth - 1))
        width = np.median((v[:, 2] - v[:, 1]) / truth)
        out["levels"][lvl] = {"coverage90": cov, "median_prediction": float(np.median(v[:, 0])),
                              "median_abs_rel_error": float(rel),
                              "median_rel_width": float(width), "n": len(v)}
        print(f"  {lvl:12s} {cov:8.3f} {np.median(v[:, 0]):12.4g} {rel:12.3f} {width:14.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if a.out:
        a.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
