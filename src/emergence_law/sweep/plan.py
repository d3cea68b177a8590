"""Expand a recipe into independent jobs, each identified by the hash of its definition.

Why definitions are plain dicts of what a measurement depends on (model, revision, task, shots,
data amount, subset seed, hyper-parameters), and nothing about *how* it runs (device, GPUs,
executor): the same measurement on another machine is the same job, so moving a half-finished
sweep from a laptop to a Ray cluster re-runs nothing. Keys whose value is unset are left out, so
a new optional key never changes the identity of existing jobs. Paths are kept as written in the
recipe (relative to it) and resolved only when a job runs, so moving a project folder keeps its
results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergence_law.errors import OptionError
from emergence_law.jobkinds import fewshot_kind, finetune_kind, kind_label, validate_definition
from emergence_law.store import job_id
from emergence_law.sweep.recipe import Checkpoint, Recipe, RecipeError

#: definition keys that may name a local file or folder (resolved against the recipe's folder)
PATH_KEYS = ("model", "corpus", "task")


@dataclass(frozen=True)
class Job:
    """One unit of work: its definition (identity), the resources it asks for, and the name of
    the recipe model it measures (a label, not part of its identity)."""

    definition: dict[str, Any]
    resources: dict[str, float] = field(default_factory=dict)
    model_name: str | None = None

    @property
    def id(self) -> str:
        return job_id(self.definition)

    @property
    def kind(self) -> str:
        return str(self.definition.get("kind", "job"))

    @property
    def kind_label(self) -> str:
        """The kind, with the setting for python jobs (``python:finetune``)."""
        return kind_label(self.definition)

    @property
    def label(self) -> str:
        """A short human description, e.g. ``finetune mmlu open_llama_3b@step5000 D=250 s=1``."""
        return describe(self.definition)


def describe(d: dict[str, Any]) -> str:
    """A short human description of a job definition (for progress bars and status tables)."""
    kind = d.get("setting", d.get("kind")) if d.get("kind") == "python" else d.get("kind")
    parts = [str(kind)]
    if d.get("task"):
        parts.append(Path(str(d["task"])).stem if "/" in str(d["task"]) else str(d["task"]))
    model = Path(str(d.get("model", "?"))).name
    parts.append(f"{model}@{d.get('checkpoint', '?')}")
    if d.get("shots") is not None:
        parts.append(f"{d['shots']}-shot")
    if d.get("n_train") is not None:
        parts.append(f"D={d['n_train']}")
    if d.get("subset") is not None:
        parts.append(f"subset={d['subset']}")
    if d.get("method") == "lora":
        parts.append(f"lora-r{d.get('lora_rank')}")
    return " ".join(parts)


@dataclass
class SweepPlan:
    """The jobs of a recipe, in run order: checkpoint by checkpoint (its loss job first), so an
    in-process run loads each checkpoint once."""

    recipe: Recipe
    jobs: list[Job]
    duplicates: int = 0

    @property
    def ids(self) -> list[str]:
        return [j.id for j in self.jobs]

    def model_names(self) -> dict[str, str]:
        """Job id -> the recipe's name of the model it measures (for exported tables)."""
        return {j.id: j.model_name for j in self.jobs if j.model_name is not None}

    def counts_by_kind(self) -> dict[str, int]:
        """Number of jobs per kind (python jobs counted by their setting)."""
        c = Counter(j.kind_label for j in self.jobs)
        return dict(sorted(c.items()))

    def counts_by_task(self) -> dict[str, int]:
        c = Counter(str(j.definition.get("task", "(loss)")) for j in self.jobs)
        return dict(sorted(c.items()))

    def __len__(self) -> int:
        return len(self.jobs)


def _base(c: Checkpoint) -> dict[str, Any]:
    return {
        "series": c.series,
        "model": c.model,
        "revision": c.revision,
        "checkpoint": c.checkpoint,
        "params": c.params,
        "tokens": c.tokens,
    }


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Drop unset keys and empty hyper-parameter maps (so adding optional keys keeps ids)."""
    return {k: v for k, v in d.items() if v is not None and v != {}}


def plan_recipe(recipe: Recipe) -> SweepPlan:
    """Every job of a recipe: loss per checkpoint, few-shot per shots, finetune per D × subset."""
    ordered: list[Job] = []
    for c in recipe.checkpoints:
        if recipe.loss is not None:
            spec = recipe.loss
            d = {"kind": "loss", **_base(c), "corpus": spec.corpus, "hparams": spec.hparams}
            if spec.callable:
                d.update(kind="python", setting="loss", callable=spec.callable)
            ordered.append(Job(_clean(d), {**c.resources, **spec.resources}, c.model_name))
        for t in recipe.tasks:
            res = {**c.resources, **t.resources}
            if t.fewshot_models is None or c.model_name in t.fewshot_models:
                kind = fewshot_kind(t.harness).name
                for shots in t.fewshot:
                    d = {"kind": kind, **_base(c), "task": t.task, "shots": shots,
                         "hparams": t.fewshot_hparams}
                    if kind == "python":
                        d.update(setting="fewshot", callable=t.callable)
                    ordered.append(Job(_clean(d), res, c.model_name))
            ft_kind = finetune_kind(t.harness).name
            for b in t.finetune:
                if b.models is not None and c.model_name not in b.models:
                    continue
                for n_train in b.n_train:
                    for subset in b.subsets:
                        d = {
                            "kind": ft_kind, **_base(c), "task": t.task, "shots": b.shots,
                            "n_train": n_train, "subset": subset, "method": b.method,
                            "lora_rank": b.lora_rank, "hparams": b.hparams, "seed": recipe.seed,
                        }
                        if t.harness == "lmeval":
                            d["harness"] = "lmeval"
                        if ft_kind == "python":
                            d.update(setting="finetune", callable=t.callable)
                        ordered.append(Job(_clean(d), {**res, **b.resources}, c.model_name))
    jobs: list[Job] = []
    seen: set[str] = set()
    dup = 0
    for j in ordered:
        if j.id in seen:
            dup += 1
            continue
        seen.add(j.id)
        _check(recipe, j)
        jobs.append(j)
    return SweepPlan(recipe=recipe, jobs=jobs, duplicates=dup)


def _check(recipe: Recipe, job: Job) -> None:
    """Type the definition with its kind's model, as the runner will (the recipe checker has
    named any bad key already; this keeps planning and running on one set of rules)."""
    try:
        validate_definition(job.definition)
    except OptionError as exc:
        raise RecipeError(recipe.source, "", f"job {job.label}: {exc}") from None


def resolve_paths(definition: dict[str, Any], base_dir: str | Path) -> dict[str, Any]:
    """The definition with relative paths that exist under ``base_dir`` made absolute.

    A value that is not an existing path there (a hub id such as ``EleutherAI/pythia-70m``, an
    lm-eval task name) is passed on unchanged.
    """
    base = Path(base_dir)
    out = dict(definition)
    for key in PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            candidate = base / value
            if candidate.exists():
                out[key] = str(candidate.resolve())
    return out
