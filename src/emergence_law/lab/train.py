"""Pretraining the family from scratch, saving real Hugging Face checkpoints along the way.

Every checkpoint is a ``save_pretrained`` folder (model + the family's tokenizer: characters
for arithmetic, words for facts, :mod:`.families`), so the project's
measurement code loads it like any hub checkpoint. Training is deterministic and resumable: the
batch of step ``s`` is drawn from a generator seeded by ``(seed, s)``, and the optimiser state
is kept with the latest checkpoint, so a run stopped at any point continues where its last
checkpoint left it and repeats no finished checkpoint.

Arithmetic: loss on answer tokens only (LAB-NOTES: operands are random, their loss is an
irreducible floor that hides learning). Facts: loss on every token, as the probes trained.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emergence_law.errors import SettingError
from emergence_law.jsonfile import read_json, write_json
from emergence_law.lab.families import MAX_LEN, corpus_of
from emergence_law.lab.family import LabScale, ModelSpec

DONE = "checkpoint.json"
STATE = "trainer_state.pt"


@dataclass(frozen=True)
class Checkpoint:
    """A finished checkpoint folder and what it cost."""

    model: str
    step: int
    path: Path
    params: int
    tokens: float  # training tokens seen (all positions of every row)

    @property
    def flops(self) -> float:
        return 6.0 * self.params * self.tokens


def checkpoint_dir(root: Path, spec: ModelSpec, step: int) -> Path:
    return Path(root) / spec.name / f"step-{step:06d}"


def _finished(root: Path, spec: ModelSpec) -> dict[int, Path]:
    out = {}
    base = Path(root) / spec.name
    if base.exists():
        for d in base.glob("step-*"):
            if (d / DONE).exists():
                out[int(d.name.split("-")[1])] = d
    return out


def _check_same_seed(done: dict[int, Path], spec: ModelSpec, scale: LabScale) -> None:
    """Refuse to resume from checkpoints of another pretraining seed: they would be kept as if
    they were this run's (``lab run --seed`` into the folder of an earlier run)."""
    for path in done.values():
        seed = read_json(path / DONE).get("seed", scale.seed)
        if seed != scale.seed:
            raise SettingError("seed", f"{path.parent} holds {spec.name} checkpoints of seed "
                               f"{seed}, not {scale.seed}: give each seed its own --out folder")


def _read_checkpoint(spec: ModelSpec, path: Path) -> Checkpoint:
    meta = read_json(path / DONE)
    return Checkpoint(spec.name, int(meta["step"]), path, int(meta["params"]),
                      float(meta["tokens"]))


def _lr(step: int, scale: LabScale) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak over the schedule (the whole run
    unless ``lr_steps`` is longer: a run stopped before its schedule ends)."""
    if step < scale.warmup:
        return scale.lr * (step + 1) / scale.warmup
    frac = (step - scale.warmup) / max(1, scale.schedule_steps - scale.warmup)
    return scale.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def save_control(spec: ModelSpec, scale: LabScale, root: str | Path) -> Checkpoint:
    """The never-pretrained member of the family (``step-000000``): the same architecture and
    initialisation pretraining starts from, saved like any checkpoint, for the gate
    (:mod:`emergence_law.lab.gate`). Written once; a rerun reads it back."""
    path = checkpoint_dir(Path(root), spec, 0)
    if not (path / DONE).exists():
        corpus = corpus_of(scale)
        model = _new_model(spec, scale, corpus.vocab_size)
        tokenizer = corpus.tokenizer()
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = {"model": spec.name, "step": 0, "params": int(sum(p.numel() for p in
                                                                 model.parameters())),
                "tokens": 0.0, "d_model": spec.d_model, "n_layers": spec.n_layers,
                "n_heads": spec.n_heads, "scale": scale.name, "seed": scale.seed,
                "control": True}
        write_json(tmp / DONE, meta)
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
    return _read_checkpoint(spec, path)


def _new_model(spec: ModelSpec, scale: LabScale, vocab_size: int) -> object:
    from emergence_law.tinylm import build_tiny_model

    return build_tiny_model(vocab_size, d_model=spec.d_model, n_layers=spec.n_layers,
                            n_heads=spec.n_heads, max_len=MAX_LEN, seed=scale.seed)


def train_family_member(
    spec: ModelSpec,
    scale: LabScale,
    root: str | Path,
    *,
    device: str = "cpu",
    advance: Callable[[int], None] | None = None,
) -> list[Checkpoint]:
    """Train one model of the family, saving every checkpoint of ``scale``; resume if possible.

    ``advance(n)`` is called after every ``n`` optimiser steps (progress bars).
    """
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own rich bar reports progress
    root = Path(root)
    done = _finished(root, spec)
    _check_same_seed(done, spec, scale)
    wanted = sorted(s for s in scale.checkpoints if s <= scale.steps)
    if all(s in done for s in wanted):
        if advance:
            advance(scale.steps)
        return [_read_checkpoint(spec, done[s]) for s in wanted]

    corpus = corpus_of(scale)
    tokenizer = corpus.tokenizer()
    model = _new_model(spec, scale, corpus.vocab_size)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=scale.lr, weight_decay=0.01,
                            betas=(0.9, 0.95))
    start = 0
    resumable = [s for s in done if (done[s] / STATE).exists()]
    if resumable:
        start = max(resumable)
        path = done[start]
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=scale.lr, weight_decay=0.01,
                                betas=(0.9, 0.95))
        opt.load_state_dict(torch.load(path / STATE, map_location=device))
    n_params = int(sum(p.numel() for p in model.parameters()))
    row_len = corpus.tokens_per_row
    if advance and start:
        advance(start)
    model.train()
    last_saved: Path | None = done.get(start) if start else None
    for step in range(start + 1, scale.steps + 1):
        rng = np.random.default_rng([scale.seed, 1, step])
        ids, mask = corpus.sample(scale.batch_size, rng)
        ids_t = torch.from_numpy(ids).to(device)
        labels = torch.where(torch.from_numpy(mask).to(device), ids_t, -100)
        for g in opt.param_groups:
            g["lr"] = _lr(step - 1, scale)
        loss = model(input_ids=ids_t, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if advance:
            advance(1)
        if step in wanted:
            path = checkpoint_dir(root, spec, step)
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            torch.save(opt.state_dict(), tmp / STATE)
            meta = {"model": spec.name, "step": step, "params": n_params,
                    "tokens": float(step * scale.batch_size * row_len),
                    "d_model": spec.d_model, "n_layers": spec.n_layers,
                    "n_heads": spec.n_heads, "scale": scale.name, "seed": scale.seed,
                    "train_loss": float(loss.detach())}
            write_json(tmp / DONE, meta)
            shutil.rmtree(path, ignore_errors=True)
            tmp.rename(path)  # a checkpoint exists only once it is complete
            if last_saved is not None and (last_saved / STATE).exists():
                (last_saved / STATE).unlink()  # keep optimiser state with the latest only
            last_saved = path
    model.eval()
    done = _finished(root, spec)
    return [_read_checkpoint(spec, done[s]) for s in wanted]
