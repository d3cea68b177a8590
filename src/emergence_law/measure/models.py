"""Loading a causal LM and its tokenizer: local folder, hub id + revision, or a GGUF file.

One entry point for every measuring job, so recipes can name Pythia ``stepN`` revisions,
OpenLLaMA step repos or OLMo branches the same way, and tests can pass local folders. Failures
(a missing folder, no hub access, a bad revision) become one-line :class:`ModelLoadError`s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emergence_law.errors import EmergenceLawError


class ModelLoadError(EmergenceLawError):
    """A model or tokenizer could not be loaded (path, hub id, revision or GGUF file)."""


@dataclass
class LoadedModel:
    """A model in evaluation mode, its tokenizer, and where they came from."""

    model: Any
    tokenizer: Any
    name: str
    revision: str | None
    n_params: int
    device: str

    def __iter__(self):  # allows ``model, tokenizer = load_model(...)``
        return iter((self.model, self.tokenizer))


def _dtype(dtype: str | None) -> Any:
    import torch

    if dtype in (None, "auto"):
        return None if dtype is None else "auto"
    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in table:
        raise ModelLoadError(f"option --dtype: unknown dtype {dtype!r} "
                             f"(use {', '.join(sorted(table))} or auto)")
    return table[dtype]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No transformers progress bar while loading: sweeps and the lab show their own rich bars,
    and a bar per loaded checkpoint (one per job, in every worker) would bury them."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def load_model(
    name_or_path: str | Path,
    revision: str | None = None,
    *,
    gguf_file: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    local_files_only: bool | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer for evaluation.

    ``name_or_path`` is a local folder (``save_pretrained`` output), a hub id (with
    ``revision``, e.g. ``stepN``), or a ``.gguf`` file (``gguf_file`` is then taken from the
    path; transformers dequantises it to torch weights). A local path never touches the network.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = str(name_or_path)
    p = Path(src).expanduser()
    if p.suffix.lower() == ".gguf":
        if not p.is_file():
            raise ModelLoadError(f"model {src}: GGUF file not found")
        gguf_file, src = p.name, str(p.parent)
        p = p.parent
    is_local = p.exists()
    if is_local and not p.is_dir():
        raise ModelLoadError(f"model {src}: expected a model folder or a .gguf file")
    if not is_local and (src.startswith((".", "/", "~")) or src.count("/") > 1):
        raise ModelLoadError(f"model {src}: folder not found")
    if local_files_only is None:
        local_files_only = is_local
    kwargs: dict[str, Any] = {"revision": revision, "local_files_only": local_files_only}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    torch_dtype = _dtype(dtype)
    try:
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(src, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                src, **kwargs, **({"dtype": torch_dtype} if torch_dtype is not None else {})
            )
    except (OSError, ValueError) as exc:
        where = f"{src}" + (f" (revision {revision})" if revision else "") + (
            f" [gguf {gguf_file}]" if gguf_file else "")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "" if is_local else " (no local folder of that name; is the hub reachable?)"
        raise ModelLoadError(f"model {where}: cannot be loaded: {first}{hint}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(torch.device(device))
    model.eval()
    n_params = int(sum(p.numel() for p in model.parameters()))
    return LoadedModel(model, tokenizer, str(name_or_path), revision, n_params, device)


class ModelCache:
    """Keeps the last loaded model, so consecutive jobs on one checkpoint load it once."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: LoadedModel | None = None

    def get(self, name_or_path: str, revision: str | None = None, **kwargs: Any) -> LoadedModel:
        key = (str(name_or_path), revision, tuple(sorted(kwargs.items())))
        if key != self._key or self._value is None:
            self._value = None  # free the old model before loading the next
            self._value = load_model(name_or_path, revision, **kwargs)
            self._key = key
        return self._value

    def clear(self) -> None:
        self._key, self._value = None, None


def _cache_keyword(model: Any) -> str:
    """The keyword this model's ``forward`` takes its KV cache by.

    transformers 5.2x renamed ``past_key_values`` to ``cache`` and warns on every call with the
    old name (it will be removed in 5.40); older releases only know the old one. Wrappers such
    as PEFT models take ``**kwargs``, so look at the model they wrap.
    """
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def forward_with_cache(model: Any, input_ids: Any, cache: Any = None) -> tuple[Any, Any]:
    """``(logits, cache)`` of one forward pass that extends ``cache`` (None: a fresh one).

    One place that speaks both spellings of transformers' cache API, so no caller passes a
    deprecated argument.
    """
    kwargs = {} if cache is None else {_cache_keyword(model): cache}
    out = model(input_ids=input_ids, use_cache=True, **kwargs)
    new = out.get("cache")
    if new is None:  # transformers < 5.2x
        new = out.get("past_key_values")
    return out.logits, new
