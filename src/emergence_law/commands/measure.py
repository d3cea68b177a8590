"""CLI commands of the 'measure' area: ``measure loss|fewshot|finetune|lmeval``, ``import-lmeval``.

Each ``measure`` command builds the same job definition a sweep would and runs it through
:func:`emergence_law.measure.jobs.run_job`, so a result written with ``--out store.sqlite`` is
indistinguishable from a sweep's (``sweep export`` joins it), and ``--out table.csv`` appends
rows to a table. Finetuning several D and subsets writes each result as soon as it is done, so
Ctrl-C keeps the finished ones. torch is imported only inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from emergence_law.commands.options import FinetuneMethod, Harness, LossFrom, option_group
from emergence_law.errors import OptionError

measure_app = typer.Typer(
    name="measure", no_args_is_help=True,
    help="Measure a checkpoint: pretraining loss, few-shot and finetuned accuracy.",
)

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl")

MODEL = typer.Option(..., "--model", help="Model folder, .gguf file, or hub id.")
#: the evaluation options of ``measure fewshot`` and ``measure lmeval``
SHOTS = typer.Option(None, "--shots", min=0, help="Examples in the prompt (default: the task's).")
LIMIT = typer.Option(None, "--limit", min=1, help="Evaluate the first N only.")


@dataclass(frozen=True)
class CheckpointOptions:
    """The options every ``measure`` command shares (one block, added by
    :func:`checkpoint_options`): how to label the checkpoint's rows, where to run, where to
    write."""

    revision: str | None = None
    checkpoint: str | None = None
    series: str | None = None
    params: float | None = None
    tokens: float | None = None
    loss: float | None = None
    device: str = "cpu"
    out: Path | None = None

    def labels(self) -> dict[str, Any]:
        """The checkpoint's labels as job-definition keys (None ones are dropped later)."""
        return {"revision": self.revision, "checkpoint": self.checkpoint, "series": self.series,
                "params": self.params, "tokens": self.tokens}


def checkpoint_options(exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Add the :class:`CheckpointOptions` to a command, passed to it as ``ck``."""
    return option_group(CheckpointOptions, into="ck", exclude=exclude, options={
        "revision": typer.Option(None, "--revision", help="Hub revision (e.g. step1000)."),
        "checkpoint": typer.Option(None, "--checkpoint", help="Checkpoint name for the rows "
                                   "(default: revision or folder name)."),
        "series": typer.Option(None, "--series", help="Model family written in the rows."),
        "params": typer.Option(None, "--params", help="Parameter count (default: counted)."),
        "tokens": typer.Option(None, "--tokens", help="Pretraining tokens of this checkpoint."),
        "loss": typer.Option(None, "--loss", help="Pretraining loss of this checkpoint (nats), "
                             "written into table rows (a store joins its loss jobs instead)."),
        "device": typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda:0."),
        "out": typer.Option(None, "--out", help="Append rows to a table (.csv/.parquet/.jsonl) "
                            "or record them in a results store (.sqlite)."),
    })


def _definition(kind: str, **kw: Any) -> dict[str, Any]:
    d = {"kind": kind, **kw}
    return {k: v for k, v in d.items() if v is not None and v != {}}


def _progress_runner(description: str):
    """A rich progress bar and the (done, total) callback that drives it."""
    from emergence_law.progress import progress_bar

    bar = progress_bar(transient=True, remaining=False)
    tid = bar.add_task(description, total=None)

    def callback(done: int, total: int) -> None:
        bar.update(tid, completed=done, total=total)

    return bar, callback


def _run(definition: dict[str, Any], device: str, label: str) -> list[dict[str, Any]]:
    from emergence_law.measure.jobs import run_job

    bar, cb = _progress_runner(label)
    with bar:
        return run_job(definition, device=device, progress=cb)


def _check_out(out: Path | None) -> None:
    """Reject an unknown --out type before any work is done."""
    if out is not None and out.suffix.lower() not in STORE_SUFFIXES + TABLE_SUFFIXES:
        raise OptionError("--out", f"unknown output type {out.suffix!r} (use a table: "
                          f"{', '.join(TABLE_SUFFIXES)}, or a store: {', '.join(STORE_SUFFIXES)})")


def _write(rows: list[dict[str, Any]], definition: dict[str, Any], out: Path | None,
           loss: float | None) -> None:
    if out is None:
        return
    _check_out(out)
    suffix = out.suffix.lower()
    if suffix in STORE_SUFFIXES:
        from emergence_law.store import ResultStore

        with ResultStore(out) as store:
            new = store.record_result(definition, rows)
        typer.echo(f"{'recorded' if new else 'already recorded (kept the first)'}: "
                   f"{len(rows)} rows in {out}")
        return
    import pandas as pd

    from emergence_law.observations import read_table, rows_to_frame, save_observations

    rows = [dict(r) for r in rows]
    is_loss = rows and rows[0].get("kind") == "loss"
    if not is_loss and loss is not None:
        for r in rows:
            r["loss"] = loss
    new = pd.DataFrame(rows) if is_loss else rows_to_frame(rows)
    if out.exists():
        new = pd.concat([read_table(out), new], ignore_index=True)
    save_observations(new, out)
    typer.echo(f"appended {len(rows)} rows to {out}")
    if not is_loss and loss is None:
        typer.echo("note: these rows have no 'loss' yet; give --loss, or join losses measured "
                   "with 'measure loss' before fitting")


def _print_rows(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("task", "metric", "value", "± stderr", "chance", "n_eval"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")

    def fmt(v: Any, spec: str = ".4f") -> str:
        return "" if v is None or v != v else format(v, spec)

    for r in rows:
        table.add_row(str(r.get("task")), str(r.get("metric")), fmt(r.get("value")),
                      fmt(r.get("stderr")), fmt(r.get("chance"), ".3f"), str(r.get("n_eval")))
    Console().print(table)


def _csv_ints(text: str, option: str) -> list[int]:
    try:
        vals = [int(x) for x in str(text).replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise OptionError(option, f"expected comma-separated whole numbers, got {text!r}") \
            from exc
    if not vals:
        raise OptionError(option, "no values given")
    return vals


@measure_app.command("loss")
@checkpoint_options(exclude=("loss",))
def loss_cmd(
    model: str = MODEL,
    corpus: Path = typer.Option(..., "--corpus", help="Text corpus: .txt (documents separated "
                                "by blank lines) or .jsonl with a 'text' field."),
    seq_len: int | None = typer.Option(None, "--seq-len", help="Window length (default: "
                                       "the model's context)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per forward pass."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=2,
                                          help="Stop after this many tokens."),
    *,
    ck: CheckpointOptions,
) -> None:
    """Pretraining loss (nats/token) and bits per byte of a checkpoint on a corpus."""
    _check_out(ck.out)
    hp = {k: v for k, v in {"seq_len": seq_len, "batch_size": batch_size,
                            "max_tokens": max_tokens}.items() if v is not None}
    d = _definition("loss", model=model, **ck.labels(), corpus=str(corpus), hparams=hp)
    (row,) = _run(d, ck.device, "loss")
    typer.echo(f"{row['model']} @ {row['checkpoint']}: loss {row['loss']:.4f} nats/token, "
               f"{row['bits_per_byte']:.4f} bits/byte, {row['n_tokens']:,} tokens, "
               f"{row['n_bytes']:,} bytes, {row['n_documents']} documents")
    _write([row], d, ck.out, None)


@measure_app.command("fewshot")
@checkpoint_options()
def fewshot_cmd(
    model: str = MODEL,
    task: str = typer.Option(..., "--task", help="Task file (YAML/JSONL) or built-in task."),
    shots: int | None = SHOTS,
    limit: int | None = LIMIT,
    batch_size: int = typer.Option(32, "--batch-size", min=1,
                                   help="Prompts scored per forward pass."),
    *,
    ck: CheckpointOptions,
) -> None:
    """Few-shot accuracy and continuous log-probability metrics on a task."""
    _check_out(ck.out)
    hp = {k: v for k, v in {"limit": limit, "eval_batch_size": batch_size}.items()
          if v is not None}
    d = _definition("fewshot", model=model, **ck.labels(), task=task, shots=shots, hparams=hp)
    rows = _run(d, ck.device, "few-shot")
    _print_rows(rows, f"{model} @ {rows[0]['checkpoint']}, {rows[0]['shots']}-shot")
    _write(rows, d, ck.out, ck.loss)


@measure_app.command("finetune")
@checkpoint_options()
def finetune_cmd(
    model: str = MODEL,
    task: str = typer.Option(..., "--task", help="Task file with a training split."),
    n_train: str = typer.Option(..., "--n-train", help="Data amounts D, e.g. 16,64,256."),
    subsets: str = typer.Option("0", "--subsets", help="Subset seeds, e.g. 0,1,2."),
    method: FinetuneMethod = typer.Option(FinetuneMethod.full, "--method",
                                          help="Finetune all weights (full) or LoRA adapters."),
    lora_rank: int | None = typer.Option(None, "--lora-rank", min=1, help="LoRA rank r."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default by size)."),
    epochs: float | None = typer.Option(None, "--epochs", help="Passes over the D examples "
                                        "(default by D)."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1,
                                         help="Stop after this many optimiser steps."),
    train_batch_size: int | None = typer.Option(None, "--train-batch-size", min=1,
                                                help="Examples per optimiser step."),
    shots: int = typer.Option(0, "--shots", min=0, help="Prompt examples at evaluation."),
    eval_limit: int | None = typer.Option(None, "--eval-limit", min=1,
                                          help="Evaluate on the first N eval items only."),
    drop_overlap: bool = typer.Option(False, "--drop-overlap", help="Drop training examples "
                                      "that also occur in the eval split (default: error)."),
    seed: int = typer.Option(0, "--seed", help="Base seed of the subset permutations."),
    harness: Harness = typer.Option(Harness.builtin, "--harness", help="Evaluate with the "
                                    "built-in evaluator or lmeval (in memory)."),
    *,
    ck: CheckpointOptions,
) -> None:
    """Finetune on D examples (nested random subsets, several seeds), then evaluate."""
    _check_out(ck.out)
    method, harness = str(method), str(harness)
    if method not in ("full", "lora"):
        raise OptionError("--method", f"unknown method {method!r} (use full or lora)")
    if harness not in ("builtin", "lmeval"):
        raise OptionError("--harness", f"unknown harness {harness!r} (use builtin or lmeval)")
    levels = _csv_ints(n_train, "--n-train")
    seeds = _csv_ints(subsets, "--subsets")
    if min(levels) < 1:
        raise OptionError("--n-train", "data amounts must be at least 1")
    hp = {k: v for k, v in {"lr": lr, "epochs": epochs, "max_steps": max_steps,
                            "batch_size": train_batch_size, "eval_limit": eval_limit,
                            "drop_overlap": drop_overlap or None}.items() if v is not None}
    for s in seeds:
        for n in levels:
            d = _definition("finetune", model=model, **ck.labels(), task=task,
                            shots=shots, n_train=n, subset=s, method=method,
                            lora_rank=lora_rank, hparams=hp, seed=seed,
                            harness="lmeval" if harness == "lmeval" else None)
            rows = _run(d, ck.device, f"finetune D={n} subset {s}")
            r0 = rows[0]
            figures = ", ".join(f"{r['metric']} {r['value']:.4f}" for r in rows
                                if r["metric"] in ("acc", "logprob_norm", "exact_match"))
            typer.echo(f"D={n} subset {s} {r0['method']}: {r0.get('train_steps')} steps, "
                       f"train loss {r0.get('train_loss', float('nan')):.3f}; {figures}")
            _write(rows, d, ck.out, ck.loss)


@measure_app.command("lmeval")
@checkpoint_options()
def lmeval_cmd(
    model: str = MODEL,
    task: str = typer.Option(..., "--task", help="lm-eval task name, or a task file of ours "
                             "(run through the harness as a local task)."),
    include_path: Path | None = typer.Option(None, "--include-path", help="Folder of lm-eval "
                                             "task YAMLs (local data)."),
    shots: int | None = SHOTS,
    limit: int | None = LIMIT,
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="lm-eval's batch size."),
    output_path: Path | None = typer.Option(None, "--output-path", help="Also write lm-eval's "
                                            "own results_*.json and samples_*.jsonl here."),
    *,
    ck: CheckpointOptions,
) -> None:
    """Run an lm-eval-harness task on a model (in memory) and print its rows."""
    _check_out(ck.out)
    hp = {k: v for k, v in {"limit": limit, "batch_size": batch_size,
                            "include_path": str(include_path) if include_path else None,
                            "output_path": str(output_path) if output_path else None}.items()
          if v is not None}
    d = _definition("lmeval", model=model, **ck.labels(), task=task, shots=shots, hparams=hp)
    rows = _run(d, ck.device, "lm-eval")
    _print_rows(rows, f"{model} (lm-eval)")
    _write(rows, d, ck.out, ck.loss)


def import_lmeval_cmd(
    paths: list[Path] = typer.Argument(..., help="lm-eval result files or folders "
                                       "(searched recursively)."),
    out: Path = typer.Option(..., "--out", help="Observation table to write (.parquet, .csv, "
                             ".jsonl)."),
    loss_from: LossFrom = typer.Option(LossFrom.lambada, "--loss-from", help="Fill 'loss' "
                                       "from: lambada (ln LAMBADA perplexity of the same "
                                       "checkpoint) or none."),
    losses: Path | None = typer.Option(None, "--losses", help="Table with model, checkpoint, "
                                       "loss (e.g. from 'measure loss --out'); takes precedence."),
    samples: Path | None = typer.Option(None, "--samples", help="Also write the per-document "
                                        "log-likelihoods (lm-eval 0.4 samples) to this table."),
    tokens_per_step: float | None = typer.Option(None, "--tokens-per-step", help="Tokens per "
                                                 "training step (default: known suites)."),
    series: str | None = typer.Option(None, "--series", help="Series name for all rows."),
) -> None:
    """Import lm-eval-harness results (older and 0.4 formats) as an observation table."""
    import warnings

    from emergence_law.measure.lmeval_import import (
        describe_import,
        import_lmeval,
        read_lmeval_samples,
        validate_imported,
    )
    from emergence_law.observations import read_table, save_observations

    loss_from = str(loss_from)
    if loss_from not in ("lambada", "none"):
        raise OptionError("--loss-from", f"unknown source {loss_from!r} (use lambada or none)")
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise OptionError("--out", f"unknown table type {out.suffix!r} (use "
                          f"{', '.join(TABLE_SUFFIXES)})")
    loss_table = read_table(losses) if losses is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = import_lmeval(paths, loss_from=None if loss_from == "none" else loss_from,
                           losses=loss_table, tokens_per_step=tokens_per_step, series=series)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    typer.echo(describe_import(df))
    df = validate_imported(df)  # as strictly as a loaded table; loss may still be missing
    if not df["loss"].notna().all():
        typer.echo("note: some rows have no loss; they are written as they are and must get "
                   "one (--losses) before fitting")
    save_observations(df, out)
    typer.echo(f"wrote {len(df)} rows to {out}")
    if samples is not None:
        per = read_lmeval_samples(paths)
        if per.empty:
            typer.echo("no lm-eval 0.4 samples files found; no per-document table written")
        else:
            save_observations(per, samples)
            typer.echo(f"wrote {len(per)} per-document rows to {samples}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
    app.add_typer(measure_app, name="measure")
    app.command("import-lmeval")(import_lmeval_cmd)
