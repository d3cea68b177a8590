"""Finetuning a checkpoint on D task examples (full or LoRA), then evaluating it.

Snell et al. measure how finetuning on D examples shifts the emergence point, so each
observation is (checkpoint, D, subset seed, method). Subsets are *nested* across D for one seed
(the first D of one fixed permutation of the training pool), so curves over D for a seed differ
only by the added data, and several seeds give the between-subset spread. Training examples are
checked against the evaluation split: a prompt in both is an error (or dropped on request),
because a finetuned model that saw eval items would fake emergence.

The model is trained on ``prompt + delimiter + answer + EOS`` with the loss on the answer tokens
only, tokenised exactly as the evaluator scores them, and evaluated zero-shot on the eval split
with the few-shot evaluator; the model stays in memory throughout (no save/reload). With
``pack: k`` a sequence holds k solved examples joined by the task's few-shot delimiter (the
format of a k-shot prompt), with the loss on every answer; ``append_eos: false`` drops the EOS.

Early stopping (``early_stopping_every``, off by default): the answer loss of
``early_stopping_n`` held-out examples is checked every that many steps and the best state is the
one evaluated. The held-out examples are taken out of the training pool *before* subsets are
drawn (a fixed draw of ``base_seed``), or are a split of the task of their own
(``early_stopping_split``, for pools whose examples come in several forms of one item), so they
are never in any D subset. Why: a fixed budget overfits small D and underfits large D; the
held-out loss picks the number of steps per run without looking at the evaluation split.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emergence_law.errors import DataError, SettingError

# the training settings are typed with the job kinds (torch-free: recipes are checked at plan time)
from emergence_law.jobkinds import METHODS, FinetuneHparams
from emergence_law.measure.fewshot import (
    FewshotResult,
    _encode,
    _max_length,
    encode_pair,
    evaluate_fewshot,
)
from emergence_law.measure.tasks import Example, Task

ProgressFn = Callable[[int, int], None]


def default_hparams(n_params: float, method: str = "full") -> FinetuneHparams:
    """Sensible defaults by model size: smaller models and LoRA adapters take larger rates."""
    if method not in METHODS:
        raise SettingError("method", f"unknown method {method!r} (use full or lora)")
    if n_params < 1e7:  # toy models trained here
        lr = 3e-3 if method == "full" else 1e-2
    elif n_params < 1e9:
        lr = 3e-5 if method == "full" else 3e-4
    else:  # OpenLLaMA-3B..13B scale (Snell et al. finetune with small rates)
        lr = 1e-5 if method == "full" else 1e-4
    return FinetuneHparams(lr=lr)


def method_label(method: str, lora_rank: int) -> str:
    """The observation table's ``method`` value: ``full`` or ``lora-r<rank>``."""
    return "full" if method == "full" else f"lora-r{lora_rank}"


# ---------------------------------------------------------------------------------------------
# data subsets


def subset_indices(n_pool: int, n_train: int, subset: int, *, base_seed: int = 0) -> list[int]:
    """The training subset of size ``n_train`` for subset seed ``subset``: nested across sizes.

    The first ``n_train`` of one permutation of the pool, fixed by ``(base_seed, subset)``.
    """
    if n_train < 1:
        raise SettingError("n_train", f"must be at least 1, got {n_train}")
    if n_train > n_pool:
        raise SettingError("n_train", f"{n_train} examples asked for but the training pool "
                           f"has only {n_pool}")
    perm = np.random.default_rng([int(base_seed), int(subset)]).permutation(n_pool)
    return [int(i) for i in perm[:n_train]]


def _key(ex: Example) -> str:
    return " ".join(ex.prompt.split())


def overlapping(train: Sequence[Example], evaluation: Sequence[Example]) -> list[Example]:
    """Training examples whose prompt (whitespace-normalised) also appears in the eval split."""
    keys = {_key(e) for e in evaluation}
    return [t for t in train if _key(t) in keys]


def training_pool(task: Task, *, drop_overlap: bool = False) -> list[Example]:
    """The task's training examples, checked to share no prompt with its eval split."""
    pool = task.examples(task.train_split)
    clash = overlapping(pool, task.examples(task.eval_split))
    if clash:
        if not drop_overlap:
            raise DataError(
                f"{len(clash)} training example(s) also appear in the eval split "
                f"'{task.eval_split}' (first: {clash[0].prompt!r}); remove them or allow "
                "dropping them (drop_overlap / --drop-overlap)",
                source=task.source, row=clash[0].index + 1)
        bad = {id(c) for c in clash}
        pool = [e for e in pool if id(e) not in bad]
    return pool


# ---------------------------------------------------------------------------------------------
# training


def _training_batches(tokenizer: Any, task: Task, examples: Sequence[Example],
                      max_len: int, append_eos: bool = True) -> list[tuple[list[int], list[int]]]:
    """Each example as one training sequence: its prompt, then its answer (the loss's target)."""
    eos = tokenizer.eos_token_id if append_eos else None
    out = []
    for ex in examples:
        ctx, cont = encode_pair(tokenizer, ex.prompt, task.target_delimiter + ex.answer_text)
        ids = ctx + cont + ([eos] if eos is not None else [])
        labels = [-100] * len(ctx) + ids[len(ctx):]
        out.append((ids[-max_len:], labels[-max_len:]))
    return out


def _continuation_segments(tokenizer: Any, task: Task, examples: Sequence[Example]
                           ) -> list[tuple[list[int], list[int]]]:
    """Each example as it continues a packed sequence: the few-shot delimiter, its prompt and
    its answer (the target), without the special tokens the tokenizer puts in front of a text.

    Like trl's packing, pieces are tokenised separately and joined; for BPE tokenizers the
    tokens at a join can differ from those of the whole text (never for character ones).
    """
    n_lead = len(_encode(tokenizer, ""))
    out = []
    for ex in examples:
        ctx, cont = encode_pair(tokenizer, task.fewshot_delimiter + ex.prompt,
                                task.target_delimiter + ex.answer_text)
        ctx = ctx[n_lead:]
        out.append((ctx + cont, [-100] * len(ctx) + cont))
    return out


class _Rows:
    """Training sequences from groups of example indices (one example each unless packed)."""

    def __init__(self, tokenizer: Any, task: Task, examples: Sequence[Example], max_len: int,
                 hp: FinetuneHparams) -> None:
        self.max_len = max_len
        self.pack = hp.pack
        self.eos = [tokenizer.eos_token_id] if hp.append_eos else []
        if self.pack == 1:
            self.single = _training_batches(tokenizer, task, examples, max_len, hp.append_eos)
        else:
            self.heads = _training_batches(tokenizer, task, examples, max_len, False)
            self.tails = _continuation_segments(tokenizer, task, examples)

    def __call__(self, group: Sequence[int]) -> tuple[list[int], list[int]]:
        if self.pack == 1:
            return self.single[group[0]]
        ids, labels = (list(x) for x in self.heads[group[0]])
        for i in group[1:]:
            ids += self.tails[i][0]
            labels += self.tails[i][1]
        ids += self.eos
        labels += self.eos
        return ids[-self.max_len:], labels[-self.max_len:]


@dataclass
class TrainReport:
    steps: int  # the planned budget (the setting); early stopping may end sooner
    first_loss: float
    final_loss: float
    trainable_params: int
    losses: list[float] = field(repr=False, default_factory=list)
    steps_run: int | None = None  # with early stopping: steps trained, and the state kept
    best_step: int | None = None
    early_stopping_loss: float | None = None  # the held-out answer loss of the state kept


def _heldout_loss(model: Any, rows: Sequence[tuple[list[int], list[int]]], pad: int,
                  batch: int = 64) -> float:
    """Mean NLL (nats per answer token) of ``rows`` (ids, labels) under ``model``."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(rows), batch):
            part = rows[i:i + batch]
            width = max(len(x) for x, _ in part)
            ids = torch.full((len(part), width), pad, dtype=torch.long)
            lab = torch.full((len(part), width), -100, dtype=torch.long)
            mask = torch.zeros((len(part), width), dtype=torch.long)
            for j, (x, y) in enumerate(part):
                ids[j, :len(x)], lab[j, :len(y)], mask[j, :len(x)] = (
                    torch.tensor(x), torch.tensor(y), 1)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            target = lab[:, 1:].to(device)
            total += float(torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), target, ignore_index=-100,
                reduction="sum"))
            count += int((target != -100).sum())
    model.train(was_training)
    return total / max(1, count)


def early_stopping_split(task: Task, pool: Sequence[Example], hp: FinetuneHparams,
                         base_seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(the training pool, the early-stopping examples) of one finetuning setting.

    ``early_stopping_split`` given: its first ``early_stopping_n`` examples, which must share
    no prompt with the pool. Otherwise ``early_stopping_n`` examples drawn from the pool (a
    fixed draw of ``base_seed``, the same for every D and subset seed) and removed from it.
    """
    n = hp.early_stopping_n
    if hp.early_stopping_split is not None:
        held = task.examples(hp.early_stopping_split)[:n]
        if len(held) < n:
            raise SettingError("early_stopping_n", f"{n} early-stopping examples asked for but "
                               f"split {hp.early_stopping_split!r} has {len(held)}")
        clash = overlapping(pool, held)
        if clash:
            raise DataError(f"{len(clash)} training example(s) are also early-stopping "
                            f"examples (first: {clash[0].prompt!r})", source=task.source)
        return list(pool), held
    if n >= len(pool):
        raise SettingError("early_stopping_n", f"{n} early-stopping examples leave nothing of "
                           f"the {len(pool)}-example training pool")
    out = set(np.random.default_rng([int(base_seed), 104729]).permutation(len(pool))[:n])
    return ([ex for i, ex in enumerate(pool) if i not in out],
            [ex for i, ex in enumerate(pool) if i in out])


def training_subset(task: Task, hp: FinetuneHparams, n_train: int, subset: int, *,
                    base_seed: int = 0, drop_overlap: bool = False
                    ) -> tuple[list[Example], list[Example]]:
    """(the ``n_train`` examples of subset ``subset``, the early-stopping examples) of one
    finetuning job: with early stopping on, its examples are held out of the pool *before*
    the subset is drawn, so no D subset ever holds one."""
    pool = training_pool(task, drop_overlap=drop_overlap)
    held: list[Example] = []
    if hp.early_stopping_every is not None:
        pool, held = early_stopping_split(task, pool, hp, base_seed)
    return ([pool[i] for i in subset_indices(len(pool), n_train, subset, base_seed=base_seed)],
            held)


def finetune_model(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: Sequence[Example],
    *,
    method: str = "full",
    hparams: FinetuneHparams | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    held_out: Sequence[Example] = (),
) -> tuple[Any, TrainReport]:
    """A finetuned copy of ``model`` (the original is untouched) and a training report.

    ``held_out``: the early-stopping examples (needed when ``early_stopping_every`` is set;
    see :func:`early_stopping_split`)."""
    import torch

    if method not in METHODS:
        raise SettingError("method", f"unknown method {method!r} (use full or lora)")
    if not examples:
        raise SettingError("examples", "no training examples")
    hp = hparams or default_hparams(sum(p.numel() for p in model.parameters()), method)
    torch.manual_seed(seed)  # LoRA's adapter init draws from torch's global generator
    with warnings.catch_warnings():  # transformers' deprecation notes on copying/peft wrapping
        warnings.simplefilter("ignore", FutureWarning)
        ft = copy.deepcopy(model)
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(r=hp.lora_rank, lora_alpha=hp.lora_alpha or 2 * hp.lora_rank,
                             lora_dropout=hp.lora_dropout, target_modules="all-linear",
                             task_type="CAUSAL_LM")
            ft = get_peft_model(ft, cfg)
    params = [p for p in ft.parameters() if p.requires_grad]
    if hp.pack < 1:
        raise SettingError("hparams", f"pack must be at least 1, got {hp.pack}")
    every = hp.early_stopping_every
    if every is not None and not held_out:
        raise SettingError("early_stopping_every", "early stopping needs held-out examples")
    rows = _Rows(tokenizer, task, examples, _max_length(model, tokenizer), hp)
    per_step = hp.batch_size * hp.pack
    steps = max(hp.min_steps, math.ceil(hp.epochs * len(examples) / per_step))
    if hp.max_steps is not None:
        steps = min(steps, hp.max_steps)
    opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    warm = max(1, int(hp.warmup_ratio * steps))

    def schedule(s: int) -> float:  # linear warm-up, then constant or linear decay to zero
        if s < warm:
            return (s + 1) / warm
        return 1.0 if hp.schedule == "constant" else max(0.0, (steps - s) / max(1, steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    trainable = [(n, p) for n, p in ft.named_parameters() if p.requires_grad]
    best: tuple[float, dict[str, Any] | None, int] = (math.inf, None, 0)
    val_rows: list[tuple[list[int], list[int]]] = []
    if every is not None:
        val_rows = _training_batches(tokenizer, task, held_out, _max_length(model, tokenizer),
                                     hp.append_eos)
        if hp.early_stopping_keep_start:
            best = (_heldout_loss(ft, val_rows, pad), _snapshot(trainable), 0)
    bad, done = 0, 0
    ft.train()
    losses = []
    for step in range(steps):
        while len(order) < per_step:
            order.extend(rng.permutation(len(examples)).tolist())
        idx, order = order[:per_step], order[per_step:]
        batch = [rows(idx[j:j + hp.pack]) for j in range(0, per_step, hp.pack)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        lab = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, (x, y) in enumerate(batch):
            ids[j, :len(x)] = torch.tensor(x)
            lab[j, :len(y)] = torch.tensor(y)
            mask[j, :len(x)] = 1
        out = ft(input_ids=ids.to(device), attention_mask=mask.to(device), labels=lab.to(device))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if hp.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
        done = step + 1
        if progress:
            progress(step + 1, steps)
        if every is not None and (done % every == 0 or done == steps):
            v = _heldout_loss(ft, val_rows, pad)
            if v < best[0]:
                best, bad = (v, _snapshot(trainable), done), 0
            else:
                bad += 1
                if bad >= hp.early_stopping_patience:
                    break
    ft.eval()
    report = TrainReport(steps=steps, first_loss=losses[0], final_loss=losses[-1],
                         trainable_params=int(sum(p.numel() for p in params)), losses=losses)
    if every is not None:
        import torch

        with torch.no_grad():
            for name, p in trainable:
                p.copy_(best[1][name])
        report.steps_run, report.best_step, report.early_stopping_loss = done, best[2], best[0]
    return ft, report


def _snapshot(trainable: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of the trainable parameters (the only ones finetuning changes)."""
    return {name: p.detach().clone() for name, p in trainable}


# ---------------------------------------------------------------------------------------------
# one observation: finetune on D examples, evaluate


@dataclass
class FinetuneResult:
    """One finetuned evaluation: which data, which method, what it scored."""

    n_train: int
    subset: int
    method: str
    hparams: FinetuneHparams
    train: TrainReport
    eval: FewshotResult

    def to_rows(self, **identity: Any) -> list[dict[str, Any]]:
        rows = self.eval.to_rows(**identity)
        for r in rows:
            r.update({"setting": "finetune", "n_train": self.n_train, "subset": self.subset,
                      "method": self.method, "train_steps": self.train.steps,
                      "train_loss": self.train.final_loss, "lr": self.hparams.lr})
            if self.train.best_step is not None:
                r.update({"steps_run": self.train.steps_run, "best_step": self.train.best_step,
                          "early_stopping_loss": self.train.early_stopping_loss})
        return rows

    def summary(self) -> str:
        m = ", ".join(f"{k} {v:.4f}" for k, v in self.eval.metrics.items())
        return (f"{self.method} on D={self.n_train} (subset {self.subset}): "
                f"{self.train.steps} steps, train loss {self.train.first_loss:.3f} -> "
                f"{self.train.final_loss:.3f}; eval {m}")

    def to_dict(self) -> dict[str, Any]:
        return {"n_train": self.n_train, "subset": self.subset, "method": self.method,
                "hparams": self.hparams.model_dump(), "train_steps": self.train.steps,
                "train_loss": self.train.final_loss, "eval": self.eval.to_dict()}


def finetune_and_evaluate(
    model: Any,
    tokenizer: Any,
    task: Task,
    n_train: int,
    subset: int = 0,
    *,
    method: str = "full",
    lora_rank: int | None = None,
    hparams: FinetuneHparams | dict[str, Any] | None = None,
    base_seed: int = 0,
    drop_overlap: bool = False,
    eval_limit: int | None = None,
    eval_shots: int = 0,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> FinetuneResult:
    """Finetune a copy of ``model`` on subset ``subset`` of size ``n_train``; evaluate it."""
    n_params = sum(p.numel() for p in model.parameters())
    base = default_hparams(n_params, method)
    hp = hparams if isinstance(hparams, FinetuneHparams) else FinetuneHparams.from_dict(
        hparams, base)
    if lora_rank is not None:
        if lora_rank < 1:
            raise SettingError("lora_rank", f"must be at least 1, got {lora_rank}")
        hp = hp.model_copy(update={"lora_rank": int(lora_rank)})
    chosen, held = training_subset(task, hp, n_train, subset, base_seed=base_seed,
                                   drop_overlap=drop_overlap)
    assert not overlapping(chosen, task.examples(task.eval_split))  # checked above
    ft, report = finetune_model(model, tokenizer, task, chosen, method=method, hparams=hp,
                                seed=base_seed * 1000 + subset, progress=progress,
                                held_out=held)
    result = evaluate_fewshot(ft, tokenizer, task, shots=eval_shots, limit=eval_limit,
                              batch_size=batch_size)
    return FinetuneResult(n_train=n_train, subset=subset, method=method_label(method, hp.lora_rank),
                          hparams=hp, train=report, eval=result)
