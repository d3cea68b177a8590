"""Pretraining (validation) loss of a checkpoint on a text corpus: the x-axis of emergence laws.

The corpus is tokenised document by document (with the tokenizer's special tokens, then EOS),
concatenated in file order, and cut into windows of ``seq_len`` tokens that overlap by exactly
one token, so every token after the first is predicted exactly once, with at most ``seq_len``
tokens of context. Windows are scored in batches; the order never depends on timing, so the
result is deterministic. Reported: nats per predicted token, bits per UTF-8 byte of text (the
tokenizer-independent figure), and the token and byte counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emergence_law.errors import DataError, SettingError
from emergence_law.jsonfile import jsonl_records, read_utf8

ProgressFn = Callable[[int, int], None]


@dataclass
class LossResult:
    """Loss of one model on one corpus."""

    loss: float  # nats per predicted token
    bits_per_byte: float
    n_tokens: int  # predicted tokens
    n_bytes: int  # UTF-8 bytes of the documents
    n_documents: int
    seq_len: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def summary(self) -> str:
        return (f"loss {self.loss:.4f} nats/token (perplexity {self.perplexity:.2f}), "
                f"{self.bits_per_byte:.4f} bits/byte over {self.n_tokens:,} tokens, "
                f"{self.n_bytes:,} bytes, {self.n_documents} documents (window {self.seq_len})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_corpus(path: str | Path, *, text_field: str = "text",
                max_documents: int | None = None) -> list[str]:
    """Documents of a corpus file: ``.txt`` (blank-line separated) or ``.jsonl`` (``text``)."""
    p = Path(path)
    raw = read_utf8(p, missing="corpus file not found", not_utf8="corpus is not UTF-8 text")
    docs: list[str] = []
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        for lineno, rec in itertools.islice(jsonl_records(raw, str(p)), max_documents):
            if not isinstance(rec, dict) or not isinstance(rec.get(text_field), str):
                raise DataError(f"each line needs a string field '{text_field}'", source=str(p),
                                row=lineno, column=text_field)
            docs.append(rec[text_field])
    elif p.suffix.lower() in (".txt", ".text", ""):
        docs = [d.strip("\n") for d in raw.split("\n\n") if d.strip()]
    else:
        raise DataError(f"unknown corpus type {p.suffix!r} (use .txt or .jsonl)", source=str(p))
    if max_documents is not None:
        docs = docs[:max_documents]
    if not docs:
        raise DataError("corpus has no documents", source=str(p))
    return docs


def _model_length(model: Any) -> int:
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(model.config, name, None)
        if v:
            return int(v)
    return 2048


def measure_loss(
    model: Any,
    tokenizer: Any,
    documents: Sequence[str],
    *,
    seq_len: int | None = None,
    batch_size: int = 8,
    max_tokens: int | None = None,
    progress: ProgressFn | None = None,
) -> LossResult:
    """Mean next-token loss (nats) of ``model`` over ``documents``, with bits per byte."""
    import torch

    if not documents:
        raise SettingError("documents", "no documents to measure")
    limit = _model_length(model)
    seq_len = min(int(seq_len or limit), limit)
    if seq_len < 2:
        raise SettingError("seq_len", f"must be at least 2, got {seq_len}")
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    n_bytes = 0
    n_docs = 0
    for doc in documents:
        ids = list(tokenizer.encode(doc))
        before = len(stream)
        stream.extend(ids)
        if eos is not None:
            stream.append(eos)
        n_docs += 1
        if max_tokens is not None and len(stream) > max_tokens + 1:
            stream = stream[:max_tokens + 1]
            # bytes of the text actually covered, not of the whole last document
            kept = ids[:len(stream) - before]
            n_bytes += len(tokenizer.decode(kept, skip_special_tokens=True).encode("utf-8"))
            break
        n_bytes += len(doc.encode("utf-8"))
    if len(stream) < 2:
        raise DataError("corpus is too short to measure a loss (fewer than 2 tokens)")
    # windows [s, s+seq_len) with s stepping by seq_len-1: each token predicted once
    step = seq_len - 1
    starts = list(range(0, len(stream) - 1, step))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total, count = 0.0, 0
    with torch.inference_mode():
        for b in range(0, len(starts), batch_size):
            chunk = [stream[s:s + seq_len] for s in starts[b:b + batch_size]]
            width = max(len(c) for c in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            for j, c in enumerate(chunk):
                ids[j, :len(c)] = torch.tensor(c)
                labels[j, :len(c)] = torch.tensor(c)
            ids, labels = ids.to(device), labels.to(device)
            logits = model(input_ids=ids).logits[:, :-1].float()
            target = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                reduction="sum")
            total += float(nll)
            count += int((target != -100).sum())
            if progress:
                progress(min(b + batch_size, len(starts)), len(starts))
    loss = total / count
    return LossResult(loss=loss, bits_per_byte=total / math.log(2) / max(1, n_bytes),
                      n_tokens=count, n_bytes=n_bytes, n_documents=n_docs,
                      seq_len=seq_len)
