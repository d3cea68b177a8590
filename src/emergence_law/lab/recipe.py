"""The lab's measurements as sweep recipes: the same files and commands a user writes.

Why: the lab must show the project's own pipeline working, not a private copy of it. So after
training, the lab writes its task (``tasks/mul-mc/task.yaml``, the format of
:mod:`emergence_law.measure.tasks`) and three recipes into the results folder, and runs them with
the sweep runner (atomic job claims in the store, process-pool workers, resume after a crash):

- ``lab_measure.yaml``: the pretraining loss and the 3-shot accuracy of every checkpoint;
- ``lab_finetune.yaml``: written once the ground truth is known, full and LoRA finetuning of
  the chosen pre-emergence checkpoints at every data amount and subset seed, evaluated with the
  same 3-shot prompt;
- ``lab_control.yaml``: the same finetuning settings on the never-pretrained step-0 model of
  every size (the gate, :mod:`emergence_law.lab.gate`).

``emergence-law sweep status lab-results/lab_finetune.yaml`` or ``sweep export`` work on them
like on any recipe. The loss is the lab's own (arithmetic: answer digits of held-out rows, see
:mod:`emergence_law.lab.loss`; facts: ``tru``, :mod:`emergence_law.lab.facts_lab`), plugged in
as a ``python`` loss callable. The task (``mul-mc`` or ``facts-mc``, ``tasks/<task>/``) and
the loss come from the scale's family (:mod:`emergence_law.lab.families`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emergence_law.errors import SettingError
from emergence_law.lab.families import loss_spec, task_name
from emergence_law.lab.family import LabScale
from emergence_law.lab.train import Checkpoint

MEASURE_RECIPE = "lab_measure.yaml"
FINETUNE_RECIPE = "lab_finetune.yaml"
CONTROL_RECIPE = "lab_control.yaml"
#: the results store every recipe (and the PassUntil stage) writes to, under the lab's folder
STORE_FILE = "lab_store.sqlite"
LOSS_CALLABLE = "emergence_law.lab.loss:loss_job"


def split_method(method: str) -> tuple[str, int | None]:
    """A lab method name as the recipe's ``method`` and ``lora_rank``: ``'lora-r4'`` ->
    ``('lora', 4)``, ``'full'`` -> ``('full', None)``."""
    if method == "full":
        return "full", None
    if method.startswith("lora-r") and method[6:].isdigit():
        return "lora", int(method[6:])
    raise SettingError("method", f"unknown finetuning method {method!r} (use full or lora-rN)")


def finetune_hparams(sc: LabScale, method: str) -> dict[str, Any]:
    """Finetuning settings of the project's ``measure.finetune`` that train the way the models
    were pretrained: 6 solved examples per sequence joined by ``;`` (the in-context format the
    3-shot evaluation uses), no EOS (never seen in pretraining), a constant rate, and the same
    number of steps for every D (runs differ in distinct data, not compute). With the scale's
    ``early_stopping`` that budget is a maximum: the held-out pool loss picks the state."""
    hp: dict[str, Any] = {
        "lr": sc.finetune_lr if method == "full" else sc.lora_lr,
        "batch_size": sc.finetune_batch, "pack": sc.finetune_pack,
        "min_steps": sc.finetune_steps, "max_steps": sc.finetune_steps,
        "schedule": "constant", "warmup_ratio": 0.0, "weight_decay": 0.0,
        "max_grad_norm": None, "append_eos": False, "eval_batch_size": 256}
    es = sc.early_stopping
    if es is not None:
        hp.update(early_stopping_every=es.every, early_stopping_patience=es.patience,
                  early_stopping_n=es.n, early_stopping_keep_start=es.keep_start)
        if sc.family == "facts":  # the pool's held-out facts, in every form (facts_lab)
            from emergence_law.lab.facts_lab import EARLY_STOPPING_SPLIT

            hp["early_stopping_split"] = EARLY_STOPPING_SPLIT
    return hp


def _models(sc: LabScale, out: Path, ckpts: list[Checkpoint]) -> list[dict[str, Any]]:
    """One recipe model per family member, its checkpoints as steps of a folder template."""
    from emergence_law.lab.train import checkpoint_dir

    by_size: dict[str, list[Checkpoint]] = {}
    for ck in ckpts:
        by_size.setdefault(ck.model, []).append(ck)
    specs = {spec.name: spec for spec in sc.sizes}
    models_dir = Path("models")  # as the pipeline trains them: out/models/<size>/step-N
    models = []
    for size, cks in by_size.items():
        cks = sorted(cks, key=lambda c: c.step)
        for ck in cks:  # the folder template below must name the folders training wrote
            if Path(ck.path).resolve() != (out / checkpoint_dir(models_dir, specs[size],
                                                                ck.step)).resolve():
                raise SettingError("out", f"checkpoint {ck.path} is not under {out}")
        last = cks[-1]  # step 0 (the gate's never-pretrained control) has seen no tokens
        models.append({"name": f"lab-{size}", "series": f"lab-{sc.name}",
                       "params": cks[0].params,
                       "model": f"{models_dir.as_posix()}/{size}/step-{{step:06d}}",
                       "checkpoint": "step-{step}", "steps": [ck.step for ck in cks],
                       "tokens_per_step": last.tokens / last.step if last.step else 0.0})
    return models


def _base(sc: LabScale, out: Path, name: str, ckpts: list[Checkpoint], device: str
          ) -> dict[str, Any]:
    return {
        "name": name, "store": STORE_FILE, "device": device, "seed": sc.seed,
        "description": f"written by `emergence-law lab run --scale {sc.name}`",
        "loss": loss_spec(sc),
        "models": _models(sc, out, ckpts),
    }


def measure_recipe(sc: LabScale, out: Path, ckpts: list[Checkpoint], task: Path, *,
                   device: str = "cpu") -> dict[str, Any]:
    """Loss and few-shot accuracy of every checkpoint."""
    recipe = _base(sc, out, f"lab-{sc.name}-measure", ckpts, device)
    recipe["tasks"] = {task_name(sc): {"task": str(task), "fewshot": [sc.shots],
                                       "hparams": {"eval_batch_size": 256}}}
    return recipe


def finetune_recipe(sc: LabScale, out: Path, ckpts: list[Checkpoint], task: Path, *,
                    device: str = "cpu", name: str = "finetune") -> dict[str, Any]:
    """Every method x data amount x subset seed on the chosen pre-emergence checkpoints (or,
    ``name='control'``, on the never-pretrained step-0 checkpoints: the gate)."""
    recipe = _base(sc, out, f"lab-{sc.name}-{name}", ckpts, device)
    blocks = []
    for m in sc.methods:
        method, rank = split_method(m)
        block: dict[str, Any] = {"n_train": list(sc.data_amounts),
                                 "subsets": list(sc.subset_seeds), "method": method,
                                 "shots": sc.shots, "hparams": finetune_hparams(sc, m)}
        if rank is not None:
            block["lora_rank"] = rank
        blocks.append(block)
    recipe["tasks"] = {task_name(sc): {"task": str(task), "finetune": blocks}}
    return recipe


def write_recipe(recipe: dict[str, Any], path: Path) -> Path:
    """Save a recipe as YAML (atomically: a half-written recipe never replaces a good one)."""
    from emergence_law.atomic import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(recipe, sort_keys=False))
    return path
