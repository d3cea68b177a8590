"""A real sweep of real (tiny) models: loss, few-shot, full and LoRA finetuning jobs run by
``emergence_law.measure.jobs.run_job`` through the store, in process and on Ray, then exported.

The models are character-level LMs trained here in seconds (``sweep.tiny_example``); the recipe
is the shipped ``recipes/tiny-local.yaml`` cut down to two checkpoints and tiny step budgets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emergence_law.store import ResultStore
from emergence_law.sweep import export_observations, load_recipe, plan_recipe, run_sweep
from emergence_law.sweep.executors import InProcessExecutor, RayExecutor

from .conftest import ROOT, write_recipe

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("emergence_law.measure.jobs")

STEPS = [5, 30]
FAST = {"epochs": 1, "min_steps": 1, "max_steps": 2, "eval_limit": 12}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """The tiny example's files (two checkpoints) and a cut-down copy of its shipped recipe."""
    import torch

    from emergence_law.sweep.tiny_example import build_tiny_example

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-sweep")
    build_tiny_example(folder / "tiny-local", steps=STEPS, d_model=16)
    tree = yaml.safe_load((ROOT / "recipes" / "tiny-local.yaml").read_text())
    tree["models"][0]["steps"] = STEPS
    tree["loss"]["hparams"] = {"max_tokens": 2000}
    task = tree["tasks"]["addition"]
    task["fewshot"] = {"shots": [3], "hparams": {"limit": 12}}
    task["finetune"] = [
        {"n_train": [8], "subsets": 1, "method": "full", "hparams": FAST},
        {"n_train": [8], "subsets": 1, "method": "lora", "lora_rank": 2, "hparams": FAST},
    ]
    write_recipe(folder, tree, "tiny-local.yaml")
    return folder


def test_tiny_models_sweep_in_process_then_export(tiny_folder: Path) -> None:
    recipe = load_recipe(tiny_folder / "tiny-local.yaml")
    plan = plan_recipe(recipe)
    assert plan.counts_by_kind() == {"fewshot": 2, "finetune": 4, "loss": 2}
    with ResultStore(recipe.store) as store:
        report = run_sweep(plan, store, InProcessExecutor(base_dir=recipe.base_dir))
        assert (report.done, report.failed) == (8, 0), report.failures
        result = export_observations(store, plan.ids)
    t = result.table
    acc = t[t["metric"] == "acc"]
    assert set(zip(acc["setting"], acc["method"].fillna("-"), strict=True)) == {
        ("fewshot", "-"), ("finetune", "full"), ("finetune", "lora-r2")}
    # the paths stay as written in the recipe; each checkpoint's measured loss is joined in
    assert set(t["model"]) == {f"tiny-local/models/step{s}" for s in STEPS}
    losses = t.groupby("checkpoint")["loss"].agg(["min", "max"])
    assert (losses["min"] == losses["max"]).all()
    assert losses.loc["step30", "min"] < losses.loc["step5", "min"]  # more training, lower loss
    assert ((acc["value"] >= 0) & (acc["value"] <= 1)).all()
    assert (acc["n_eval"] == 12).all() and (acc["chance"] > 0).all()
    assert (t.loc[t.setting == "finetune", "n_train"] == 8).all()


@pytest.mark.xdist_group("ray")
def test_tiny_models_on_ray_match_in_process(tiny_folder: Path, local_ray, tmp_path: Path
                                             ) -> None:
    tree = yaml.safe_load((tiny_folder / "tiny-local.yaml").read_text())
    del tree["tasks"]["addition"]["finetune"]  # loss and few-shot: deterministic numbers
    tree["resources"] = {"num_cpus": 2}  # one worker at a time: one torch import
    recipe_path = write_recipe(tiny_folder, tree, "tiny-ray.yaml")
    recipe = load_recipe(recipe_path)
    plan = plan_recipe(recipe)
    results = []
    for store_path, executor in ((tmp_path / "ray.sqlite", RayExecutor(base_dir=recipe.base_dir)),
                                 (tmp_path / "local.sqlite", InProcessExecutor(
                                     base_dir=recipe.base_dir))):
        with ResultStore(store_path) as store:
            report = run_sweep(plan, store, executor)
            assert (report.done, report.failed) == (4, 0), report.failures
            rows = {jid: row for jid, _, row in store.job_rows()}
            results.append({jid: {k: v for k, v in row.items() if k != "model"}
                            for jid, row in rows.items()})
    ray_rows, local_rows = results
    assert ray_rows.keys() == local_rows.keys()
    for jid, row in ray_rows.items():
        for key, value in row.items():
            other = local_rows[jid][key]
            if isinstance(value, float):
                assert value == pytest.approx(other, rel=1e-5, abs=1e-6), (jid, key)
            else:
                assert value == other, (jid, key)
