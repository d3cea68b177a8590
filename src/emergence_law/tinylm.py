"""Tiny causal language models, built and trained on CPU in seconds.

No model hub is reachable here, yet every measuring, PassUntil, sweep and toy-lab test needs real
checkpoints: a real Hugging Face tokenizer and a real ``transformers`` model that save with
``save_pretrained`` and load back with ``AutoModelForCausalLM`` / ``AutoTokenizer``. Characters
are the tokens, so any text (digits, arithmetic, letters) can be modelled without training a
tokenizer, and a few hundred optimiser steps give a model that is visibly better than chance.

Needs the ``measure`` extra (torch, transformers, tokenizers).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emergence_law.errors import OptionError
from emergence_law.settings import with_overrides

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

#: special tokens by their role in a ``transformers`` tokenizer, in id order (ids 0..3)
TOKEN_ROLES = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
SPECIAL_TOKENS = tuple(TOKEN_ROLES.values())
PAD, UNK, BOS, EOS = SPECIAL_TOKENS
ARCHITECTURES = ("llama", "gpt2", "gpt_neox")


def build_char_tokenizer(
    alphabet: str | Iterable[str] | None = None,
    *,
    texts: Iterable[str] | None = None,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """A character-level fast tokenizer: one token per character, decoding joins them back.

    Give the ``alphabet`` (a string of characters) or ``texts`` to collect it from (or both).
    Unknown characters map to ``<unk>``. Like Llama tokenizers it prepends BOS when special
    tokens are added (the default), so ``len(tok(text).input_ids) == len(text) + 1``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars: set[str] = set()
    if alphabet is not None:
        chars.update(alphabet if isinstance(alphabet, str) else "".join(alphabet))
    if texts is not None:
        for t in texts:
            chars.update(t)
    if not chars:
        raise OptionError("alphabet", "no characters given (pass an alphabet or texts)")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(chars):
        if ch not in vocab:
            vocab[ch] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # every single character (newlines included) is its own pre-token
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    # like Llama tokenizers: encoding with special tokens prepends BOS, as the model was trained
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=model_max_length,
                                   clean_up_tokenization_spaces=False, **TOKEN_ROLES)


@dataclass(frozen=True)
class ModelShape:
    """A tiny causal LM's shape: width, depth, attention heads, context length and architecture
    (``llama``: OpenLLaMA's, ``gpt_neox``: Pythia's, or ``gpt2``); checked when made."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    max_len: int = 256
    arch: str = "llama"

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise OptionError("arch", f"unknown architecture {self.arch!r} "
                              f"(use {', '.join(ARCHITECTURES)})")
        if self.d_model % self.n_heads:
            raise OptionError("d_model", f"{self.d_model} is not divisible by "
                              f"n_heads={self.n_heads}")

    def config(self, vocab_size: int, **token_ids: int) -> Any:
        """The ``transformers`` config of this shape (``token_ids``: pad/bos/eos ids)."""
        from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig

        d = self.d_model
        if self.arch == "gpt2":
            return GPT2Config(vocab_size=vocab_size, n_embd=d, n_layer=self.n_layers,
                              n_head=self.n_heads, n_positions=self.max_len, **token_ids)
        common = dict(vocab_size=vocab_size, hidden_size=d, intermediate_size=4 * d,
                      num_hidden_layers=self.n_layers, num_attention_heads=self.n_heads,
                      max_position_embeddings=self.max_len, **token_ids)
        if self.arch == "llama":
            return LlamaConfig(num_key_value_heads=self.n_heads, tie_word_embeddings=True,
                               **common)
        return GPTNeoXConfig(tie_word_embeddings=False, **common)


@dataclass(frozen=True)
class TrainSettings:
    """How :func:`train_tiny` optimises: AdamW at peak ``lr`` after ``warmup`` linear steps,
    ``batch_size`` random windows of ``seq_len`` tokens per step."""

    lr: float = 3e-3
    batch_size: int = 16
    seq_len: int = 64
    warmup: int = 10


MODEL_SHAPE, TRAINING = ModelShape(), TrainSettings()


def build_tiny_model(
    vocab_size: int,
    shape: ModelShape = MODEL_SHAPE,
    *,
    seed: int = 0,
    pad_token_id: int = 0,
    bos_token_id: int = 2,
    eos_token_id: int = 3,
    **overrides: Any,
) -> PreTrainedModel:
    """A freshly initialised causal LM of the given :class:`ModelShape` (whose fields may also
    be given as keywords: ``build_tiny_model(40, d_model=32, arch="gpt2")``)."""
    import torch
    from transformers import AutoModelForCausalLM

    (shape,) = with_overrides("build_tiny_model", overrides, shape)
    config = shape.config(vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                          eos_token_id=eos_token_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    return model


def _token_stream(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> list[int]:
    """All texts, each as BOS + characters + EOS, concatenated."""
    stream: list[int] = []
    enc = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    for ids in enc:
        stream.append(tokenizer.bos_token_id)
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)
    return stream


def train_tiny(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    steps: int = 200,
    seed: int = 0,
    *,
    settings: TrainSettings = TRAINING,
    **overrides: Any,
) -> list[float]:
    """Train ``model`` in place for ``steps`` steps on random windows of the concatenated
    ``texts`` (:class:`TrainSettings`, whose fields may also be given as keywords).

    AdamW with linear warm-up and cosine decay; deterministic for a given seed. Returns the
    training loss (nats/token) of every step so callers can check that it fell.
    """
    import torch

    (settings,) = with_overrides("train_tiny", overrides, settings)
    lr, batch_size, warmup = settings.lr, settings.batch_size, settings.warmup

    if steps < 1:
        raise OptionError("steps", f"must be at least 1, got {steps}")
    if not texts:
        raise OptionError("texts", "no training texts given")
    stream = _token_stream(tokenizer, texts)
    max_pos = _max_positions(model)
    seq_len = min(settings.seq_len, max_pos, len(stream) - 1)
    if seq_len < 2:
        raise OptionError("texts", "training texts are too short (need at least 3 characters)")
    data = torch.tensor(stream, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    model.train()
    losses: list[float] = []
    n_windows = len(stream) - seq_len
    for _ in range(steps):
        starts = torch.randint(0, n_windows, (batch_size,), generator=gen)
        batch = torch.stack([data[s : s + seq_len] for s in starts.tolist()])
        out = model(input_ids=batch, labels=batch)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
    model.eval()
    return losses


def _max_positions(model: Any) -> int:
    cfg = model.config
    for name in ("max_position_embeddings", "n_positions"):
        v = getattr(cfg, name, None)
        if v:
            return int(v)
    return 1024


def make_tiny_lm(
    out_dir: str | Path,
    texts: Sequence[str],
    steps: int = 200,
    seed: int = 0,
    *,
    shape: ModelShape = MODEL_SHAPE,
    training: TrainSettings = TRAINING,
    alphabet: str | None = None,
    **overrides: Any,
) -> Path:
    """Build, train and save a tiny character-level LM; return the folder.

    The folder loads with ``AutoModelForCausalLM.from_pretrained(path)`` and
    ``AutoTokenizer.from_pretrained(path)``. ``alphabet`` (default: the characters of ``texts``)
    fixes the vocabulary, so models trained on different texts can share one tokenizer. Fields
    of :class:`ModelShape` and :class:`TrainSettings` may be given as keywords
    (``make_tiny_lm(path, texts, d_model=32, lr=1e-2)``).
    """
    import json

    import torch

    shape, training = with_overrides("make_tiny_lm", overrides, shape, training)
    out = Path(out_dir)
    tokenizer = build_char_tokenizer(alphabet, texts=texts, model_max_length=shape.max_len)
    model = build_tiny_model(len(tokenizer), shape, seed=seed,
                             pad_token_id=tokenizer.pad_token_id,
                             bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng():
        losses = train_tiny(model, tokenizer, texts, steps, seed, settings=training)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"steps": steps, "seed": seed, "arch": shape.arch, "d_model": shape.d_model,
              "n_layers": shape.n_layers, "n_heads": shape.n_heads, "lr": training.lr,
              "batch_size": training.batch_size, "seq_len": training.seq_len,
              "n_params": int(sum(p.numel() for p in model.parameters())),
              "first_loss": losses[0], "final_loss": losses[-1]}
    (out / "training.json").write_text(json.dumps(record, indent=1))
    return out


def arithmetic_texts(n: int = 400, seed: int = 0, max_operand: int = 20,
                     per_text: int = 1) -> list[str]:
    """Addition facts like ``"3+4=7"`` for toy tasks: cheap, learnable, checkable.

    With ``per_text > 1`` each text holds that many facts, one per line, the layout of a
    few-shot prompt.
    """
    rng = random.Random(seed)
    facts = []
    for _ in range(n * per_text):
        a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
        facts.append(f"{a}+{b}={a + b}")
    return ["\n".join(facts[i:i + per_text]) for i in range(0, len(facts), per_text)]
