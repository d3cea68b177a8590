"""Sample generators: turn a prompt into ``n`` independent completions.

A generator is anything with ``sample(prompt, n) -> list[str]``. :class:`CallableGenerator` wraps
a Python function; :class:`HFGenerator` samples from a Hugging Face causal LM (local folder or hub
id) with temperature and nucleus (top-p) sampling.

Why a hand-written decoding loop in :class:`HFGenerator` (``method="cached"``, the default):
PassUntil draws up to 1e5 samples from the *same* prompt, in many batches. The loop runs the
prompt through the model once per instance, keeps its KV cache, and for each batch copies that
cache ``n`` times (``DynamicCache.batch_repeat_interleave``); rows that reached EOS or a stop
string leave the batch (``batch_select_indices``), so finished samples cost nothing. ``generate``
with ``num_return_sequences`` (``method="generate"``, kept for comparison) re-encodes the prompt
``n`` times in every batch and keeps decoding finished rows as padding. The temperature and top-p
warpers are transformers' own, so the sampling distribution is the library's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from emergence_law.errors import SettingError
from emergence_law.measure.models import forward_with_cache


class Generator(Protocol):
    def sample(self, prompt: str, n: int) -> list[str]: ...


class CallableGenerator:
    """Wrap ``fn(prompt, n) -> list[str]`` (or ``fn(prompt) -> str`` with ``batched=False``)."""

    def __init__(self, fn: Callable[..., Any], batched: bool = True) -> None:
        self.fn = fn
        self.batched = batched

    def sample(self, prompt: str, n: int) -> list[str]:
        if self.batched:
            out = list(self.fn(prompt, n))
            if len(out) != n:
                raise ValueError(f"generator returned {len(out)} completions, expected {n}")
            return [str(x) for x in out]
        return [str(self.fn(prompt)) for _ in range(n)]


def as_generator(obj: Any) -> Generator:
    """Accept a generator object or a plain callable ``fn(prompt, n)``."""
    if hasattr(obj, "sample"):
        return obj
    if callable(obj):
        return CallableGenerator(obj)
    raise SettingError("generator", f"expected a generator or a callable, got {type(obj).__name__}")


class HFGenerator:
    """Batched sampling from a Hugging Face causal LM that reuses the prompt's KV cache."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 32,
        stop: Sequence[str] = ("\n",),
        seed: int | None = 0,
        method: str = "cached",
        add_bos: bool = True,
    ) -> None:
        import torch

        if temperature <= 0:
            raise SettingError("temperature", f"must be positive for sampling, got {temperature}")
        if not 0 < top_p <= 1:
            raise SettingError("top_p", f"must lie in (0, 1], got {top_p}")
        if method not in ("cached", "generate"):
            raise SettingError("method", f"unknown method {method!r} (cached or generate)")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_new_tokens = int(max_new_tokens)
        self.stop = tuple(s for s in stop if s)
        self.method = method
        self.add_bos = add_bos
        self.device = next(model.parameters()).device
        self._gen = torch.Generator(device=self.device)
        if seed is not None:
            self._gen.manual_seed(int(seed))
        self._prefix: tuple[str, Any, Any] | None = None
        self.eos_id = tokenizer.eos_token_id
        self._stop_ids = self._single_token_stops()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, device: str | None = None,
                        dtype: str | None = None, **kwargs: Any) -> HFGenerator:
        """Load a local folder (or a hub id, where a hub is reachable) and its tokenizer."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = str(name_or_path)
        local = Path(src).expanduser()
        if local.exists():
            src = str(local)
            if not (local / "config.json").exists():
                raise SettingError("name_or_path",
                                   f"{local} has no config.json (not a model folder)")
        try:
            tok = AutoTokenizer.from_pretrained(src)
            torch_dtype = getattr(torch, dtype) if dtype else None
            model = AutoModelForCausalLM.from_pretrained(src, dtype=torch_dtype)
        except OSError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SettingError("name_or_path", f"cannot load {src!r}: {msg}") from None
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model.to(dev), tok, **kwargs)

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream (the engine calls this when it resumes a run, so that
        continued samples are not replays of the samples drawn before the interruption)."""
        self._gen.manual_seed(int(seed))

    # -- helpers ----------------------------------------------------------------------------
    def _single_token_stops(self) -> set[int] | None:
        """Token ids whose text contains a stop string; None if a stop needs several tokens."""
        if not self.stop:
            return set()
        ids: set[int] = set()
        covered = set()
        vocab = self.tokenizer.get_vocab()
        for s in self.stop:
            if len(s) == 1:  # one character cannot straddle tokens: a token holding it suffices
                covered.add(s)
        for i in vocab.values():
            text = self.tokenizer.decode([i])
            for s in self.stop:
                if s in text:
                    ids.add(i)
                    if text == s:
                        covered.add(s)
        return ids if covered == set(self.stop) else None

    def encode(self, prompt: str) -> list[int]:
        ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        bos = self.tokenizer.bos_token_id
        if self.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def _truncate(self, text: str) -> str:
        cut = len(text)
        for s in self.stop:
            j = text.find(s)
            if j >= 0:
                cut = min(cut, j)
        return text[:cut]

    def _warp(self, logits: Any) -> Any:
        from transformers.generation.logits_process import (
            TemperatureLogitsWarper,
            TopPLogitsWarper,
        )

        if self.temperature != 1.0:
            logits = TemperatureLogitsWarper(self.temperature)(None, logits)
        if self.top_p < 1.0:
            logits = TopPLogitsWarper(self.top_p)(None, logits)
        return logits

    def _prompt_state(self, prompt: str) -> tuple[Any, Any]:
        """The prompt's KV cache and next-token logits, computed once per prompt."""
        import torch

        if self._prefix is not None and self._prefix[0] == prompt:
            return self._prefix[1], self._prefix[2]
        ids = torch.tensor([self.encode(prompt)], device=self.device)
        with torch.inference_mode():
            logits, cache = forward_with_cache(self.model, ids)
        state = (cache, logits[:, -1, :].float())
        self._prefix = (prompt, *state)
        return state

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, prompt: str, n: int) -> list[str]:
        if n <= 0:
            return []
        if self.method == "generate":
            return self._sample_generate(prompt, n)
        return self._sample_cached(prompt, n)

    def _sample_cached(self, prompt: str, n: int) -> list[str]:
        import torch

        cache0, logits0 = self._prompt_state(prompt)
        cache = copy.deepcopy(cache0)
        cache.batch_repeat_interleave(n)
        logits = logits0.expand(n, -1)
        tokens = torch.empty((n, self.max_new_tokens), dtype=torch.long, device=self.device)
        lengths = torch.full((n,), self.max_new_tokens, dtype=torch.long)
        active = torch.arange(n, device=self.device)
        stop_ids = (torch.tensor(sorted(self._stop_ids), device=self.device)
                    if self._stop_ids else None)
        with torch.inference_mode():
            for t in range(self.max_new_tokens):
                probs = torch.softmax(self._warp(logits), dim=-1)
                nxt = torch.multinomial(probs, 1, generator=self._gen).squeeze(1)
                tokens[active, t] = nxt
                done = torch.zeros_like(nxt, dtype=torch.bool)
                if self.eos_id is not None:
                    done |= nxt == self.eos_id
                if stop_ids is not None:
                    done |= torch.isin(nxt, stop_ids)
                elif self.stop:  # multi-token stop strings: decode the active rows
                    texts = self.tokenizer.batch_decode(tokens[active, : t + 1])
                    done |= torch.tensor([any(s in x for s in self.stop) for x in texts],
                                         device=self.device)
                if done.any():
                    lengths[active[done].cpu()] = t + 1
                    keep = ~done
                    if not keep.any():
                        break
                    idx = keep.nonzero().squeeze(1)
                    cache.batch_select_indices(idx)
                    active, nxt = active[idx], nxt[idx]
                if t + 1 == self.max_new_tokens:
                    break
                logits, cache = forward_with_cache(self.model, nxt[:, None], cache)
                logits = logits[:, -1, :].float()
        rows = [row[:k] for row, k in zip(tokens.tolist(), lengths.tolist(), strict=True)]
        texts = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        return [self._truncate(x) for x in texts]

    def _sample_generate(self, prompt: str, n: int) -> list[str]:
        import torch

        ids = torch.tensor([self.encode(prompt)], device=self.device)
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                num_return_sequences=n, temperature=self.temperature, top_p=self.top_p,
                top_k=0, max_new_tokens=self.max_new_tokens, eos_token_id=self.eos_id,
                pad_token_id=pad if pad is not None else self.eos_id,
            )
        texts = self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        return [self._truncate(x) for x in texts]
