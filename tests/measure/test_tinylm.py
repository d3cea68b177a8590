"""tinylm: a real HF tokenizer and model that train, save and load back."""

from __future__ import annotations

import json

import pytest

from emergence_law.errors import OptionError

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_char_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    from emergence_law.tinylm import build_char_tokenizer

    tok = build_char_tokenizer("ab c\n")
    text = "ab c\nca b"
    ids = tok(text, add_special_tokens=False).input_ids
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text, add_special_tokens=False).input_ids == ids
    assert again.decode(ids) == text
    assert again.convert_ids_to_tokens(again("z", add_special_tokens=False).input_ids) == ["<unk>"]


def test_char_tokenizer_needs_characters():
    from emergence_law.tinylm import build_char_tokenizer

    with pytest.raises(OptionError, match="alphabet"):
        build_char_tokenizer("")


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_other_architectures_build_and_train(arch):
    from emergence_law.tinylm import build_char_tokenizer, build_tiny_model, train_tiny

    texts = ["abab" * 8, "baba" * 8]
    tok = build_char_tokenizer(texts=texts)
    model = build_tiny_model(len(tok), d_model=32, n_layers=1, n_heads=2, max_len=64, arch=arch)
    losses = train_tiny(model, tok, texts, steps=30, lr=1e-2, batch_size=4, seq_len=16)
    assert losses[-1] < 0.6 * losses[0]


def test_make_tiny_lm_loads_with_auto_classes_and_learned(tiny_lm):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    info = json.loads((tiny_lm / "training.json").read_text())
    assert info["final_loss"] < 0.7 * info["first_loss"]
    # the trained model predicts digits after '=' far above the uniform level over its vocabulary
    ids = torch.tensor([[tok.bos_token_id] + tok("12+3=", add_special_tokens=False).input_ids])
    with torch.no_grad():
        probs = model(ids).logits[0, -1].softmax(-1)
    digits = tok.convert_tokens_to_ids(list("0123456789"))
    assert float(probs[digits].sum()) > 0.9


def test_training_is_deterministic():
    from emergence_law.tinylm import build_char_tokenizer, build_tiny_model, train_tiny

    texts = ["1+1=2", "2+2=4"] * 10
    tok = build_char_tokenizer(texts=texts)
    runs = []
    for _ in range(2):
        model = build_tiny_model(len(tok), d_model=16, n_layers=1, n_heads=2, max_len=32, seed=3)
        runs.append(train_tiny(model, tok, texts, steps=5, batch_size=2, seq_len=8, seed=3))
    assert runs[0] == runs[1]


def test_bad_options_are_user_errors():
    from emergence_law.tinylm import build_tiny_model

    with pytest.raises(OptionError, match="arch"):
        build_tiny_model(10, arch="mamba")
    with pytest.raises(OptionError, match="d_model"):
        build_tiny_model(10, d_model=30, n_heads=4)


def test_char_tokenizer_prepends_bos_like_llama():
    from emergence_law.tinylm import build_char_tokenizer

    tok = build_char_tokenizer("ab")
    assert tok("ab").input_ids == [tok.bos_token_id] + tok("ab", add_special_tokens=False).input_ids
    assert tok.decode(tok("ab").input_ids, skip_special_tokens=True) == "ab"
