"""Loss-evaluation throughput (tokens/s): batched windows vs a per-document baseline.

Baseline, measured in the same run on the same model and corpus: the plain Hugging Face way,
one document per forward pass with ``labels=`` (what a quick script does). Ours: documents
concatenated into full windows, scored ``--batch-size`` at a time. Both losses are printed;
they differ slightly because ours gives tokens context across document boundaries.

    python benchmarks/bench_loss.py [--model PATH] [--docs 400] [--batch-size 8]
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
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from emergence_law.measure.loss import measure_loss
    from emergence_law.measure.models import load_model
    from emergence_law.tinylm import arithmetic_texts, make_tiny_lm

    texts = arithmetic_texts(args.docs, seed=7, per_text=4)
    if args.model:
        path = args.model
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_loss_"))
        path = make_tiny_lm(tmp / "lm", arithmetic_texts(200, per_text=8), steps=30,
                            d_model=128, n_layers=4, n_heads=4, alphabet="0123456789+=\n ")
    lm = load_model(path)
    model, tok = lm.model, lm.tokenizer

    def baseline() -> tuple[float, int]:
        total, count = 0.0, 0
        with torch.inference_mode():
            for t in texts:
                ids = torch.tensor([tok.encode(t) + [tok.eos_token_id]])
                out = model(input_ids=ids, labels=ids)
                n = ids.shape[1] - 1
                total += float(out.loss) * n
                count += n
        return total / count, count

    def ours():
        return measure_loss(model, tok, texts, batch_size=args.batch_size)

    baseline()
    ours()
    tb, to = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        loss_b, n_b = baseline()
        tb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = ours()
        to.append(time.perf_counter() - t0)
    mb, mo = statistics.median(tb), statistics.median(to)
    print(f"model {path} ({lm.n_params:,} parameters), {len(texts)} documents, "
          f"{args.threads} thread(s)")
    print(f"baseline (one document per forward): {n_b / mb:10.0f} tokens/s  loss {loss_b:.4f}")
    print(f"measure_loss (batch {args.batch_size} x {res.seq_len}): "
          f"{res.n_tokens / mo:10.0f} tokens/s  loss {res.loss:.4f}  "
          f"({res.bits_per_byte:.4f} bits/byte)")
    print(f"ratio (tokens/s ours / baseline): {(res.n_tokens / mo) / (n_b / mb):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
