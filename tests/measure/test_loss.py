"""Pretraining loss on a corpus: exact against a direct computation, deterministic, counted."""

from __future__ import annotations

import json
import math

import pytest

from emergence_law.errors import DataError
from emergence_law.measure.loss import measure_loss, read_corpus

DOCS = ["1+2=3\n4+5=9", "10+10=20", "7+0=7\n3+3=6\n2+9=11"]


def _direct_nll(model, tokenizer, docs):
    """Sum of next-token NLL over the whole stream in ONE forward pass (it fits the window)."""
    import torch

    stream = []
    for d in docs:
        stream += tokenizer.encode(d) + [tokenizer.eos_token_id]
    ids = torch.tensor([stream])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum")
    return float(nll), len(stream) - 1


def test_loss_equals_direct_computation_and_counts_tokens(loaded_lm):
    nll, n = _direct_nll(loaded_lm.model, loaded_lm.tokenizer, DOCS)
    res = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS)
    assert res.n_tokens == n
    assert res.loss == pytest.approx(nll / n, rel=1e-5)
    n_bytes = sum(len(d.encode()) for d in DOCS)
    assert res.n_bytes == n_bytes
    assert res.bits_per_byte == pytest.approx(nll / math.log(2) / n_bytes, rel=1e-5)
    assert "nats/token" in res.summary()


def test_short_windows_predict_every_token_once_and_batching_is_irrelevant(loaded_lm):
    a = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS, seq_len=8, batch_size=1)
    b = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS, seq_len=8, batch_size=5)
    _, n = _direct_nll(loaded_lm.model, loaded_lm.tokenizer, DOCS)
    assert a.n_tokens == b.n_tokens == n
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    again = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS, seq_len=8, batch_size=5)
    assert again.loss == b.loss  # deterministic


def test_trained_model_has_lower_loss_than_untrained(loaded_lm):
    from emergence_law.tinylm import build_tiny_model

    fresh = build_tiny_model(len(loaded_lm.tokenizer), max_len=256, seed=1)
    good = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS)
    bad = measure_loss(fresh, loaded_lm.tokenizer, DOCS)
    # an untrained model is near the uniform level ln(V); the trained one far below it
    assert bad.loss == pytest.approx(math.log(len(loaded_lm.tokenizer)), abs=0.3)
    assert good.loss < bad.loss - 0.8


def test_max_tokens_caps_the_stream(loaded_lm):
    res = measure_loss(loaded_lm.model, loaded_lm.tokenizer, DOCS, max_tokens=10)
    assert res.n_tokens == 10 and res.n_documents == 1 and res.n_bytes < len(DOCS[0])


def test_corpus_files(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("a b\nc\n\n\nd e\n")
    assert read_corpus(txt) == ["a b\nc", "d e"]
    jl = tmp_path / "c.jsonl"
    jl.write_text(json.dumps({"text": "x"}) + "\n" + json.dumps({"body": "y"}) + "\n")
    with pytest.raises(DataError, match="row 2, column 'text'"):
        read_corpus(jl)
    assert read_corpus(jl, max_documents=1) == ["x"]
    with pytest.raises(DataError, match="corpus file not found"):
        read_corpus(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no documents"):
        read_corpus(tmp_path / "empty.txt")
