"""Probes of the knowledge-extraction family (:mod:`emergence_law.lab.facts`), outside ``lab run``.

Why: before a task family goes into the lab's pipeline, its properties are measured cheaply
(LAB-NOTES: "measure before you commit"): does few-shot sit at chance and then rise, does a
never-pretrained control stay at chance after finetuning, does finetuned accuracy at a
pre-emergence checkpoint grow with the amount of data. This module is the code behind the
probe tables of docs/lab.md; it trains one model, keeps its checkpoints in memory (or a ``.pt``
file) and finetunes them on pool questions at several D.

    python -m emergence_law.lab.facts_probe pretrain --d 32 --steps 2000 --every 100 --out p.pt
    python -m emergence_law.lab.facts_probe finetune p.pt --d 32 --steps 0,400 --D 32,2048
    python -m emergence_law.lab.facts_probe xaxis p.pt --x tre --table fewshot.csv
    python -m emergence_law.lab.facts_probe finetune p.pt --steps 100,400 --table ft.csv
    python -m emergence_law.lab.facts_probe elbows table.csv   # few-shot and per-D elbows
    # the head-pool split (tail evaluation entities), LoRA, a D-scaled budget, early stopping
    python -m emergence_law.lab.facts_probe pretrain --split head-pool --stop 1000 --every 25 ...
    python -m emergence_law.lab.facts_probe finetune p.pt --method lora --x tru --table t.csv
    python -m emergence_law.lab.facts_probe finetune p.pt --epochs 16 --finetune-steps 20 \
        --check-every 10 --x tru --table t.csv
    # a question skill finetuning must teach (code words), balanced evaluated answers; the
    # world's config is stored in the file, so finetune/xaxis rebuild the same world
    python -m emergence_law.lab.facts_probe pretrain --split head-pool --extraction coded \
        --question-templates 16 --qa-share 0.02 --balanced --out c.pt
    # every code word of every pool fact (D up to 73,600), early stopping that may keep the
    # checkpoint untouched
    python -m emergence_law.lab.facts_probe finetune c.pt --pool all-codes --D 1024,65536 \
        --finetune-steps 600 --check-every 25 --patience 8 --keep-start --x tru --table t.csv

Evaluation: 3-shot multiple choice over every other evaluation fact (1,000 of 2,000), each with
its own three random pool examples; ``fewshot`` is its accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emergence_law.lab.facts import (
    ATTR_NAMES,
    BOS_ID,
    EXTRACTIONS,
    HELDOUT_TEMPLATE,
    SPLITS,
    TASK_MC,
    FactsConfig,
    FactWorld,
)


@dataclass
class ProbeItem:
    """One 3-shot question: the context ids and the ids of the 4 choices (the true one first)."""

    context: list[int]
    choices: list[int]


def probe_items(world: FactWorld, seed: int = 0, shots: int = 3) -> list[ProbeItem]:
    """Every other evaluation fact as a 3-shot item with its own random pool examples."""
    rng = np.random.default_rng([seed, 2])
    trng = np.random.default_rng([seed, 43])  # code words (coded extraction only)
    n_t = world.n_question_templates
    items = []
    for e in world.eval_entities:
        for k in range(len(ATTR_NAMES)):
            true = int(world.facts[e, k])
            others = world.distractors(int(e), k, rng)
            ctx: list[int] = []
            for _ in range(shots):
                pe = int(world.pool_entities[rng.integers(len(world.pool_entities))])
                ctx += world.encode(world.qa(pe, int(rng.integers(len(ATTR_NAMES))),
                                             int(trng.integers(n_t))))
            ctx += world.encode(world.question(int(e), k, int(trng.integers(n_t))))
            values = world.values(k)
            items.append(ProbeItem(ctx, [world.vocab[values[int(v)]] for v in
                                         (true, *others)]))
    return items[::2]


def fewshot_scores(model: Any, items: list[ProbeItem], batch: int = 512) -> dict[str, float]:
    """``acc``, the share of items whose true value has the highest logit among the 4 choices,
    and ``logprob_norm``, the mean log-probability of the true value normalised over the
    choices (the continuous metric the two-step baseline and the continuous-emergence check
    read; chance ln 1/4)."""
    import torch

    correct, logp_sum = 0, 0.0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(items), batch):
            part = items[i:i + batch]
            width = max(len(it.context) for it in part) + 1
            x = torch.zeros(len(part), width, dtype=torch.long)
            for j, it in enumerate(part):
                x[j, 0] = BOS_ID
                x[j, 1:len(it.context) + 1] = torch.tensor(it.context)
            logits = model(input_ids=x).logits
            for j, it in enumerate(part):
                z = logits[j, len(it.context), it.choices]
                correct += int(z.argmax() == 0)
                logp_sum += float(z.log_softmax(-1)[0])
    return {"acc": correct / len(items), "logprob_norm": logp_sum / len(items)}


def fewshot_accuracy(model: Any, items: list[ProbeItem], batch: int = 512) -> float:
    """Share of items whose true value has the highest logit among the 4 choices."""
    return fewshot_scores(model, items, batch)["acc"]


def answer_loss(model: Any, statements: list[list[int]], batch: int = 512) -> float:
    """Mean NLL of each statement's value token (the one before the final ``.``)."""
    import torch

    total = 0.0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(statements), batch):
            part = statements[i:i + batch]
            width = max(map(len, part)) + 1
            x = torch.zeros(len(part), width, dtype=torch.long)
            for j, q in enumerate(part):
                x[j, 0] = BOS_ID
                x[j, 1:len(q) + 1] = torch.tensor(q)
            logp = model(input_ids=x).logits.log_softmax(-1)
            for j, q in enumerate(part):
                total -= float(logp[j, len(q) - 2, q[-2]])
    return total / len(statements)


def heldout_rows(world: FactWorld, seed: int = 0, n: int = 512) -> np.ndarray:
    """Rows of the pretraining distribution that training never draws (its rows come from
    generators seeded ``(seed, 1, step)``; these from ``(seed, 97)``): the ``val`` x-axis,
    the held-out pretraining loss the paper puts on its x-axis."""
    return world.sample_rows(n, np.random.default_rng([seed, 97]))[0]


def corpus_loss(model: Any, ids: np.ndarray, batch: int = 128) -> float:
    """Mean NLL per real token (BOS excluded, padding 0 ignored) of ``ids``: ``val``."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(ids), batch):
            x = torch.from_numpy(ids[i:i + batch])
            logp = model(input_ids=x).logits[:, :-1].log_softmax(-1)
            y = x[:, 1:]
            nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            mask = y != 0
            total += float(nll[mask].sum())
            count += int(mask.sum())
    return total / count


def x_axis_sets(world: FactWorld, seed: int = 0) -> dict[str, list[list[int]]]:
    """Statement sets whose answer loss is a candidate x-axis: held-out template, Zipf-weighted
    (``hoz``) and over the evaluation entities (``hoe``); training templates, Zipf-weighted
    (``trz``: how much of the pretraining facts the model has stored, head-dominated).

    Uniform over entities (every entity weighs the same, so the tail counts): ``tre``, every
    fact of every evaluation entity once in a training template drawn at random (the facts the
    task asks about, as pretraining stated them); ``tru``, 2,000 facts of entities drawn
    uniformly from all entities, training templates (no evaluation entity needed).

    ``trp``: every fact of every 4th pool entity in a training template (how much of what
    finetuning asks about is stored; with ``split="head-pool"`` it leads ``tre``).

    Question format: ``qap``, the 0-shot answer loss of the QA lines of every 4th pool entity
    (their QA lines are never in pretraining; measured on pretrained checkpoints only)."""
    n = world.cfg.n_entities
    rng = np.random.default_rng([seed, 8])
    hoz = [world.encode(world.statement(int(rng.choice(n, p=world.probs)),
                                        int(rng.integers(4)), HELDOUT_TEMPLATE))
           for _ in range(1000)]
    hoe = [world.encode(world.statement(int(e), k, HELDOUT_TEMPLATE))
           for e in world.eval_entities for k in range(len(ATTR_NAMES))]
    rng = np.random.default_rng([seed, 19])
    trz = [world.encode(world.statement(int(rng.choice(n, p=world.probs)),
                                        int(rng.integers(4)), int(rng.integers(3))))
           for _ in range(2000)]
    rng = np.random.default_rng([seed, 23])
    tre = [world.encode(world.statement(int(e), k, int(rng.integers(3))))
           for e in world.eval_entities for k in range(len(ATTR_NAMES))]
    rng = np.random.default_rng([seed, 29])
    tru = [world.encode(world.statement(int(rng.integers(n)), int(rng.integers(4)),
                                        int(rng.integers(3))))
           for _ in range(2000)]
    trng = np.random.default_rng([seed, 47])
    qap = [world.encode(world.qa(int(e), k, int(trng.integers(world.n_question_templates))))
           for e in world.pool_entities[::4] for k in range(len(ATTR_NAMES))]
    rng = np.random.default_rng([seed, 31])
    trp = [world.encode(world.statement(int(e), k, int(rng.integers(3))))
           for e in world.pool_entities[::4] for k in range(len(ATTR_NAMES))]
    return {"hoz": hoz, "hoe": hoe, "trz": trz, "tre": tre, "tru": tru, "qap": qap,
            "trp": trp}


#: the x-axis candidates written to the observation table's ``loss`` column (``--x``)
X_AXES = ("trz", "tre", "tru", "qap", "hoz", "hoe", "trp", "val")
TABLE_COLUMNS = ("series", "model", "checkpoint", "params", "tokens", "flops", "loss", "task",
                 "metric", "value", "setting", "shots", "n_train", "subset", "method",
                 "n_eval", "chance")


def observation_row(*, d: int, params: int, step: int, tokens_per_step: int, loss: float,
                    value: float, n_eval: int, n_train: int | None = None,
                    subset: int | None = None, method: str = "full",
                    metric: str = "acc") -> dict[str, Any]:
    """One row of the project's observation table (README "The observation table"): few-shot
    when ``n_train`` is None, else full finetuning on ``n_train`` pool questions. Why: the
    probes feed the core's fits (``ground_truth_emergence``, ``EmergenceLaw``) unchanged."""
    tokens = float(step * tokens_per_step)
    return {"series": "facts", "model": f"d{d}", "checkpoint": f"step-{step:06d}",
            "params": params, "tokens": tokens, "flops": 6.0 * params * tokens, "loss": loss,
            "task": TASK_MC, "metric": metric, "value": value,
            "setting": "fewshot" if n_train is None else "finetune", "shots": 3,
            "n_train": n_train, "subset": subset,
            "method": None if n_train is None else method, "n_eval": n_eval,
            "chance": 0.25 if metric == "acc" else None}


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write observation rows as CSV (atomically), columns in the README's order."""
    import pandas as pd

    from emergence_law.observations import write_csv_atomic

    return write_csv_atomic(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), path)


def elbows(table: Any) -> dict[str, dict[str, Any]]:
    """ReLU-or-hinge elbow (core ``fit_elbow``, 95% profile interval) of the few-shot rows and
    of the finetuned rows of each D, each on the table's ``loss`` axis; a group that cannot be
    fitted (no rise, no flat base) gets its reason instead. Why: the per-D elbows E(D) are what
    the emergence law extrapolates, so the x-axis is judged by whether they are ordered by D."""
    import pandas as pd

    from emergence_law.analysis.ground_truth import fit_elbow
    from emergence_law.errors import EmergenceLawError

    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    groups = [("fewshot", df[df["setting"] == "fewshot"])]
    ft = df[df["setting"] != "fewshot"]
    groups += [(f"D={int(n)}", ft[ft["n_train"] == n]) for n in sorted(ft["n_train"].unique())]
    out: dict[str, dict[str, Any]] = {}
    for name, rows in groups:
        try:
            g = fit_elbow(rows["loss"].to_numpy(float), rows["value"].to_numpy(float),
                          task=TASK_MC)
            out[name] = {"elbow": g.elbow, "interval": list(g.interval), "kind": g.model_kind,
                         "n_rows": len(rows)}
        except EmergenceLawError as e:
            out[name] = {"error": str(e).splitlines()[0], "n_rows": len(rows)}
    return out


def new_model(world: FactWorld, d: int, seed: int = 0) -> Any:
    from emergence_law.tinylm import build_tiny_model

    return build_tiny_model(len(world.words), d_model=d, n_layers=2, n_heads=4, max_len=256,
                            seed=seed)


def pretrain(world: FactWorld, d: int, steps: int, every: int, *, batch: int = 32,
             lr: float = 3e-3, seed: int = 0, out: Path | None = None,
             log=print, stop: int | None = None) -> tuple[dict[int, dict], list[dict]]:
    """Train a d-wide 2-layer model, measuring and keeping a checkpoint every ``every`` steps.

    Warm-up 50 steps, cosine to 10% over ``steps``; loss on every token; batch ``batch`` rows,
    the rows of step s drawn from a generator seeded by (seed, 1, s). ``stop``: end after that
    step (same schedule), for dense checkpoints of the early part of a long run.
    """
    import torch

    model = new_model(world, d, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    meta = {"d": d, "split": world.cfg.split, "config": dataclasses.asdict(world.cfg)}
    items, sets = probe_items(world, seed), x_axis_sets(world, seed)
    ckpts: dict[int, dict] = {}
    records: list[dict] = []
    t0 = time.time()
    model.train()
    for step in range(1, min(steps, stop or steps) + 1):
        ids, _ = world.sample_rows(batch, np.random.default_rng([seed, 1, step]))
        x = torch.from_numpy(ids)
        for g in opt.param_groups:
            g["lr"] = lr * min(1, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(
                math.pi * step / steps)))
        loss = model(input_ids=x, labels=torch.where(x == 0, -100, x)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % every == 0 or step in (steps, stop):
            rec = {"step": step, "train": float(loss.detach()),
                   **{k: answer_loss(model, v) for k, v in sets.items()},
                   "fewshot": fewshot_accuracy(model, items), "seconds": time.time() - t0}
            records.append(rec)
            log(json.dumps(rec))
            ckpts[step] = {k: v.clone() for k, v in model.state_dict().items()}
            if out is not None:
                torch.save({"ckpts": ckpts, "records": records, **meta}, out)
            model.train()
    return ckpts, records


def main(argv: list[str] | None = None) -> None:
    import torch

    from emergence_law.lab.facts_finetune import POOLS, finetune  # it imports this module

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(prog="python -m emergence_law.lab.facts_probe")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pretrain")
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stop", type=int, default=None, help="end after this step")
    p.add_argument("--split", choices=SPLITS, default="interleaved",
                   help="evaluation entities: every 4th Zipf rank, or the rarest quarter "
                        "(head-pool); stored in the checkpoint file")
    p.add_argument("--extraction", choices=EXTRACTIONS, default="direct",
                   help="coded: questions name the attribute by a code word (shared values, "
                        "the entity's other values as distractors); stored in the file")
    p.add_argument("--question-templates", type=int, default=32,
                   help="code words per attribute (coded)")
    p.add_argument("--qa-share", type=float, default=0.0025,
                   help="share of pretraining lines that are QA-trace lines")
    p.add_argument("--balanced", action="store_true",
                   help="evaluated answers balanced per attribute (fact-blind prior = 1/4)")
    p.add_argument("--seed", type=int, default=0,
                   help="pretraining seed: initialisation and batch order (the world is fixed "
                        "by its config; measure few-shot on the common items with `xaxis`)")
    x = sub.add_parser("xaxis", help="every x-axis candidate and the few-shot accuracy of "
                                     "each checkpoint of a pretrain file")
    x.add_argument("checkpoints", type=Path)
    x.add_argument("--d", type=int, default=32)
    f = sub.add_parser("finetune")
    f.add_argument("checkpoints", type=Path)
    f.add_argument("--d", type=int, default=32)
    f.add_argument("--steps", default="0", help="checkpoint steps, comma-separated (0: control)")
    f.add_argument("--D", default="32,128,512,2048", help="data amounts, comma-separated")
    f.add_argument("--finetune-steps", type=int, default=100)
    f.add_argument("--subset", type=int, default=0, help="finetuning subset seed")
    f.add_argument("--method", choices=("full", "lora"), default="full")
    f.add_argument("--pool", choices=POOLS, default="one-code",
                   help="finetuning questions: each pool fact with one fixed code word, or "
                        "with every code word (coded extraction; D beyond the pool's facts)")
    f.add_argument("--lora-rank", type=int, default=4)
    f.add_argument("--lr", type=float, default=None,
                   help="finetuning rate (default 1e-3 full, 1e-2 lora)")
    f.add_argument("--epochs", type=float, default=None,
                   help="scale the budget with D: this many passes, at least --finetune-steps")
    f.add_argument("--check-every", type=int, default=None,
                   help="early stopping on held-out pool questions every this many steps")
    f.add_argument("--patience", type=int, default=5,
                   help="early stopping: stop after this many checks without improvement")
    f.add_argument("--keep-start", action="store_true",
                   help="early stopping: the checkpoint before finetuning is a candidate too")
    for q in (f, x):
        q.add_argument("--x", choices=X_AXES, default="tre",
                       help="x-axis written to the table's loss column")
        q.add_argument("--table", type=Path, default=None,
                       help="write an observation table (CSV) of the rows measured")
    e = sub.add_parser("elbows", help="fit the few-shot and per-D elbows of a table")
    e.add_argument("table", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "pretrain":
        cfg = FactsConfig(split=a.split, extraction=a.extraction, qa_share=a.qa_share,
                          question_templates=a.question_templates, balanced_eval=a.balanced)
        pretrain(FactWorld(cfg), a.d, a.steps, a.every, out=a.out, stop=a.stop, seed=a.seed)
        return
    if a.cmd == "elbows":
        print(json.dumps(elbows(a.table), indent=1))
        return

    saved = torch.load(a.checkpoints)
    ckpts = saved["ckpts"]
    world = FactWorld(FactsConfig(**saved["config"]) if "config" in saved
                      else FactsConfig(split=saved.get("split", "interleaved")))
    model = new_model(world, a.d)
    params = sum(p.numel() for p in model.parameters())
    tokens_per_step = 32 * world.sample_rows(32, np.random.default_rng(0))[0].shape[1]
    xs = x_axis_sets(world)
    items = probe_items(world)
    rows: list[dict[str, Any]] = []

    val_rows = heldout_rows(world)

    def x_loss(step: int) -> float:
        model.load_state_dict(ckpts[step])
        return corpus_loss(model, val_rows) if a.x == "val" else answer_loss(model, xs[a.x])

    if a.cmd == "xaxis":
        for step in sorted(ckpts):
            model.load_state_dict(ckpts[step])
            rec = {k: answer_loss(model, v) for k, v in xs.items()}
            rec["val"] = corpus_loss(model, val_rows)
            scores = fewshot_scores(model, items)
            rec["fewshot"], rec["fewshot_logprob_norm"] = scores["acc"], scores["logprob_norm"]
            print(json.dumps({"step": step, **rec}), flush=True)
            for metric, value in scores.items():
                rows.append(observation_row(d=a.d, params=params, step=step, loss=rec[a.x],
                                            value=value, n_eval=len(items), metric=metric,
                                            tokens_per_step=tokens_per_step))
    else:
        method = "full" if a.method == "full" else f"lora-r{a.lora_rank}"
        for step in (int(s) for s in a.steps.split(",")):
            loss = x_loss(step) if step else float("nan")
            for n in (int(v) for v in a.D.split(",")):
                r = finetune(world, a.d, ckpts[step] if step else None, n,
                             steps=a.finetune_steps, subset_seed=a.subset, method=a.method,
                             lora_rank=a.lora_rank, epochs=a.epochs,
                             check_every=a.check_every, pool=a.pool,
                             patience=a.patience, keep_start=a.keep_start,
                             lr=a.lr or (1e-2 if a.method == "lora" else 1e-3))
                print(json.dumps({"d": a.d, "step": step, "D": n, a.x: loss, **r}), flush=True)
                if step:  # the never-pretrained control has no place on the x-axis
                    rows.append(observation_row(d=a.d, params=params, step=step, loss=loss,
                                                value=r["acc"], n_eval=len(items), n_train=n,
                                                subset=a.subset, method=method,
                                                tokens_per_step=tokens_per_step))
    if a.table is not None:
        write_table(rows, a.table)


if __name__ == "__main__":
    main()
