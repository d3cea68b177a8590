"""A fast few-shot evaluator: multiple choice by log-likelihood, and generative exact match.

Every evaluated example of a task shares one few-shot prefix (description + solved examples),
which is most of each prompt at 5 shots. It is run through the model ONCE; its key/value cache
is then replicated across a batch of (example, choice) continuations, so each batch only pays
for the example's own prompt and choice tokens. Tokenisation follows lm-eval-harness exactly
(trailing spaces move from context to continuation; the continuation's tokens are those of
``context + continuation`` after the context's), so accuracies equal the harness's on the same
prompts; a sequence whose tokens do not start with the prefix's tokens, or that is too long for
the model, is scored on its own without the cache.

Metrics (multiple choice): ``acc`` (argmax of the summed log-likelihood), ``acc_norm`` (per
character, as lm-eval), ``logprob`` (log-likelihood of the correct choice, nats) and
``logprob_norm`` (log of the correct choice's probability normalised over the choices, a
continuous version of accuracy) and ``prob_norm`` (that probability itself; chance 1/k). Generative: ``exact_match`` after cutting at the stop strings.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emergence_law.measure.models import forward_with_cache
from emergence_law.measure.tasks import Example, Task

ProgressFn = Callable[[int, int], None]


@dataclass
class FewshotResult:
    """Scores of one model on one task: aggregate metrics and a per-example table."""

    task: str
    kind: str
    shots: int
    n_eval: int
    chance: float
    metrics: dict[str, float]
    per_example: pd.DataFrame = field(repr=False)
    stderr: dict[str, float] = field(default_factory=dict)
    n_forward: int = 0

    def summary(self) -> str:
        lines = [f"task {self.task} ({self.kind}), {self.shots}-shot, {self.n_eval} examples, "
                 f"chance {self.chance:.3f}"]
        for k, v in self.metrics.items():
            se = self.stderr.get(k)
            lines.append(f"  {k:<14} {v:10.4f}" + (f"  ± {se:.4f}" if se is not None else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "kind": self.kind, "shots": self.shots,
                "n_eval": self.n_eval, "chance": self.chance, "metrics": dict(self.metrics),
                "stderr": dict(self.stderr)}

    def to_rows(self, **identity: Any) -> list[dict[str, Any]]:
        """Observation rows (one per metric); ``identity`` adds model, checkpoint, loss, …"""
        rows = []
        for metric, value in self.metrics.items():
            # the chance column holds non-negative levels; ln-chance goes in its own column
            chance = None if metric in ("logprob", "logprob_norm") else self.chance
            row = {"task": self.task, "metric": metric, "value": float(value),
                   "setting": "fewshot", "shots": self.shots, "n_eval": self.n_eval,
                   "chance": chance, "stderr": self.stderr.get(metric)}
            if metric == "logprob_norm":
                row["log_chance"] = float(self.per_example["log_chance"].mean())
            row.update(identity)
            rows.append(row)
        return rows


# ---------------------------------------------------------------------------------------------
# tokenisation (mirrors lm-eval-harness's HFLM)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text))


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation tokens exactly as lm-eval-harness makes them."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = _encode(tokenizer, context + continuation)
    ctx = _encode(tokenizer, context)
    return ctx, whole[len(ctx):]


def _prefix_token(tokenizer: Any) -> int:
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def _max_length(model: Any, tokenizer: Any) -> int:
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(model.config, name, None)
        if v:
            return int(v)
    mml = getattr(tokenizer, "model_max_length", None)
    return int(mml) if mml and mml < 1e9 else 2048


# ---------------------------------------------------------------------------------------------
# the shared-prefix scorer


class PrefixScorer:
    """Scores continuations after one fixed prefix, whose KV cache is computed once."""

    def __init__(self, model: Any, tokenizer: Any, prefix: str, *, batch_size: int = 32,
                 device: str | None = None) -> None:
        import torch

        self.model, self.tokenizer = model, tokenizer
        self.batch_size = max(1, int(batch_size))
        self.device = torch.device(device) if device else next(model.parameters()).device
        self.max_length = _max_length(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # with a BOS-adding tokenizer even an empty prefix shares its BOS token
        self.prefix_ids = _encode(tokenizer, prefix)
        self.n_forward = 0
        self.cache = None
        self.last_logprobs = None
        if len(self.prefix_ids) >= 1:
            with torch.inference_mode():
                ids = torch.tensor([self.prefix_ids], device=self.device)
                logits, self.cache = forward_with_cache(model, ids)
                self.n_forward += 1
            self.last_logprobs = logits[0, -1].float().log_softmax(-1)

    def score(self, requests: Sequence[tuple[str, str]],
              progress: ProgressFn | None = None) -> list[tuple[float, bool]]:
        """(sum log-likelihood, is-greedy) of each (context, continuation); context has prefix."""
        import torch

        encoded = []
        for ctx, cont in requests:
            if ctx:
                c, k = encode_pair(self.tokenizer, ctx, cont)
            else:  # lm-eval: an empty context becomes the prefix (BOS/EOS) token
                c, k = [_prefix_token(self.tokenizer)], _encode(self.tokenizer, cont)
            encoded.append((c, k))
        out: list[tuple[float, bool] | None] = [None] * len(encoded)
        P = len(self.prefix_ids)
        shared, alone = [], []
        for i, (c, k) in enumerate(encoded):
            full = c + k
            ok = (self.cache is not None and len(c) >= P and full[:P] == self.prefix_ids
                  and len(full) <= self.max_length + 1 and len(k) >= 1)
            (shared if ok else alone).append(i)
        # longest first: batches of similar lengths pad little
        shared.sort(key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
        done = 0
        with torch.inference_mode():
            alone.sort(key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
            for group, score in ((shared, self._score_shared), (alone, self._score_plain)):
                for b in range(0, len(group), self.batch_size):
                    idx = group[b:b + self.batch_size]
                    for i, r in zip(idx, score([encoded[i] for i in idx]), strict=True):
                        out[i] = r
                    done += len(idx)
                    if progress:
                        progress(done, len(encoded))
        return out  # type: ignore[return-value]

    def _score_shared(self, batch: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        import torch

        P = len(self.prefix_ids)
        rests = [(c + k)[P:] for c, k in batch]  # tokens after the prefix; >= 1 each
        inputs = [r[:-1] for r in rests]
        width = max(1, max(len(x) for x in inputs))
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long, device=self.device)
        for j, x in enumerate(inputs):
            if x:
                ids[j, :len(x)] = torch.tensor(x, device=self.device)
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(len(batch))
        # right padding: causal attention keeps pad tokens from touching real ones, no mask needed
        logits, _ = forward_with_cache(self.model, ids, cache)
        self.n_forward += 1
        results = []
        for j, (_c, k) in enumerate(batch):
            # rest[t] is predicted by input position t-1, rest[0] by the prefix's last position;
            # only the continuation's positions go through the (vocabulary-wide) softmax
            n_rest, n_k = len(rests[j]), len(k)
            first = n_rest - n_k
            lp = logits[j, max(0, first - 1):n_rest - 1].float().log_softmax(-1)
            if first == 0:
                lp = torch.cat([self.last_logprobs[None], lp], 0)
            tk = torch.tensor(rests[j][first:], device=self.device)
            ll = float(lp.gather(1, tk[:, None]).sum())
            greedy = bool((lp.argmax(-1) == tk).all())
            results.append((ll, greedy))
        return results

    def _score_plain(self, batch: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """Without the prefix cache: whole sequences, left-truncated to the model's length."""
        import torch

        fulls = [(c + k)[-(self.max_length + 1):] for c, k in batch]
        width = max(len(f) - 1 for f in fulls)
        ids = torch.full((len(batch), max(1, width)), self.pad_id, dtype=torch.long,
                         device=self.device)
        for j, f in enumerate(fulls):
            ids[j, :len(f) - 1] = torch.tensor(f[:-1], device=self.device)
        logits = self.model(input_ids=ids).logits
        self.n_forward += 1
        results = []
        for j, ((_c, k), f) in enumerate(zip(batch, fulls, strict=True)):
            n = len(f) - 1
            lp = logits[j, n - len(k):n].float().log_softmax(-1)
            tk = torch.tensor(k, device=self.device)
            results.append((float(lp.gather(1, tk[:, None]).sum()),
                            bool((lp.argmax(-1) == tk).all())))
        return results


# ---------------------------------------------------------------------------------------------
# evaluation


def _stderr(x: np.ndarray) -> float | None:
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None


def evaluate_fewshot(
    model: Any,
    tokenizer: Any,
    task: Task,
    *,
    shots: int | None = None,
    limit: int | None = None,
    split: str | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> FewshotResult:
    """Evaluate ``model`` on ``task`` (its eval split, or ``split``) with ``shots`` examples."""
    k = task.shots if shots is None else int(shots)
    examples = task.examples(split)
    if k > 0 and task.fewshot_split == (split or task.eval_split):
        # the prompt's solved examples come from the evaluated split: never score them
        used = {e.index for e in task.fewshot_examples(k)}
        examples = [e for e in examples if e.index not in used]
    if limit is not None:
        examples = examples[:limit]
    prefix = task.fewshot_prefix(k)
    if task.kind == "generate":
        return _evaluate_generate(model, tokenizer, task, examples, prefix, k, progress)
    scorer = PrefixScorer(model, tokenizer, prefix, batch_size=batch_size)
    requests, owner = [], []
    for ex in examples:
        ctx = prefix + ex.prompt
        for j, choice in enumerate(ex.choices or ()):
            requests.append((ctx, task.target_delimiter + choice))
            owner.append((ex.index, j))
    scores = scorer.score(requests, progress)
    per: dict[int, list[float]] = {}
    for (i, _j), (ll, _g) in zip(owner, scores, strict=True):
        per.setdefault(i, []).append(ll)
    rows = []
    for ex in examples:
        lls = np.array(per[ex.index])
        lens = np.array([len(task.target_delimiter + c) for c in ex.choices])
        gold = int(ex.answer)
        rows.append({
            "index": ex.index, "gold": gold, "n_choices": len(lls),
            "pred": int(np.argmax(lls)), "acc": float(np.argmax(lls) == gold),
            "acc_norm": float(np.argmax(lls / lens) == gold),
            "logprob": float(lls[gold]),
            "logprob_norm": float(lls[gold] - np.logaddexp.reduce(lls)),
            "prob_norm": float(np.exp(lls[gold] - np.logaddexp.reduce(lls))),
            "log_chance": -math.log(len(lls)),
            "choice_logprobs": [float(x) for x in lls],
        })
    df = pd.DataFrame(rows)
    names = ("acc", "acc_norm", "logprob", "logprob_norm", "prob_norm")
    return FewshotResult(
        task=task.name, kind=task.kind, shots=k, n_eval=len(df),
        chance=task.chance_level(examples),
        metrics={m: float(df[m].mean()) for m in names},
        stderr={m: _stderr(df[m].to_numpy()) for m in names},
        per_example=df, n_forward=scorer.n_forward,
    )


def _cut(text: str, until: Sequence[str]) -> str:
    for stop in until:
        if stop and stop in text:
            text = text[:text.index(stop)]
    return text


def _evaluate_generate(model: Any, tokenizer: Any, task: Task, examples: list[Example],
                       prefix: str, shots: int, progress: ProgressFn | None) -> FewshotResult:
    """Greedy decoding from the shared prefix's cache, one example at a time."""
    import torch

    scorer = PrefixScorer(model, tokenizer, prefix, batch_size=1)
    P = len(scorer.prefix_ids)
    rows = []
    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        for n, ex in enumerate(examples, 1):
            ids = _encode(tokenizer, prefix + ex.prompt)
            use_cache = scorer.cache is not None and ids[:P] == scorer.prefix_ids and len(ids) > P
            if use_cache:
                logits, cache = forward_with_cache(model, torch.tensor([ids[P:]]),
                                                   copy.deepcopy(scorer.cache))
            else:
                logits, cache = forward_with_cache(model, torch.tensor([ids]))
            gen: list[int] = []
            text = ""
            for _ in range(task.max_new_tokens):
                nxt = int(logits[0, -1].argmax())
                if nxt == eos:
                    break
                gen.append(nxt)
                text = tokenizer.decode(gen, skip_special_tokens=True)
                if any(s and s in text for s in task.until):
                    break
                logits, cache = forward_with_cache(model, torch.tensor([[nxt]]), cache)
            answer = _cut(text, task.until).strip()
            rows.append({"index": ex.index, "output": answer, "target": str(ex.answer).strip(),
                         "exact_match": float(answer == str(ex.answer).strip())})
            if progress:
                progress(n, len(examples))
    df = pd.DataFrame(rows)
    em = df["exact_match"].to_numpy()
    return FewshotResult(task=task.name, kind=task.kind, shots=shots, n_eval=len(df),
                         chance=task.chance_level(examples),
                         metrics={"exact_match": float(em.mean())},
                         stderr={"exact_match": _stderr(em)}, per_example=df)
