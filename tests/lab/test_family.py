"""Every lab scale is a consistent design, and its recipes load and plan, including the GPU
scales (`medium`, `large`) that no session here could run: a typo in their settings must fail
here, not an hour into a GPU run."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergence_law.lab.corpus import TaskSplit
from emergence_law.lab.family import SCALES
from emergence_law.lab.recipe import (
    finetune_hparams,
    finetune_recipe,
    measure_recipe,
    split_method,
    write_recipe,
)
from emergence_law.lab.train import Checkpoint, checkpoint_dir


@pytest.mark.parametrize("name", sorted(SCALES))
def test_scale_settings_are_consistent(name):
    sc = SCALES[name]
    assert list(sc.checkpoints) == sorted(set(sc.checkpoints)) and sc.checkpoints[-1] <= sc.steps
    assert sc.passuntil_instances <= sc.n_eval
    if sc.family == "facts":
        from emergence_law.lab.facts_finetune import pool_questions
        from emergence_law.lab.facts_lab import world_of

        world = world_of(sc.facts)
        n_val = sc.early_stopping.n if sc.early_stopping else 0
        train, held = pool_questions(world, sc.seed, pool="all-codes", n_val=n_val)
        assert len(held) == n_val  # the early-stopping split holds every question asked for
        assert sc.n_eval <= 4 * len(world.eval_entities)
        assert max(sc.data_amounts) <= len(train)
        assert sc.schedule_steps >= sc.steps
    else:
        split = TaskSplit.make(seed=sc.seed)
        assert sc.n_eval <= len(split.eval_items)
        assert max(sc.data_amounts) <= len(split.pool_items)
    assert sc.shots <= 16  # the few-shot split holds 16 solved examples
    assert abs(sum(sc.mixture.values()) - 1) < 1e-9
    assert len({s.name for s in sc.sizes}) == len(sc.sizes)
    assert all(s.d_model % s.n_heads == 0 for s in sc.sizes)
    assert 1 <= sc.n_finetune_checkpoints <= len(sc.checkpoints) * len(sc.sizes)


@pytest.mark.parametrize("name", sorted(SCALES))
def test_scale_recipes_load_and_plan(name, tmp_path):
    from emergence_law.measure.finetune import FinetuneHparams
    from emergence_law.sweep import load_recipe, plan_recipe

    sc = SCALES[name]
    ckpts = [Checkpoint(spec.name, step, checkpoint_dir(tmp_path / "models", spec, step),
                        1000, float(step * 100)) for spec in sc.sizes for step in sc.checkpoints]
    task = Path("tasks") / "mul-mc" / "task.yaml"
    for make, path in ((measure_recipe, "m.yaml"), (finetune_recipe, "f.yaml")):
        plan = plan_recipe(load_recipe(write_recipe(make(sc, tmp_path, ckpts, task),
                                                    tmp_path / path)))
        assert len(plan) > 0
    n_ft = sum(1 for j in plan.jobs if j.kind == "finetune")
    assert n_ft == (len(ckpts) * len(sc.methods) * len(sc.data_amounts)
                    * len(sc.subset_seeds))
    for m in sc.methods:  # every finetuning setting is one measure.finetune accepts
        method, _ = split_method(m)
        hp = {k: v for k, v in finetune_hparams(sc, m).items() if k != "eval_batch_size"}
        FinetuneHparams.from_dict(hp)
        assert method in ("full", "lora")
