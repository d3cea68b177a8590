"""A real GGUF file (written here with ``gguf.GGUFWriter``) loads through ``load_model``.

A tiny random Llama is written as llama.cpp would write it (llama.* hyperparameters, F32
tensors named token_embd / blk.N.* / output_norm, q and k rows permuted for llama.cpp's rotary
layout, a sentencepiece-style ``tokenizer.ggml.*`` vocabulary), then loaded back with the
project's loader from the ``.gguf`` path: transformers must give the same logits and the same
vocabulary. No download, no hub.
"""

from __future__ import annotations

import pytest

from emergence_law.measure.models import load_model

pytest.importorskip("torch")
pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

ALPHABET = "0123456789+=abc"


def _permute(w, n_head: int):
    """llama.cpp's ``convert_hf_to_gguf`` permutation of q/k rows (transformers undoes it)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _write_llama_gguf(path, model, tokenizer) -> None:
    import numpy as np

    cfg = model.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = cfg.hidden_size // n_head
    rope = getattr(cfg, "rope_parameters", None) or {}
    rope_theta = float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)

    # sentencepiece-style vocabulary: ids as in the char tokenizer, a space spelled "▁"
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [tok.replace(" ", "\u2581") for tok, _ in by_id]
    special = {tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token}
    types = [gguf.TokenType.UNKNOWN if t == tokenizer.unk_token
             else gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL
             for t in tokens]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_token_types(types)
    w.add_bos_token_id(tokenizer.bos_token_id)
    w.add_eos_token_id(tokenizer.eos_token_id)
    w.add_unk_token_id(tokenizer.unk_token_id)
    w.add_pad_token_id(tokenizer.pad_token_id)

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        t = {
            "attn_norm": sd[p + "input_layernorm.weight"],
            "attn_q": _permute(sd[p + "self_attn.q_proj.weight"], n_head),
            "attn_k": _permute(sd[p + "self_attn.k_proj.weight"], n_kv),
            "attn_v": sd[p + "self_attn.v_proj.weight"],
            "attn_output": sd[p + "self_attn.o_proj.weight"],
            "ffn_norm": sd[p + "post_attention_layernorm.weight"],
            "ffn_gate": sd[p + "mlp.gate_proj.weight"],
            "ffn_up": sd[p + "mlp.up_proj.weight"],
            "ffn_down": sd[p + "mlp.down_proj.weight"],
        }
        for name, arr in t.items():
            w.add_tensor(f"blk.{i}.{name}.weight", np.ascontiguousarray(arr, dtype=np.float32))
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    # untied head: written as output.weight, so the loader must read it (not re-tie it)
    w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_file_loads_with_same_logits_and_vocab(tmp_path):
    import torch

    from emergence_law.tinylm import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer(ALPHABET)
    model = build_tiny_model(len(tok), d_model=32, n_layers=2, n_heads=4, max_len=64,
                             arch="llama", seed=0)
    # an untied, non-trivial head and norms, so a mixed-up tensor would show in the logits
    model.config.tie_word_embeddings = False
    torch.manual_seed(1)
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight) * 0.2)
        for name, prm in model.named_parameters():
            if name.endswith("norm.weight"):
                prm.copy_(1 + 0.1 * torch.randn_like(prm))
    path = tmp_path / "tiny-llama-f32.gguf"
    _write_llama_gguf(path, model, tok)

    lm = load_model(path)
    assert lm.model.config.model_type == "llama" and not lm.model.training
    assert lm.model.config.tie_word_embeddings is False  # output.weight was read
    assert lm.n_params == sum(p.numel() for p in model.parameters())

    ids = torch.tensor([[tok.bos_token_id, *tok("12+3=15", add_special_tokens=False).input_ids]])
    with torch.no_grad():
        want = model(input_ids=ids).logits
        got = lm.model(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()

    # the vocabulary comes back id for id, specials included
    vocab = lm.tokenizer.get_vocab()
    for t, i in tok.get_vocab().items():
        assert vocab[t.replace(" ", "\u2581")] == i
    assert (lm.tokenizer.bos_token_id, lm.tokenizer.eos_token_id) == (tok.bos_token_id,
                                                                      tok.eos_token_id)
    # and it encodes as the original does (BOS first, one id per character) and decodes back
    assert lm.tokenizer("12+3=15").input_ids == tok("12+3=15").input_ids == ids[0].tolist()
    assert lm.tokenizer.decode(ids[0, 1:].tolist()) == "12+3=15"
