"""Few-shot multiple-choice throughput: built-in evaluator vs lm-eval-harness's HF backend.

Same model object (in memory), same task, same examples, same prompts (the task is exported to
the harness as a local task with ``first_n`` few-shot sampling), same batch size; runs are
interleaved and the median of ``--repeats`` is compared. Accuracies must be identical and
per-choice log-likelihoods equal to float precision, or the script exits non-zero.

Goal: ratio (harness seconds / ours) >= 1, stretch >= 2, from scoring the shared few-shot prefix
once and batching (example, choice) continuations against its cached keys and values.

    python benchmarks/bench_fewshot.py                  # a small llama built and trained here
    python benchmarks/bench_fewshot.py --model path/to/SmolLM2-135M-Instruct.Q4_1.gguf
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder or .gguf (default: build a small llama)")
    ap.add_argument("--task", default="addition", help="task file or built-in task")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--limit", type=int, default=100, help="eval examples")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from emergence_law.measure.fewshot import evaluate_fewshot
    from emergence_law.measure.lmeval_run import run_lmeval
    from emergence_law.measure.models import load_model
    from emergence_law.measure.tasks import load_task
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    tmp = Path(tempfile.mkdtemp(prefix="bench_fewshot_"))
    if args.model:
        model_path = args.model
    else:
        t0 = time.perf_counter()
        model_path = make_tiny_lm(tmp / "lm", arithmetic_texts(300, per_text=8), steps=40,
                                  d_model=256, n_layers=4, n_heads=8, seq_len=64,
                                  alphabet="0123456789+=\n ")
        print(f"built a 4-layer d=256 llama in {time.perf_counter() - t0:.0f}s")
    lm = load_model(model_path)
    task = load_task(args.task, shots=args.shots)
    include = task.to_lmeval(tmp / "lmeval_task", shots=args.shots)
    name = next(include.glob("*.yaml")).stem
    n = min(args.limit, len(task.examples()))
    print(f"model {model_path} ({lm.n_params:,} parameters), task {task.name}, "
          f"{args.shots}-shot, {n} examples, batch {args.batch_size}, "
          f"{args.threads} thread(s)")

    def ours():
        return evaluate_fewshot(lm.model, lm.tokenizer, task, limit=n,
                                batch_size=args.batch_size)

    def harness():
        return run_lmeval(lm.model, lm.tokenizer, [name], include_path=include,
                          num_fewshot=args.shots, limit=n, batch_size=args.batch_size,
                          builtin_tasks=False)

    # scoring engines alone: the same (context, continuation) requests, no task handling
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from emergence_law.measure.fewshot import PrefixScorer

    prefix = task.fewshot_prefix()
    reqs = [(prefix + e.prompt, task.target_delimiter + c) for e in task.examples()[:n]
            for c in e.choices]
    hflm = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=args.batch_size,
                device="cpu")

    def ours_scoring():
        return PrefixScorer(lm.model, lm.tokenizer, prefix, batch_size=args.batch_size).score(reqs)

    def harness_scoring():
        inst = [Instance(request_type="loglikelihood", doc={}, arguments=r, idx=i)
                for i, r in enumerate(reqs)]
        return hflm.loglikelihood(inst, disable_tqdm=True)

    ours()  # warm-up: imports, kernels, the harness's task index
    harness()
    ours_scoring()
    harness_scoring()
    t_ours, t_harness = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        r_ours = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r_h = harness()
        t_harness.append(time.perf_counter() - t0)
    s_ours, s_harness = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ll_a = ours_scoring()
        s_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ll_b = harness_scoring()
        s_harness.append(time.perf_counter() - t0)
    score_diff = max(abs(a[0] - b[0]) for a, b in zip(ll_a, ll_b, strict=True))
    acc_h = r_h["results"][name]["acc,none"]
    samples = sorted(r_h["samples"][name], key=lambda s: s["doc_id"])
    ll_h = np.concatenate([[float(x[0]) for x in s["filtered_resps"]] for s in samples])
    ll_o = np.concatenate(r_ours.per_example["choice_logprobs"].tolist())
    max_diff = float(np.max(np.abs(ll_h - ll_o)))
    mo, mh = statistics.median(t_ours), statistics.median(t_harness)
    requests = int(sum(len(e.choices) for e in task.examples()[:n]))
    print(f"built-in : {mo:7.2f}s median  ({requests / mo:8.1f} choices/s)  acc {r_ours.metrics['acc']:.4f}")
    print(f"lm-eval  : {mh:7.2f}s median  ({requests / mh:8.1f} choices/s)  acc {acc_h:.4f}")
    print(f"ratio (lm-eval time / built-in time): {mh / mo:.2f}x   "
          f"[goal >= 1x, stretch >= 2x]; forward passes (built-in): {r_ours.n_forward}")
    print(f"identical accuracy: {r_ours.metrics['acc'] == acc_h}; "
          f"max |log-likelihood difference|: {max_diff:.2e}")
    so, sh = statistics.median(s_ours), statistics.median(s_harness)
    print(f"scoring only ({len(reqs)} requests): built-in {so:.2f}s, lm-eval HFLM.loglikelihood "
          f"{sh:.2f}s, ratio {sh / so:.2f}x; max |difference| {score_diff:.2e}")
    ok = r_ours.metrics["acc"] == acc_h and max_diff < 1e-3 and score_diff < 1e-3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
