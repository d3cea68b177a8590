"""Recipes: checks with file and key; plans: job counts, identities, the shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergence_law.sweep.plan import plan_recipe, resolve_paths
from emergence_law.sweep.recipe import RecipeError, load_recipe, parse_recipe

from .conftest import ROOT, synthetic_recipe, write_recipe


def _error(tmp_path: Path, tree: object) -> str:
    path = tmp_path / "bad.yaml"
    if isinstance(tree, str):
        path.write_text(tree)
    else:
        write_recipe(tmp_path, tree, "bad.yaml")  # type: ignore[arg-type]
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_bad_recipes_name_the_file_and_key(tmp_path: Path) -> None:
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["finetune"][0]["n_trian"] = [5]
    assert "tasks.toy.finetune[0].n_trian: unknown key (did you mean 'n_train'?)" in _error(
        tmp_path, tree)
    tree = synthetic_recipe()
    tree["models"][1]["params"] = "lots"
    assert "models[1].params: expected a number, got 'lots'" in _error(tmp_path, tree)
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["finetune"][0]["models"] = ["m7"]
    assert "tasks.toy.finetune[0].models[0]: no model named 'm7'" in _error(tmp_path, tree)
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["finetune"][0]["lora_rank"] = 4
    assert "lora_rank: only used with `method: lora`" in _error(tmp_path, tree)
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["harness"] = "vllm"
    assert "tasks.toy.harness: expected one of builtin, lmeval, python" in _error(tmp_path, tree)
    tree = synthetic_recipe()
    del tree["models"]
    assert "models: required key is missing" in _error(tmp_path, tree)
    tree = synthetic_recipe()
    tree["models"][0]["steps"] = [1000, 1000]
    assert "models[0].steps: has repeated values" in _error(tmp_path, tree)
    assert "line 3: not valid YAML" in _error(tmp_path, "models:\n  - [unclosed\n")
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_numbers_templates_and_tokens(tmp_path: Path) -> None:
    recipe = parse_recipe({
        "models": [{"name": "a", "model": "org/m-{step}", "revision": "step{step}",
                    "params": "3.43e9", "steps": [10, 20], "tokens_per_step": 100},
                   {"model": "./local", "checkpoints": ["final", {"checkpoint": "mid",
                                                                  "tokens": "1e6"}]}],
        "tasks": {"t": {"fewshot": [0]}},
    })
    a10, a20, final, mid = recipe.checkpoints
    assert (a10.model, a10.revision, a10.checkpoint) == ("org/m-10", "step10", "step10")
    assert a10.params == 3.43e9 and a20.tokens == 2000.0  # '3.43e9' (a YAML string) accepted
    assert final.model == "./local" and final.checkpoint == "final" and final.tokens is None
    assert mid.tokens == 1e6


def test_plan_counts_and_stable_identities(recipe_file: Path) -> None:
    plan = plan_recipe(load_recipe(recipe_file))
    # 2 models x 3 steps = 6 checkpoints: 6 loss + 6 few-shot + 6 x 2 D x 2 subsets finetune
    assert plan.counts_by_kind() == {"python:finetune": 24, "python:fewshot": 6,
                                     "python:loss": 6}
    assert len(set(plan.ids)) == len(plan) == 36
    assert plan_recipe(load_recipe(recipe_file)).ids == plan.ids  # same recipe, same ids
    ft = [j for j in plan.jobs if j.definition.get("setting") == "finetune"][0].definition
    assert ft["n_train"] in (100, 1000) and ft["subset"] in (0, 1) and ft["seed"] == 0
    assert "lora_rank" not in ft and "revision" not in ft  # unset keys are left out


def test_a_changed_setting_changes_only_its_jobs(tmp_path: Path) -> None:
    before = plan_recipe(parse_recipe(synthetic_recipe()))
    tree = synthetic_recipe()
    tree["tasks"]["toy"]["finetune"][0]["hparams"] = {"lr": 3e-4}
    after = plan_recipe(parse_recipe(tree))
    changed = set(after.ids) - set(before.ids)
    assert len(changed) == 24  # the finetuning jobs, and only them
    assert all(j.definition.get("setting") == "finetune" for j in after.jobs if j.id in changed)


def test_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    d = {"kind": "loss", "model": "models/tiny", "corpus": "org/not-a-file", "task": "mmlu"}
    out = resolve_paths(d, tmp_path)
    assert out["model"] == str((tmp_path / "models" / "tiny").resolve())
    assert out["corpus"] == "org/not-a-file" and out["task"] == "mmlu"


def test_resources_layer_from_recipe_to_model_to_block() -> None:
    tree = synthetic_recipe(models=1)
    tree["resources"] = {"num_cpus": 2}
    tree["models"][0]["resources"] = {"num_gpus": 1}
    tree["tasks"]["toy"]["finetune"][0]["resources"] = {"num_gpus": 2}
    plan = plan_recipe(parse_recipe(tree))
    by_setting = {j.definition["setting"]: j.resources for j in plan.jobs}
    assert by_setting["loss"] == {"num_cpus": 2, "num_gpus": 1}
    assert by_setting["finetune"] == {"num_cpus": 2, "num_gpus": 2}


@pytest.mark.parametrize(
    ("name", "kinds", "checkpoints"),
    [
        # 3 sizes x 8 steps; 4 tasks few-shot on all; finetune: 3B every D x 2 subsets
        # (6+5+5+5 levels) = 8 x 21 x 2 = 336, plus 7B/13B the largest D once = 16 x 4 = 64
        ("openllama-snell2024.yaml", {"finetune": 400, "lmeval": 96, "loss": 24}, 24),
        # 8 sizes x 16 steps; few-shot 5 settings; finetune on 5 sizes (80 checkpoints) x
        # (4 + 5 + 3 levels) x 2 subsets = 1920
        ("pythia.yaml", {"finetune": 1920, "lmeval": 640, "loss": 128}, 128),
        ("synthetic.yaml", {"python:fewshot": 12, "python:finetune": 96, "python:loss": 12}, 12),
    ],
)
def test_shipped_recipes_plan(name: str, kinds: dict[str, int], checkpoints: int) -> None:
    recipe = load_recipe(ROOT / "recipes" / name)
    plan = plan_recipe(recipe)
    assert plan.counts_by_kind() == kinds
    assert len(recipe.checkpoints) == checkpoints
    assert plan.duplicates == 0
