"""Sweep recipes: a YAML file naming checkpoints, tasks, settings, data amounts and seeds.

Why a hand-checked schema: a recipe describes hours of GPU work, so a typo must fail before the
first job, with the file and the key path at fault (``recipe.yaml: tasks.mmlu.finetune[0].n_trian:
unknown key (did you mean 'n_train'?)``), not as a ``KeyError`` halfway through the sweep.
``hparams`` are checked the same way against the settings model of the jobs they reach
(:mod:`emergence_law.jobkinds`), so ``batch_sise`` fails here, not after a model has loaded.
Values are read by :class:`~.recipe_reader.RecipeReader`, which raises the one-line
:class:`~.recipe_reader.RecipeError`.

Layout (every key but ``models`` optional; see docs/sweep.md for the full reference)::

    name: tiny-local
    store: results/tiny.sqlite         # relative to this file; `--store` overrides
    device: cpu                        # passed to each measuring job
    seed: 0                            # training seed of finetuning jobs
    resources: {num_cpus: 1, num_gpus: 0}   # per-job request (Ray); models/tasks override
    loss: {corpus: data/val.txt, hparams: {max_tokens: 100000}}
    models:
      - name: 3b
        series: openllama-v1
        model: openlm-research/open_llama_3b_step_{step}   # hub id or local path, {step} filled
        params: 3.43e9
        steps: [50000, 100000]         # or `checkpoints:` a list of {checkpoint, model, revision, tokens}
        tokens_per_step: 4194304
    tasks:
      mmlu:
        harness: lmeval                # builtin (task file) | lmeval (harness task) | python
        fewshot: [5]
        finetune:
          - {n_train: [250, 1000], subsets: 2, method: full, models: [3b]}
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergence_law.jobkinds import (
    HARNESSES,
    KINDS,
    METHODS,
    JobKind,
    describe_value,
    fewshot_kind,
    finetune_kind,
    owners,
    settings_error,
)
from emergence_law.sweep.recipe_reader import RESOURCE_KEYS, RecipeError, RecipeReader, join_key

__all__ = ["RAY_KEYS", "RESOURCE_KEYS", "Checkpoint", "FinetuneBlock", "LossSpec", "Recipe",
           "RecipeError", "TaskSpec", "load_recipe", "parse_recipe"]

RAY_KEYS = ("address", "max_retries", "max_in_flight", "check_resources", "init")


# ---------------------------------------------------------------------------------------------
# parsed recipe


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint to measure: what to load (``model``, ``revision``) and how to label it."""

    model_name: str
    series: str | None
    model: str
    revision: str | None
    checkpoint: str
    params: float | None
    tokens: float | None
    resources: dict[str, float]


@dataclass(frozen=True)
class FinetuneBlock:
    """Finetuning settings: every ``n_train`` × ``subsets`` × checkpoint becomes one job."""

    n_train: tuple[int, ...]
    subsets: tuple[int, ...]
    method: str
    lora_rank: int | None
    shots: int | None
    hparams: dict[str, Any]
    models: tuple[str, ...] | None
    resources: dict[str, float]


@dataclass(frozen=True)
class TaskSpec:
    """A task and the settings it is measured in."""

    key: str
    task: str
    harness: str
    callable: str | None
    fewshot: tuple[int, ...]
    fewshot_models: tuple[str, ...] | None
    fewshot_hparams: dict[str, Any]
    finetune: tuple[FinetuneBlock, ...]
    hparams: dict[str, Any]
    resources: dict[str, float]


@dataclass(frozen=True)
class LossSpec:
    """The pretraining-loss measurement run once per checkpoint."""

    corpus: str | None
    callable: str | None
    hparams: dict[str, Any]
    resources: dict[str, float]


@dataclass
class Recipe:
    """A validated recipe. ``base_dir`` is the folder relative paths are resolved against."""

    name: str
    source: str
    base_dir: Path
    store: Path | None
    device: str
    seed: int
    checkpoints: list[Checkpoint]
    tasks: list[TaskSpec]
    loss: LossSpec | None
    ray: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys(c.model_name for c in self.checkpoints))


# ---------------------------------------------------------------------------------------------
# parsing

_TOP = ("name", "description", "store", "device", "seed", "resources", "loss", "models",
        "tasks", "ray")
_MODEL = ("name", "series", "model", "revision", "params", "steps", "checkpoint",
          "tokens_per_step", "checkpoints", "resources")
_CKPT = ("checkpoint", "model", "revision", "tokens", "step")
_TASK = ("task", "harness", "callable", "fewshot", "finetune", "hparams", "resources",
         "description")
_FEWSHOT = ("shots", "models", "hparams")
_FINETUNE = ("n_train", "subsets", "method", "lora_rank", "shots", "hparams", "models",
             "resources")
_LOSS = ("corpus", "callable", "hparams", "resources")


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file; raises :class:`RecipeError` naming the file and key."""
    import yaml

    path = Path(path)
    source = str(path)
    if not path.exists():
        raise RecipeError(source, "", "recipe file not found")
    if path.is_dir():
        raise RecipeError(source, "", "is a folder, expected a recipe file (.yaml)")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(source, where, f"not valid YAML: {problem}") from None
    except UnicodeDecodeError as exc:  # a binary or non-UTF-8 file: YAML is UTF-8 text
        raise RecipeError(source, "", f"not UTF-8 text (byte {exc.start}: "
                          f"{exc.object[exc.start:exc.start + 1]!r})") from None
    return parse_recipe(tree, source=source, base_dir=path.resolve().parent)


def parse_recipe(tree: Any, *, source: str = "<recipe>", base_dir: str | Path = ".") -> Recipe:
    """Check a recipe given as a parsed YAML tree (a dict)."""
    ck = RecipeReader(source)
    top = ck.mapping(tree, "", _TOP)
    if "models" not in top:
        raise ck.fail("models", "required key is missing (a list of models and checkpoints)")
    base = Path(base_dir)
    default_res = ck.resources(top.get("resources"), "resources")
    checkpoints = _parse_models(ck, top["models"], default_res)
    names = list(dict.fromkeys(c.model_name for c in checkpoints))
    tasks = _parse_tasks(ck, top.get("tasks") or {}, names, default_res)
    loss = _parse_loss(ck, top["loss"], default_res) if top.get("loss") is not None else None
    if not tasks and loss is None:
        raise ck.fail("tasks", "the recipe measures nothing: give `tasks` and/or `loss`")
    store = top.get("store")
    store_path = None
    if store is not None:
        store_path = Path(ck.string(store, "store"))
        if not store_path.is_absolute():
            store_path = base / store_path
    return Recipe(
        name=ck.string(top.get("name", Path(source).stem), "name"),
        source=source,
        base_dir=base,
        store=store_path,
        device=ck.string(top.get("device", "cpu"), "device"),
        seed=ck.integer(top.get("seed", 0), "seed", minimum=0),
        checkpoints=checkpoints,
        tasks=tasks,
        loss=loss,
        ray=ck.mapping(top.get("ray") or {}, "ray", RAY_KEYS),
        raw=dict(top),
    )


def _parse_models(ck: RecipeReader, value: Any, default_res: dict[str, float]) -> list[Checkpoint]:
    if not isinstance(value, list) or not value:
        raise ck.fail("models", "expected a non-empty list of models")
    out: list[Checkpoint] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        key = f"models[{i}]"
        m = ck.mapping(item, key, _MODEL)
        if "model" not in m:
            raise ck.fail(f"{key}.model", "required key is missing (a hub id or a local path)")
        model = ck.string(m["model"], f"{key}.model")
        name = ck.string(m.get("name", model), f"{key}.name")
        if name in seen:
            raise ck.fail(f"{key}.name", f"two models are named {name!r}; give each a `name`")
        seen.add(name)
        series = ck.string(m["series"], f"{key}.series") if m.get("series") is not None else None
        params = ck.number(m["params"], f"{key}.params", minimum=0) if m.get(
            "params") is not None else None
        revision = ck.string(m["revision"], f"{key}.revision") if m.get(
            "revision") is not None else None
        res = {**default_res, **ck.resources(m.get("resources"), f"{key}.resources")}
        tps = ck.number(m["tokens_per_step"], f"{key}.tokens_per_step", minimum=0) if m.get(
            "tokens_per_step") is not None else None
        label = ck.string(m.get("checkpoint", "step{step}"), f"{key}.checkpoint")
        entries: list[dict[str, Any]] = []
        if "steps" in m:
            if "checkpoints" in m:
                raise ck.fail(f"{key}.steps", "give either `steps` or `checkpoints`, not both")
            for j, step in enumerate(ck.int_list(m["steps"], f"{key}.steps")):
                entries.append({"step": step, "_key": f"{key}.steps[{j}]"})
        elif "checkpoints" in m:
            if not isinstance(m["checkpoints"], list) or not m["checkpoints"]:
                raise ck.fail(f"{key}.checkpoints", "expected a non-empty list")
            for j, c in enumerate(m["checkpoints"]):
                ckey = f"{key}.checkpoints[{j}]"
                if isinstance(c, (str, int)) and not isinstance(c, bool):
                    c = {"checkpoint": str(c)}
                entry = ck.mapping(c, ckey, _CKPT)
                entry["_key"] = ckey
                entries.append(entry)
        else:
            entries.append({"checkpoint": revision or "final", "_key": key})
        labels: set[str] = set()
        for e in entries:
            ekey = e["_key"]
            step = ck.integer(e["step"], f"{ekey}.step", minimum=0) if e.get(
                "step") is not None else None
            if e.get("checkpoint") is None and step is None:
                raise ck.fail(ekey, "give the checkpoint's label (`checkpoint`) or its `step`")
            fill = {"step": step if step is not None else ""}
            try:
                c_label = str(e.get("checkpoint") or label.format(**fill))
                c_model = str(e.get("model") or model.format(**fill))
                c_rev = e.get("revision", revision)
                c_rev = str(c_rev).format(**fill) if c_rev is not None else None
            except (KeyError, IndexError, ValueError) as exc:
                raise ck.fail(ekey, f"bad {{...}} template (only {{step}} is known): {exc}"
                              ) from None
            if c_label in labels:
                raise ck.fail(ekey, f"checkpoint {c_label!r} appears twice in model {name!r}")
            labels.add(c_label)
            tokens = None
            if e.get("tokens") is not None:
                tokens = ck.number(e["tokens"], f"{ekey}.tokens", minimum=0)
            elif step is not None and tps is not None:
                tokens = float(step) * tps
            out.append(Checkpoint(
                model_name=name, series=series, model=c_model, revision=c_rev,
                checkpoint=c_label, params=params, tokens=tokens, resources=res,
            ))
    return out


def _parse_tasks(ck: RecipeReader, value: Any, names: list[str], default_res: dict[str, float]
                 ) -> list[TaskSpec]:
    if not isinstance(value, Mapping):
        raise ck.fail("tasks", f"expected a mapping of task names, got {describe_value(value)}")
    out = []
    for tkey, item in value.items():
        key = f"tasks.{tkey}"
        t = ck.mapping(item or {}, key, _TASK)
        harness = ck.string(t.get("harness", "builtin"), f"{key}.harness", choices=HARNESSES)
        func = None
        if harness == "python":
            if "callable" not in t:
                raise ck.fail(f"{key}.callable", "required for harness 'python' "
                              "(a 'package.module:function' taking a job definition)")
            func = ck.callable_path(t["callable"], f"{key}.callable")
        elif "callable" in t:
            raise ck.fail(f"{key}.callable", "only used with `harness: python`")
        fewshot: tuple[int, ...] = ()
        fewshot_models = None
        hparams = ck.free_mapping(t.get("hparams"), f"{key}.hparams")
        fewshot_hparams = dict(hparams)
        fs_own: dict[str, Any] = {}
        if t.get("fewshot") is not None:
            fs = t["fewshot"]
            if isinstance(fs, Mapping):
                fsm = ck.mapping(fs, f"{key}.fewshot", _FEWSHOT)
                if "shots" not in fsm:
                    raise ck.fail(f"{key}.fewshot.shots", "required key is missing")
                fewshot = ck.int_list(fsm["shots"], f"{key}.fewshot.shots")
                if fsm.get("models") is not None:
                    fewshot_models = ck.names(fsm["models"], f"{key}.fewshot.models", names)
                fs_own = ck.free_mapping(fsm.get("hparams"), f"{key}.fewshot.hparams")
                fewshot_hparams.update(fs_own)
            else:
                fewshot = ck.int_list(fs, f"{key}.fewshot")
        if fewshot:
            _check_settings(ck, fewshot_kind(harness), [(f"{key}.hparams", hparams),
                                                        (f"{key}.fewshot.hparams", fs_own)],
                            shared=f"{key}.hparams")
        blocks = t.get("finetune") or []
        if isinstance(blocks, Mapping):
            blocks = [blocks]
        if not isinstance(blocks, list):
            raise ck.fail(f"{key}.finetune", "expected a list of finetuning settings")
        finetune = tuple(_parse_finetune(ck, b, f"{key}.finetune[{j}]", names, hparams,
                                         finetune_kind(harness), key)
                         for j, b in enumerate(blocks))
        if not fewshot and not finetune:
            raise ck.fail(key, "measures nothing: give `fewshot` shots and/or `finetune`")
        out.append(TaskSpec(
            key=str(tkey),
            task=ck.string(t.get("task", tkey), f"{key}.task"),
            harness=harness,
            callable=func,
            fewshot=fewshot,
            fewshot_models=fewshot_models,
            fewshot_hparams=fewshot_hparams,
            finetune=finetune,
            hparams=hparams,
            resources={**default_res, **ck.resources(t.get("resources"), f"{key}.resources")},
        ))
    return out


def _parse_finetune(ck: RecipeReader, value: Any, key: str, names: list[str],
                    task_hparams: dict[str, Any], kind: JobKind, task_key: str
                    ) -> FinetuneBlock:
    b = ck.mapping(value, key, _FINETUNE)
    if "n_train" not in b:
        raise ck.fail(f"{key}.n_train", "required key is missing (finetuning data amounts D)")
    subsets_raw = b.get("subsets", 1)
    if isinstance(subsets_raw, (list, tuple)):
        subsets = ck.int_list(subsets_raw, f"{key}.subsets")
    else:
        subsets = tuple(range(ck.integer(subsets_raw, f"{key}.subsets", minimum=1)))
    method = ck.string(b.get("method", "full"), f"{key}.method", choices=METHODS)
    rank = None
    if method == "lora":
        rank = ck.integer(b.get("lora_rank", 8), f"{key}.lora_rank", minimum=1)
    elif "lora_rank" in b:
        raise ck.fail(f"{key}.lora_rank", "only used with `method: lora`")
    own = ck.free_mapping(b.get("hparams"), f"{key}.hparams")
    _check_settings(ck, kind, [(f"{task_key}.hparams", task_hparams), (f"{key}.hparams", own)],
                    shared=f"{task_key}.hparams")
    return FinetuneBlock(
        n_train=ck.int_list(b["n_train"], f"{key}.n_train", minimum=1),
        subsets=subsets,
        method=method,
        lora_rank=rank,
        shots=ck.integer(b["shots"], f"{key}.shots", minimum=0) if b.get(
            "shots") is not None else None,
        hparams={**task_hparams, **own},
        models=ck.names(b["models"], f"{key}.models", names) if b.get(
            "models") is not None else None,
        resources=ck.resources(b.get("resources"), f"{key}.resources"),
    )


def _parse_loss(ck: RecipeReader, value: Any, default_res: dict[str, float]) -> LossSpec:
    if isinstance(value, str):
        value = {"corpus": value}
    spec = ck.mapping(value, "loss", _LOSS)
    corpus = ck.string(spec["corpus"], "loss.corpus") if spec.get("corpus") is not None else None
    func = ck.callable_path(spec["callable"], "loss.callable") if spec.get(
        "callable") is not None else None
    if corpus is None and func is None:
        raise ck.fail("loss.corpus", "required key is missing (a text corpus file for the loss)")
    hparams = ck.free_mapping(spec.get("hparams"), "loss.hparams")
    if func is None:  # a loss callable owns its settings
        _check_settings(ck, KINDS["loss"], [("loss.hparams", hparams)])
    return LossSpec(
        corpus=corpus,
        callable=func,
        hparams=hparams,
        resources={**default_res, **ck.resources(spec.get("resources"), "loss.resources")},
    )


def _check_settings(ck: RecipeReader, kind: JobKind, layers: list[tuple[str, dict[str, Any]]],
                    shared: str | None = None) -> None:
    """Check ``hparams`` given in ``layers`` (key path, mapping; later ones override) as the
    settings of ``kind`` (its model in :mod:`emergence_law.jobkinds`), naming the key path where
    a bad key was written. ``shared`` is the task-level ``hparams`` path: those reach the task's
    few-shot *and* finetuning jobs, so a setting of only one of them is pointed to its block."""
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged.update(layer)
    problem = settings_error(kind, merged)
    if problem is None:
        return
    key, message, err = problem
    where = next((path for path, layer in reversed(layers) if key in layer), layers[-1][0])
    others = [k for k in owners(key) if k is not kind]
    if err == "extra_forbidden" and others:
        message = (f"not a setting of {kind.label} jobs (it is one of "
                   f"{' and '.join(k.label for k in others)} jobs")
        if where == shared:
            block = ("the finetune blocks' hparams" if any(k.name == "finetune" for k in others)
                     else "`fewshot: {shots: [...], hparams: {...}}`")
            message += f"; task-level hparams reach every job of the task: give it in {block}"
        message += ")"
    raise ck.fail(join_key(where, key), message)
